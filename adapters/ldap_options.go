package adapters

// LDAPOptions are the settings of an LDAP store (kind "ldap"). PLACEHOLDER:
// the LDAP engineer defines the fields (URL, TLS, bind DN and password
// reference, base DNs, RDN attribute, object classes, anchor attribute,
// deactivation strategy, group object class, AD dialect, ...).
type LDAPOptions struct{}
