package scim

import "strings"

// Attribute types of RFC 7643 §2.3.
const (
	TypeString    = "string"
	TypeBoolean   = "boolean"
	TypeDecimal   = "decimal"
	TypeInteger   = "integer"
	TypeDateTime  = "dateTime"
	TypeBinary    = "binary"
	TypeReference = "reference"
	TypeComplex   = "complex"
)

// Mutability, returned and uniqueness values of RFC 7643 §7.
const (
	MutabilityReadOnly  = "readOnly"
	MutabilityReadWrite = "readWrite"
	MutabilityImmutable = "immutable"
	MutabilityWriteOnly = "writeOnly"

	ReturnedAlways  = "always"
	ReturnedNever   = "never"
	ReturnedDefault = "default"
	ReturnedRequest = "request"

	UniquenessNone   = "none"
	UniquenessServer = "server"
	UniquenessGlobal = "global"
)

// Attribute is the definition of one attribute in a Schema (RFC 7643 §7).
type Attribute struct {
	Name            string
	Type            string
	MultiValued     bool
	Description     string
	Required        bool
	CaseExact       bool
	Mutability      string
	Returned        string
	Uniqueness      string
	CanonicalValues []string
	ReferenceTypes  []string
	SubAttributes   []*Attribute

	// maxChars, when not 0, makes a string attribute plain text: at most
	// maxChars characters, no control character (checkPlainText).
	maxChars int
}

// Lengths of the attributes that name a resource, in characters (Unicode
// code points). SCIM sets none; these hold what IdPs and stores send and
// keep: Okta's login is at most 100 characters, Entra ID's
// userPrincipalName 113 and displayName 256, an e-mail address 254, AD's
// displayName 256; externalIds are the IdP's object ids (Okta 20
// characters, Entra 36). A longer value is 400 invalidValue.
const (
	MaxUserNameLength    = 256
	MaxDisplayNameLength = 256
	MaxExternalIDLength  = 256
)

// Sub returns the sub-attribute named name (case-insensitive), or nil.
func (a *Attribute) Sub(name string) *Attribute {
	if a == nil {
		return nil
	}
	return findAttribute(a.SubAttributes, name)
}

// Schema is a SCIM schema: its URN and attributes.
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []*Attribute
}

// Attribute returns the top-level attribute named name (case-insensitive), or nil.
func (s *Schema) Attribute(name string) *Attribute {
	if s == nil {
		return nil
	}
	return findAttribute(s.Attributes, name)
}

