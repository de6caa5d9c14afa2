package adapters

import "time"

// LDAPOptions are the settings of an LDAP store (kind "ldap"). The zero value
// of every field means its documented default. No secret is ever inline: the
// bind password comes from BindPasswordEnv or BindPasswordFile, resolved when
// the store connects.
type LDAPOptions struct {
	// URL is the server, ldap://host[:port] or ldaps://host[:port]. Empty:
	// Config.DSN is used as the URL.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// StartTLS upgrades an ldap:// connection with the StartTLS extended
	// operation before binding. Not allowed with ldaps://.
	StartTLS bool `yaml:"start_tls,omitempty" json:"start_tls,omitempty"`
	// CAFile is a PEM file of CA certificates that verify the server (ldaps
	// or StartTLS). Empty: the system roots.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// InsecureSkipVerify turns off server certificate verification. For
	// tests only; the store logs a warning when it is set.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty"`
	// BindDN is the DN the store binds as. Empty: anonymous (rarely useful).
	BindDN string `yaml:"bind_dn,omitempty" json:"bind_dn,omitempty"`
	// BindPasswordEnv names an environment variable holding the bind
	// password.
	BindPasswordEnv string `yaml:"bind_password_env,omitempty" json:"bind_password_env,omitempty"`
	// BindPasswordFile names a file holding the bind password (trailing
	// newline trimmed).
	BindPasswordFile string `yaml:"bind_password_file,omitempty" json:"bind_password_file,omitempty"`
	// Timeout bounds dialing and each operation (the context's deadline
	// also applies, whichever is sooner). Zero: 10s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// PoolSize is the number of connections kept open. Zero: 2.
	PoolSize int `yaml:"pool_size,omitempty" json:"pool_size,omitempty"`
	// PageSize is the Simple Paged Results page size of internal searches.
	// Zero: 500.
	PageSize int `yaml:"page_size,omitempty" json:"page_size,omitempty"`

	// UsersBaseDN is where users are searched (subtree) and created.
	// Required.
	UsersBaseDN string `yaml:"users_base_dn" json:"users_base_dn"`
	// UserRDNAttribute is the naming attribute of new user entries; it must
	// be the attribute userName maps to. Zero: "uid" ("cn" for the AD
	// dialect).
	UserRDNAttribute string `yaml:"user_rdn_attribute,omitempty" json:"user_rdn_attribute,omitempty"`
	// UserObjectClasses are the object classes of new user entries and
	// restrict searches. Zero: inetOrgPerson (AD: top, person,
	// organizationalPerson, user).
	UserObjectClasses []string `yaml:"user_object_classes,omitempty" json:"user_object_classes,omitempty"`
	// AnchorAttribute is the entry's immutable identifier. Zero: entryUUID
	// (AD dialect: objectGUID, read as binary and rendered as a GUID string).
	AnchorAttribute string `yaml:"anchor_attribute,omitempty" json:"anchor_attribute,omitempty"`
	// Deactivation says how SCIM active=false is stored.
	Deactivation LDAPDeactivation `yaml:"deactivation,omitempty" json:"deactivation,omitempty"`
	// Password says how a password is written (when users.password is set).
	Password LDAPPassword `yaml:"password,omitempty" json:"password,omitempty"`
	// Dialect is "" (OpenLDAP and other RFC servers) or "ad" (Active
	// Directory: objectGUID, userAccountControl, unicodePwd defaults).
	Dialect string `yaml:"dialect,omitempty" json:"dialect,omitempty"`

	// GroupsBaseDN is where groups are searched and created. Required when
	// the tenant maps groups.
	GroupsBaseDN string `yaml:"groups_base_dn,omitempty" json:"groups_base_dn,omitempty"`
	// GroupObjectClass is groupOfNames (member DN, default), groupOfUniqueNames
	// (uniqueMember DN) or posixGroup (memberUid holding the user's RDN
	// value). AD dialect: group (member DN).
	GroupObjectClass string `yaml:"group_object_class,omitempty" json:"group_object_class,omitempty"`
	// GroupRDNAttribute is the naming attribute of new groups, which
	// displayName maps to. Zero: cn.
	GroupRDNAttribute string `yaml:"group_rdn_attribute,omitempty" json:"group_rdn_attribute,omitempty"`
	// PlaceholderMemberDN is the member kept in a groupOfNames /
	// groupOfUniqueNames group that would otherwise be empty (the schema
	// requires at least one member). Zero: the bind DN, else
	// "cn=nobody" under GroupsBaseDN. It is never listed as a member.
	PlaceholderMemberDN string `yaml:"placeholder_member_dn,omitempty" json:"placeholder_member_dn,omitempty"`
	// GIDNumberStart is the first gidNumber given to a new posixGroup (the
	// next free one above the highest in GroupsBaseDN). Zero: 10000.
	GIDNumberStart int `yaml:"gid_number_start,omitempty" json:"gid_number_start,omitempty"`
}

