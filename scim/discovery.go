package scim

// SPConfigOptions are the capabilities the service provider configuration
// announces. The zero value announces no bulk, no sort, no etag and no
// password change, with filter maxResults 200.
type SPConfigOptions struct {
	DocumentationURI   string // omitted when ""
	Location           string // meta.location; omitted when ""
	BulkSupported      bool
	BulkMaxOperations  int
	BulkMaxPayloadSize int
	FilterMaxResults   int // 0 means 200
	ChangePassword     bool
	SortSupported      bool
	ETagSupported      bool
	MaxPayloadSize     int // bytes a request body may have; omitted when 0
	// OAuthTokenURL, when set, is the OAuth 2.0 token endpoint (client
	// credentials) whose access tokens the server accepts beside its API
	// keys: announced as the "oauth2" scheme.
	OAuthTokenURL string
}

// ServiceProviderConfig is the /ServiceProviderConfig document (RFC 7643
// §5). PATCH and filtering are always supported; authentication schemes are
// a bearer token (an API key, or an OAuth access token), HTTP Basic (the
// API key as the password) and, with OAuthTokenURL, OAuth 2.0 client
// credentials.
func ServiceProviderConfig(o SPConfigOptions) map[string]any {
	maxResults := o.FilterMaxResults
	if maxResults <= 0 {
		maxResults = 200
	}
	doc := map[string]any{
		"schemas": []any{SchemaSPConfig},
		"patch":   map[string]any{"supported": true},
		"bulk": map[string]any{
			"supported":      o.BulkSupported,
			"maxOperations":  o.BulkMaxOperations,
			"maxPayloadSize": o.BulkMaxPayloadSize,
		},
		"filter":         map[string]any{"supported": true, "maxResults": maxResults},
		"changePassword": map[string]any{"supported": o.ChangePassword},
		"sort":           map[string]any{"supported": o.SortSupported},
		"etag":           map[string]any{"supported": o.ETagSupported},
	}
	bearer := "Authentication with a bearer token in the Authorization header: an API key of the tenant"
	if o.OAuthTokenURL != "" {
		bearer += ", or an access token from " + o.OAuthTokenURL
	}
	schemes := []any{
		map[string]any{
			"type":        "oauthbearertoken",
			"name":        "OAuth Bearer Token",
			"description": bearer,
			"specUri":     "https://www.rfc-editor.org/info/rfc6750",
			"primary":     true,
		},
		map[string]any{
			"type":        "httpbasic",
			"name":        "HTTP Basic",
			"description": "Authentication with HTTP Basic, an API key of the tenant as the password",
			"specUri":     "https://www.rfc-editor.org/info/rfc7617",
		},
	}
	if o.OAuthTokenURL != "" {
		schemes = append(schemes, map[string]any{
			"type": "oauth2",
			"name": "OAuth 2.0 Client Credentials",
			"description": "An OAuth client of the tenant obtains an access token from the token endpoint " +
				o.OAuthTokenURL + " (client credentials grant, client_secret_basic or client_secret_post) " +
				"and presents it as a bearer token",
			"specUri": "https://www.rfc-editor.org/info/rfc6749",
		})
	}
	doc["authenticationSchemes"] = schemes
	meta := map[string]any{"resourceType": "ServiceProviderConfig"}
	if o.Location != "" {
		meta["location"] = o.Location
	}
	doc["meta"] = meta
	if o.DocumentationURI != "" {
		doc["documentationUri"] = o.DocumentationURI
	}
	if o.MaxPayloadSize > 0 {
		doc["maxPayloadSize"] = o.MaxPayloadSize
	}
	return doc
}

// ResourceTypes are the /ResourceTypes documents (RFC 7643 §6) for User
// (with the optional Enterprise User extension) and Group. baseURL is the
// SCIM base ("https://host/scim/v2"); meta.location is omitted when it is "".
func ResourceTypes(baseURL string) []map[string]any {
	return defaultSchemaSet.ResourceTypes(baseURL)
}