func findAttribute(list []*Attribute, name string) *Attribute {
	for _, a := range list {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// attribute builders keep the definitions below short and readable.

func str(name string, opts ...func(*Attribute)) *Attribute {
	return attr(name, TypeString, opts...)
}

func attr(name, typ string, opts ...func(*Attribute)) *Attribute {
	a := &Attribute{Name: name, Type: typ, Mutability: MutabilityReadWrite, Returned: ReturnedDefault, Uniqueness: UniquenessNone}
	for _, o := range opts {
		o(a)
	}
	return a
}

func complexAttr(name string, subs []*Attribute, opts ...func(*Attribute)) *Attribute {
	a := attr(name, TypeComplex, opts...)
	a.SubAttributes = subs
	return a
}

// plainText makes a string attribute plain text of at most n characters.
func plainText(n int) func(*Attribute) { return func(a *Attribute) { a.maxChars = n } }

func multi(a *Attribute)     { a.MultiValued = true }
func required(a *Attribute)  { a.Required = true }
func caseExact(a *Attribute) { a.CaseExact = true }
func readOnly(a *Attribute)  { a.Mutability = MutabilityReadOnly }
func immutable(a *Attribute) { a.Mutability = MutabilityImmutable }
func writeOnly(a *Attribute) { a.Mutability = MutabilityWriteOnly }
func never(a *Attribute)     { a.Returned = ReturnedNever }
func always(a *Attribute)    { a.Returned = ReturnedAlways }
func unique(a *Attribute)    { a.Uniqueness = UniquenessServer }
func canonical(vals ...string) func(*Attribute) {
	return func(a *Attribute) { a.CanonicalValues = vals }
}
func refTypes(types ...string) func(*Attribute) {
	return func(a *Attribute) { a.ReferenceTypes = types }
}

// multiValuedSubs are the sub-attributes of the usual multi-valued complex
// attributes (emails, phoneNumbers, ims, photos, ...).
func multiValuedSubs(valueType string, types []string, valueOpts ...func(*Attribute)) []*Attribute {
	return []*Attribute{
		attr("value", valueType, valueOpts...),
		str("display"),
		str("type", canonical(types...)),
		attr("primary", TypeBoolean),
	}
}

// UserSchema is the core User schema of RFC 7643 §4.1 (and §8.7.1). id, meta
// and schemas are common attributes handled outside Attrs.
var UserSchema = &Schema{
	ID:          SchemaUser,
	Name:        "User",
	Description: "User Account",
	Attributes: []*Attribute{
		str("userName", required, unique, plainText(MaxUserNameLength)),
		complexAttr("name", []*Attribute{
			str("formatted"), str("familyName"), str("givenName"), str("middleName"),
			str("honorificPrefix"), str("honorificSuffix"),
		}),
		str("displayName", plainText(MaxDisplayNameLength)),
		str("nickName"),
		attr("profileUrl", TypeReference, refTypes("external")),
		str("title"),
		str("userType"),
		str("preferredLanguage"),
		str("locale"),
		str("timezone"),
		attr("active", TypeBoolean),
		str("password", writeOnly, never),
		complexAttr("emails", multiValuedSubs(TypeString, []string{"work", "home", "other"}), multi),
		complexAttr("phoneNumbers", multiValuedSubs(TypeString, []string{"work", "home", "mobile", "fax", "pager", "other"}), multi),
		complexAttr("ims", multiValuedSubs(TypeString, []string{"aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"}), multi),
		complexAttr("photos", multiValuedSubs(TypeReference, []string{"photo", "thumbnail"}, refTypes("external")), multi),
		complexAttr("addresses", []*Attribute{
			str("formatted"), str("streetAddress"), str("locality"), str("region"),
			str("postalCode"), str("country"),
			str("type", canonical("work", "home", "other")),
			attr("primary", TypeBoolean),
		}, multi),
		complexAttr("groups", []*Attribute{
			str("value", readOnly),
			attr("$ref", TypeReference, readOnly, refTypes("User", "Group")),
			str("display", readOnly),
			str("type", readOnly, canonical("direct", "indirect")),
		}, multi, readOnly),
		complexAttr("entitlements", multiValuedSubs(TypeString, nil), multi),
		complexAttr("roles", multiValuedSubs(TypeString, nil), multi),
		complexAttr("x509Certificates", multiValuedSubs(TypeBinary, nil), multi),
	},
}

// EnterpriseUserSchema is the Enterprise User extension of RFC 7643 §4.3.
var EnterpriseUserSchema = &Schema{
	ID:          SchemaEnterpriseUser,
	Name:        "EnterpriseUser",
	Description: "Enterprise User",
	Attributes: []*Attribute{
		str("employeeNumber"),
		str("costCenter"),
		str("organization"),
		str("division"),
		str("department"),
		complexAttr("manager", []*Attribute{
			str("value"),
			attr("$ref", TypeReference, refTypes("User")),
			str("displayName", readOnly),
		}),
	},
}

// GroupSchema is the core Group schema of RFC 7643 §4.2.
var GroupSchema = &Schema{
	ID:          SchemaGroup,
	Name:        "Group",
	Description: "Group",
	Attributes: []*Attribute{
		str("displayName", required, plainText(MaxDisplayNameLength)),
		complexAttr("members", []*Attribute{
			str("value", immutable),
			attr("$ref", TypeReference, immutable, refTypes("User", "Group")),
			str("display", readOnly),
			str("type", immutable, canonical("User", "Group")),
		}, multi),
	},
}

// commonAttributes are id, externalId and meta (RFC 7643 §3.1), defined for
// every resource type. Only externalId lives in Attrs.
var commonAttributes = []*Attribute{
	str("id", readOnly, always, caseExact, unique),
	str("externalId", caseExact, plainText(MaxExternalIDLength)),
	complexAttr("meta", []*Attribute{
		str("resourceType", readOnly, caseExact),
		attr("created", TypeDateTime, readOnly),
		attr("lastModified", TypeDateTime, readOnly),
		attr("location", TypeReference, readOnly, caseExact, refTypes("uri")),
		str("version", readOnly, caseExact),
	}, readOnly),
}

// isCoreURN reports whether urn is a core resource schema, whose attributes
// live at the top level of Attrs.
func isCoreURN(urn string) bool {
	return strings.EqualFold(urn, SchemaUser) || strings.EqualFold(urn, SchemaGroup)
}

// coreAttribute finds a top-level attribute of a core resource. The User and
// Group schemas are searched (with the common attributes), so paths resolve
// without knowing the resource type: the names do not collide in meaning.
func coreAttribute(core *Schema, name string) *Attribute {
	if core != nil {
		if a := core.Attribute(name); a != nil {
			return a
		}
		return findAttribute(commonAttributes, name)
	}
	if a := UserSchema.Attribute(name); a != nil {
		return a
	}
	if a := GroupSchema.Attribute(name); a != nil {
		return a
	}
	return findAttribute(commonAttributes, name)
}
