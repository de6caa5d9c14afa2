package adapters

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// validateLDAP checks an LDAP store's whole configuration (connection,
// options, user and group mapping) and returns every problem, each
// wrapping ErrConfig. Messages never echo a password.
func (c Config) validateLDAP() []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.LDAP == nil {
		add("ldap: the ldap settings are required for kind ldap")
		return append(errs, c.Users.validate(KindLDAP)...)
	}
	o := c.LDAP.WithDefaults(c.Users)

	if c.DSNEnv != "" || c.DSNFile != "" {
		add("ldap: use ldap.url (or dsn) for the server; dsn_env and dsn_file are for SQL stores")
	}
	rawURL := c.LDAP.URL
	if rawURL == "" {
		rawURL = c.DSN
	} else if c.DSN != "" {
		add("ldap: set only one of ldap.url and dsn")
	}
	secure := false
	if rawURL == "" {
		add("ldap.url is required (ldap://host:389 or ldaps://host:636)")
	} else if u, err := url.Parse(rawURL); err != nil {
		add("ldap.url is not a URL")
	} else {
		switch strings.ToLower(u.Scheme) {
		case "ldap":
			secure = o.StartTLS
		case "ldaps":
			secure = true
			if o.StartTLS {
				add("ldap.start_tls cannot be combined with an ldaps:// URL")
			}
		default:
			add("ldap.url scheme %q is not ldap or ldaps", u.Scheme)
		}
		if u.User != nil {
			add("ldap.url must not carry credentials; use bind_dn and bind_password_env or bind_password_file")
		}
		if u.Host == "" {
			add("ldap.url has no host")
		}
	}
	if o.InsecureSkipVerify && o.CAFile != "" {
		add("ldap: set only one of ca_file and insecure_skip_verify")
	}

	if o.BindPasswordEnv != "" && o.BindPasswordFile != "" {
		add("ldap: set only one of bind_password_env and bind_password_file")
	}
	if o.BindPasswordEnv != "" && !envName.MatchString(o.BindPasswordEnv) {
		add("ldap.bind_password_env %q is not an environment variable name", o.BindPasswordEnv)
	}
	if o.BindDN != "" {
		if _, err := ldap.ParseDN(o.BindDN); err != nil {
			add("ldap.bind_dn is not a DN: %v", err)
		}
		if o.BindPasswordEnv == "" && o.BindPasswordFile == "" {
			add("ldap.bind_dn needs bind_password_env or bind_password_file")
		}
	}
	if o.Timeout < 0 || o.PoolSize < 0 || o.PageSize < 0 || c.LDAP.Timeout < 0 || c.LDAP.PoolSize < 0 || c.LDAP.PageSize < 0 {
		add("ldap: timeout, pool_size and page_size must not be negative")
	}
	if c.LDAP.PageSize > 10000 {
		add("ldap.page_size %d is too large (at most 10000)", c.LDAP.PageSize)
	}

	switch o.Dialect {
	case "", LDAPDialectAD:
	default:
		add("ldap.dialect %q is unknown (empty or ad)", o.Dialect)
	}
	usersBase, err := ldap.ParseDN(o.UsersBaseDN)
	switch {
	case o.UsersBaseDN == "":
		add("ldap.users_base_dn is required")
	case err != nil:
		add("ldap.users_base_dn is not a DN: %v", err)
	}
	for name, attr := range map[string]string{
		"user_rdn_attribute":  o.UserRDNAttribute,
		"anchor_attribute":    o.AnchorAttribute,
		"group_rdn_attribute": o.GroupRDNAttribute,
	} {
		if !ldapAttribute.MatchString(attr) {
			add("ldap.%s %q is not an attribute name", name, attr)
		}
	}
	for _, oc := range o.UserObjectClasses {
		if !ldapAttribute.MatchString(oc) {
			add("ldap.user_object_classes: %q is not an object class name", oc)
		}
	}

	users := c.Users
	d := o.Deactivation
	switch d.Strategy {
	case LDAPDeactivateFlag:
		if d.Attribute == "" {
			add("ldap.deactivation: the flag strategy needs users.active or deactivation.attribute")
		} else if !ldapAttribute.MatchString(d.Attribute) {
			add("ldap.deactivation.attribute %q is not an attribute name", d.Attribute)
		}
		if d.ActiveValue == d.InactiveValue {
			add("ldap.deactivation: active_value and inactive_value must differ")
		}
		if c.Users.Active != nil && c.LDAP.Deactivation.Attribute != "" {
			add("ldap.deactivation.attribute and users.active both map the flag; set one")
		}
	case LDAPDeactivatePPolicy, LDAPDeactivateDisabledOU, LDAPDeactivateADUAC:
		if c.Users.Active != nil {
			add("users.active maps a flag attribute, but ldap.deactivation.strategy is %q; remove users.active", d.Strategy)
		}
		// The strategy provides deactivation: the user mapping's check
		// that on_delete=deactivate has an active column does not apply.
		if users.OnDelete == "" || users.OnDelete == OnDeleteDeactivate {
			users.OnDelete = OnDeleteDelete
		}
	default:
		add("ldap.deactivation.strategy %q is unknown (flag, ppolicy, disabled_ou or ad_uac)", d.Strategy)
	}
	if d.Strategy == LDAPDeactivateDisabledOU {
		ou, err := ldap.ParseDN(d.DisabledOU)
		switch {
		case d.DisabledOU == "":
			add("ldap.deactivation.disabled_ou is required for the disabled_ou strategy")
		case err != nil:
			add("ldap.deactivation.disabled_ou is not a DN: %v", err)
		case usersBase != nil && !usersBase.AncestorOfFold(ou):
			add("ldap.deactivation.disabled_ou must be inside users_base_dn (so disabled users are still found and listed)")
		}
	}

	switch o.Password.Mode {
	case LDAPPasswordModifyExt, LDAPPasswordHash:
	case LDAPPasswordUnicodePwd:
		if !secure && c.Users.Password != nil {
			add("ldap.password.mode ad_unicodepwd needs ldaps:// or start_tls (Active Directory refuses passwords over plain LDAP)")
		}
	default:
		add("ldap.password.mode %q is unknown (modify_ext, userpassword_hash or ad_unicodepwd)", o.Password.Mode)
	}

	if c.Groups != nil {
		g := c.Groups
		switch o.GroupObjectClass {
		case LDAPGroupOfNames, LDAPGroupOfUniqueNames, LDAPPosixGroup, LDAPADGroup:
		default:
			add("ldap.group_object_class %q is unknown (groupOfNames, groupOfUniqueNames, posixGroup or group)", o.GroupObjectClass)
		}
		if _, err := ldap.ParseDN(o.GroupsBaseDN); o.GroupsBaseDN == "" || err != nil {
			add("ldap.groups_base_dn is required (a DN) when groups are mapped")
		}
		if _, err := ldap.ParseDN(o.PlaceholderMemberDN); err != nil {
			add("ldap.placeholder_member_dn is not a DN: %v", err)
		}
		displayName := false
		for p, attr := range g.Attributes {
			if strings.EqualFold(p, "displayName") {
				displayName = true
			}
			if !ldapAttribute.MatchString(attr) {
				add("groups.attributes[%q]: %q is not an attribute name", p, attr)
			}
		}
		if !displayName {
			add("groups.attributes: displayName must be mapped")
		}
	}

	errs = append(errs, users.validate(KindLDAP)...)
	return errs
}