// ResourceTypes are the /ResourceTypes documents of the set: User with
// every extension of the set (none required), and Group.
func (ss *SchemaSet) ResourceTypes(baseURL string) []map[string]any {
	ss = ss.set()
	extensions := make([]any, 0, len(ss.userExtensions))
	for _, e := range ss.userExtensions {
		extensions = append(extensions, map[string]any{"schema": e.ID, "required": false})
	}
	user := map[string]any{
		"schemas":          []any{SchemaResourceType},
		"id":               "User",
		"name":             "User",
		"endpoint":         "/Users",
		"description":      "User Account",
		"schema":           SchemaUser,
		"schemaExtensions": extensions,
		"meta":             discoveryMeta("ResourceType", baseURL, "/ResourceTypes/User"),
	}
	group := map[string]any{
		"schemas":     []any{SchemaResourceType},
		"id":          "Group",
		"name":        "Group",
		"endpoint":    "/Groups",
		"description": "Group",
		"schema":      SchemaGroup,
		"meta":        discoveryMeta("ResourceType", baseURL, "/ResourceTypes/Group"),
	}
	return []map[string]any{user, group}
}

func discoveryMeta(resourceType, baseURL, suffix string) map[string]any {
	m := map[string]any{"resourceType": resourceType}
	if baseURL != "" {
		m["location"] = baseURL + suffix
	}
	return m
}

// Schemas are the /Schemas documents (RFC 7643 §7) of the User, Enterprise
// User and Group schemas, exactly as this package defines and validates
// them. meta.location is not set; SchemaDocuments adds it.
func Schemas() []map[string]any { return SchemaDocuments("") }

// SchemaDocuments is Schemas with meta.location under baseURL (omitted when
// baseURL is "").
func SchemaDocuments(baseURL string) []map[string]any {
	return defaultSchemaSet.SchemaDocuments(baseURL)
}

// SchemaDocuments are the /Schemas documents of the set: User, its
// extensions (the custom one included), Group.
func (ss *SchemaSet) SchemaDocuments(baseURL string) []map[string]any {
	var out []map[string]any
	for _, s := range ss.set().Schemas() {
		out = append(out, s.Document(baseURL))
	}
	return out
}

// Document is the /Schemas representation of s.
func (s *Schema) Document(baseURL string) map[string]any {
	attrs := make([]any, 0, len(s.Attributes))
	for _, a := range s.Attributes {
		attrs = append(attrs, a.document())
	}
	return map[string]any{
		"schemas":     []any{SchemaSchema},
		"id":          s.ID,
		"name":        s.Name,
		"description": s.Description,
		"attributes":  attrs,
		"meta":        discoveryMeta("Schema", baseURL, "/Schemas/"+s.ID),
	}
}

func (a *Attribute) document() map[string]any {
	d := map[string]any{
		"name":        a.Name,
		"type":        a.Type,
		"multiValued": a.MultiValued,
		"description": a.Description,
		"required":    a.Required,
		"caseExact":   a.CaseExact,
		"mutability":  a.Mutability,
		"returned":    a.Returned,
		"uniqueness":  a.Uniqueness,
	}
	if len(a.CanonicalValues) > 0 {
		vals := make([]any, len(a.CanonicalValues))
		for i, v := range a.CanonicalValues {
			vals[i] = v
		}
		d["canonicalValues"] = vals
	}
	if len(a.ReferenceTypes) > 0 {
		types := make([]any, len(a.ReferenceTypes))
		for i, v := range a.ReferenceTypes {
			types[i] = v
		}
		d["referenceTypes"] = types
	}
	if a.Type == TypeComplex {
		subs := make([]any, 0, len(a.SubAttributes))
		for _, sa := range a.SubAttributes {
			subs = append(subs, sa.document())
		}
		d["subAttributes"] = subs
	}
	return d
}
