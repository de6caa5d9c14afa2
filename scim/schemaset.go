package scim

import (
	"fmt"
	"regexp"
	"strings"
)

// SchemaSet is the set of schemas one tenant accepts: the core User and
// Group schemas, the Enterprise User extension and, optionally, the tenant's
// own User extension (attributes an admin added in Okta's profile editor).
// Parsing, validation, paths, filters and the discovery documents all go
// through a SchemaSet; the package-level functions (ParseUser, ParsePatch,
// ParsePath, ParseFilter, SchemaDocuments, ResourceTypes) use
// DefaultSchemaSet. A nil *SchemaSet is the default set. A SchemaSet is
// immutable and safe for concurrent use.
//
// The default set is lenient about extensions it does not know: their
// objects are kept as given (unvalidated), as before tenants could declare
// their own. A set built with NewSchemaSet is exact: an extension it does
// not declare is ignored like an unknown core attribute, so /Schemas
// describes exactly what is stored.
type SchemaSet struct {
	user, group    *Schema
	userExtensions []*Schema // the enterprise extension first, then the custom one
	lenient        bool      // keep undeclared extension objects as given
}

var defaultSchemaSet = &SchemaSet{
	user:           UserSchema,
	group:          GroupSchema,
	userExtensions: []*Schema{EnterpriseUserSchema},
	lenient:        true,
}

// DefaultSchemaSet is the set without a custom extension.
func DefaultSchemaSet() *SchemaSet { return defaultSchemaSet }

// set returns s, or the default set for nil.
func (s *SchemaSet) set() *SchemaSet {
	if s == nil {
		return defaultSchemaSet
	}
	return s
}

// CustomExtension declares a tenant's own User extension schema.
type CustomExtension struct {
	// URN is the schema URN, e.g.
	// "urn:ietf:params:scim:schemas:extension:acme:2.0:User".
	URN string
	// Name and Description appear in /Schemas (Name defaults to the last
	// URN segment).
	Name        string
	Description string
	Attributes  []CustomAttribute
}

// CustomAttribute is one attribute of a custom extension. Type is one of
// string, boolean, integer, decimal, dateTime (TypeString, ...).
type CustomAttribute struct {
	Name        string
	Type        string
	MultiValued bool
	CaseExact   bool
	Required    bool
	Description string
}

// ErrInvalidSchema is wrapped by NewSchemaSet's errors.
var ErrInvalidSchema = fmt.Errorf("scim: invalid custom schema")

var (
	attributeNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,127}$`)
	urnPattern           = regexp.MustCompile(`^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}(:[A-Za-z0-9._~%!$&'()*+,;=@-]+)+$`)
)

// customTypes are the attribute types a custom extension may use.
var customTypes = map[string]string{
	"string": TypeString, "boolean": TypeBoolean, "integer": TypeInteger,
	"decimal": TypeDecimal, "datetime": TypeDateTime,
}

// MaxCustomAttributes bounds the attributes of a custom extension.
const MaxCustomAttributes = 200

// NewSchemaSet builds the set of the core schemas, the Enterprise User
// extension and custom (when not nil). Errors wrap ErrInvalidSchema and name
// every problem found.
func NewSchemaSet(custom *CustomExtension) (*SchemaSet, error) {
	s := &SchemaSet{user: UserSchema, group: GroupSchema, userExtensions: []*Schema{EnterpriseUserSchema}}
	if custom == nil {
		return s, nil
	}
	sch, err := custom.schema()
	if err != nil {
		return nil, err
	}
	s.userExtensions = append(s.userExtensions, sch)
	return s, nil
}

func (c *CustomExtension) schema() (*Schema, error) {
	var problems []string
	urn := strings.TrimSpace(c.URN)
	switch {
	case !urnPattern.MatchString(urn) || len(urn) > 256:
		problems = append(problems, fmt.Sprintf("urn %q is not a URN (urn:<nid>:<segments>, at most 256 characters)", truncate(urn, 80)))
	case DefaultSchemaSet().schemaByURN(urn) != nil || strings.HasPrefix(strings.ToLower(urn), "urn:ietf:params:scim:api:"):
		problems = append(problems, fmt.Sprintf("urn %q is a standard SCIM URN", urn))
	default:
		// The URN must read back as an extension from an attribute path.
		if p, err := ParsePath(urn + ":x"); err != nil || !strings.EqualFold(p.URN(), urn) || p.name != "x" {
			problems = append(problems, fmt.Sprintf("urn %q cannot prefix attribute paths", urn))
		}
	}
	name := c.Name
	if name == "" {
		name = urn[strings.LastIndex(urn, ":")+1:]
	}
	sch := &Schema{ID: urn, Name: name, Description: c.Description}
	if sch.Description == "" {
		sch.Description = "Custom User attributes"
	}
	if len(c.Attributes) == 0 {
		problems = append(problems, "no attributes")
	}
	if len(c.Attributes) > MaxCustomAttributes {
		problems = append(problems, fmt.Sprintf("%d attributes, at most %d", len(c.Attributes), MaxCustomAttributes))
	}
	for i, ca := range c.Attributes {
		if !attributeNamePattern.MatchString(ca.Name) {
			problems = append(problems, fmt.Sprintf("attribute %d: name %q must be a letter followed by letters, digits, '-' or '_' (at most 128)", i, truncate(ca.Name, 80)))
			continue
		}
		if sch.Attribute(ca.Name) != nil {
			problems = append(problems, fmt.Sprintf("attribute %q declared twice (names are case-insensitive)", ca.Name))
			continue
		}
		typ, ok := customTypes[strings.ToLower(ca.Type)]
		if ca.Type == "" {
			typ, ok = TypeString, true
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("attribute %q: type %q must be string, boolean, integer, decimal or dateTime", ca.Name, truncate(ca.Type, 40)))
			continue
		}
		a := attr(ca.Name, typ)
		a.MultiValued, a.CaseExact, a.Required, a.Description = ca.MultiValued, ca.CaseExact, ca.Required, ca.Description
		sch.Attributes = append(sch.Attributes, a)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidSchema, strings.Join(problems, "; "))
	}
	return sch, nil
}