// LDAPDeactivation is how an LDAP store records SCIM active.
type LDAPDeactivation struct {
	// Strategy is one of:
	//   flag        an attribute holding ActiveValue / InactiveValue (default
	//               when users.active is mapped; users.active supplies the
	//               attribute and values unless Attribute is set here);
	//   ppolicy     pwdAccountLockedTime=000001010000Z (ppolicy's permanent
	//               lock) set to deactivate and removed to reactivate;
	//   disabled_ou the entry moves to DisabledOU and back to UsersBaseDN;
	//   ad_uac      userAccountControl bit 0x2 (ACCOUNTDISABLE) set or
	//               cleared, the other bits kept (default for the AD dialect).
	Strategy string `yaml:"strategy,omitempty" json:"strategy,omitempty"`
	// Attribute, ActiveValue and InactiveValue configure the flag strategy.
	// Zero: users.active's column and values (TRUE/FALSE without values).
	Attribute     string `yaml:"attribute,omitempty" json:"attribute,omitempty"`
	ActiveValue   string `yaml:"active_value,omitempty" json:"active_value,omitempty"`
	InactiveValue string `yaml:"inactive_value,omitempty" json:"inactive_value,omitempty"`
	// DisabledOU is the container deactivated entries move to (disabled_ou).
	// It must not be inside UsersBaseDN.
	DisabledOU string `yaml:"disabled_ou,omitempty" json:"disabled_ou,omitempty"`
}

// LDAPPassword is how an LDAP store writes passwords.
type LDAPPassword struct {
	// Mode is one of:
	//   modify_ext        the Password Modify extended operation (RFC 3062),
	//                     the server hashes (default for OpenLDAP);
	//   userpassword_hash userPassword written as {ARGON2} (users.password.hash
	//                     argon2id; needs slapd's argon2 module) or {CRYPT}
	//                     bcrypt; skipped when the stored hash already verifies;
	//   ad_unicodepwd     unicodePwd = UTF-16LE of the quoted password, only
	//                     over TLS (default for the AD dialect).
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
}

// LDAP dialects, deactivation strategies and password modes.
const (
	LDAPDialectAD = "ad"

	LDAPDeactivateFlag       = "flag"
	LDAPDeactivatePPolicy    = "ppolicy"
	LDAPDeactivateDisabledOU = "disabled_ou"
	LDAPDeactivateADUAC      = "ad_uac"

	LDAPPasswordModifyExt   = "modify_ext"
	LDAPPasswordHash        = "userpassword_hash"
	LDAPPasswordUnicodePwd  = "ad_unicodepwd"
	LDAPGroupOfNames        = "groupOfNames"
	LDAPGroupOfUniqueNames  = "groupOfUniqueNames"
	LDAPPosixGroup          = "posixGroup"
	LDAPADGroup             = "group"
	defaultLDAPTimeout      = 10 * time.Second
	defaultLDAPPoolSize     = 2
	defaultLDAPPageSize     = 500
	defaultLDAPGIDNumberMin = 10000
)

// WithDefaults returns the options with every zero field set to its
// default, given the tenant's user mapping.
func (o LDAPOptions) WithDefaults(users UserMapping) LDAPOptions {
	ad := o.Dialect == LDAPDialectAD
	if o.Timeout <= 0 {
		o.Timeout = defaultLDAPTimeout
	}
	if o.PoolSize <= 0 {
		o.PoolSize = defaultLDAPPoolSize
	}
	if o.PageSize <= 0 {
		o.PageSize = defaultLDAPPageSize
	}
	if o.UserRDNAttribute == "" {
		o.UserRDNAttribute = "uid"
		if ad {
			o.UserRDNAttribute = "cn"
		}
	}
	if len(o.UserObjectClasses) == 0 {
		o.UserObjectClasses = []string{"inetOrgPerson"}
		if ad {
			o.UserObjectClasses = []string{"top", "person", "organizationalPerson", "user"}
		}
	}
	if o.AnchorAttribute == "" {
		o.AnchorAttribute = "entryUUID"
		if ad {
			o.AnchorAttribute = "objectGUID"
		}
	}
	d := &o.Deactivation
	if d.Strategy == "" {
		switch {
		case ad:
			d.Strategy = LDAPDeactivateADUAC
		default:
			d.Strategy = LDAPDeactivateFlag
		}
	}
	if d.Strategy == LDAPDeactivateFlag && d.Attribute == "" && users.Active != nil {
		d.Attribute = users.Active.Column
		d.ActiveValue, d.InactiveValue = users.Active.Active, users.Active.Inactive
	}
	if d.Strategy == LDAPDeactivateFlag && d.ActiveValue == "" && d.InactiveValue == "" {
		d.ActiveValue, d.InactiveValue = "TRUE", "FALSE"
	}
	if o.Password.Mode == "" {
		o.Password.Mode = LDAPPasswordModifyExt
		if ad {
			o.Password.Mode = LDAPPasswordUnicodePwd
		}
	}
	if o.GroupObjectClass == "" {
		o.GroupObjectClass = LDAPGroupOfNames
		if ad {
			o.GroupObjectClass = LDAPADGroup
		}
	}
	if o.GroupRDNAttribute == "" {
		o.GroupRDNAttribute = "cn"
	}
	if o.PlaceholderMemberDN == "" {
		o.PlaceholderMemberDN = o.BindDN
		if o.PlaceholderMemberDN == "" && o.GroupsBaseDN != "" {
			o.PlaceholderMemberDN = "cn=nobody," + o.GroupsBaseDN
		}
	}
	if o.GIDNumberStart <= 0 {
		o.GIDNumberStart = defaultLDAPGIDNumberMin
	}
	return o
}