// Custom returns the custom extension schema, or nil.
func (s *SchemaSet) Custom() *Schema {
	s = s.set()
	if len(s.userExtensions) > 1 {
		return s.userExtensions[1]
	}
	return nil
}

// Schemas returns every schema of the set: User, its extensions, Group.
func (s *SchemaSet) Schemas() []*Schema {
	s = s.set()
	out := []*Schema{s.user}
	out = append(out, s.userExtensions...)
	return append(out, s.group)
}

// schemaByURN returns the schema of the set with the given URN
// (case-insensitive), or nil.
func (s *SchemaSet) schemaByURN(urn string) *Schema {
	for _, sch := range s.set().Schemas() {
		if strings.EqualFold(sch.ID, urn) {
			return sch
		}
	}
	return nil
}

// Knows reports whether urn is a schema of the set.
func (s *SchemaSet) Knows(urn string) bool { return s.schemaByURN(urn) != nil }

// keepsUnknownExtensions reports whether undeclared extension objects are
// kept as given (the default set) or ignored.
func (s *SchemaSet) keepsUnknownExtensions() bool { return s.set().lenient }

// MicrosoftGroupSchema is the schema URI Entra ID adds to group bodies; it
// and every URI under MicrosoftSchemaPrefix are accepted in "schemas" and
// otherwise ignored.
const (
	MicrosoftGroupSchema  = MicrosoftSchemaPrefix + "2.0/Group"
	MicrosoftSchemaPrefix = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/"
)

// checkSchemas validates the "schemas" list of a resource body: a JSON array
// of strings, each a schema of the set for this resource type or
// MicrosoftGroupSchema. The default set also accepts an undeclared
// extension URN when the body carries that extension's object (it keeps
// it). Anything else is 400 invalidValue. A body without schemas is
// accepted (Okta and Entra always send it; the RFC asks for it, but
// rejecting its absence helps nobody).
func (s *SchemaSet) checkSchemas(body map[string]any, v any, core *Schema) error {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return BadRequest(ScimTypeInvalidValue, "\"schemas\" must be an array of schema URIs")
	}
	for _, el := range list {
		urn, ok := el.(string)
		if !ok {
			return BadRequest(ScimTypeInvalidValue, "\"schemas\" must be an array of schema URIs")
		}
		if s.acceptsSchemaURI(urn, core) {
			continue
		}
		if _, ext, ok := lookupKey(body, urn); ok && s.keepsUnknownExtensions() && s.schemaByURN(urn) == nil && !isCoreURN(urn) {
			if _, isMap := asMap(ext); isMap {
				continue
			}
		}
		return BadRequest(ScimTypeInvalidValue, "unknown schema %q for a %s", truncate(urn, 200), core.Name)
	}
	return nil
}

func (s *SchemaSet) acceptsSchemaURI(urn string, core *Schema) bool {
	s = s.set()
	if strings.EqualFold(urn, core.ID) || hasPrefixFold(urn, MicrosoftSchemaPrefix) {
		return true
	}
	for _, e := range s.userExtensions {
		if strings.EqualFold(e.ID, urn) {
			return true
		}
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
