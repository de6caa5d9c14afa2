package tenants

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/scim"
)

// Sentinel errors of the package. They are wrapped with context; compare
// with errors.Is.
var (
	// ErrNotFound: no such tenant (or key).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the tenant or key request is invalid.
	ErrInvalid = errors.New("invalid")
	// ErrExists: a key with that name already exists for the tenant.
	ErrExists = errors.New("already exists")
	// ErrDisabled: the tenant is disabled.
	ErrDisabled = errors.New("tenant disabled")
	// ErrUnauthorized: the presented key is not a valid, live key of the
	// tenant. Verify returns exactly this value, never wrapped, whatever
	// the reason, so a caller cannot tell the reasons apart.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnavailable: Redis could not be reached or answered with an error.
	ErrUnavailable = errors.New("tenant registry unavailable")
	// ErrClosed: the Stores pool has been closed.
	ErrClosed = errors.New("closed")
)

// Tenant is one customer: its id (used in URLs and Redis keys), its display
// name, whether it is disabled, and its user store.
type Tenant struct {
	// ID is 1-63 characters of [a-z0-9-], starting with a letter or digit.
	ID string `yaml:"id" json:"id"`
	// Name is the display name (optional, at most 200 characters).
	Name string `yaml:"name" json:"name"`
	// Disabled tenants are refused at the front door and get no store.
	Disabled bool `yaml:"disabled" json:"disabled"`
	// Store is the tenant's user store. It holds no secret: a DSN with a
	// password is rejected by Validate; credentials come from dsn_env or
	// dsn_file.
	Store adapters.Config `yaml:"store" json:"store"`
	// Schema declares the tenant's own User extension (attributes added in
	// Okta's profile editor); nil: only the core and enterprise schemas.
	Schema *CustomSchema `yaml:"schema,omitempty" json:"schema,omitempty"`
	// Unique lists attributes the tenant's users and groups must not share,
	// beyond userName and a group's displayName, which always are unique
	// (case-insensitively). The one accepted entry is "externalId" (exact
	// match), for a store or IdP that relies on it; unset, externalId is
	// not unique (RFC 7643 §3.1), as Entra's default mapping needs.
	Unique []string `yaml:"unique,omitempty" json:"unique,omitempty"`
	// Setup configures the tenant's setup page for its customer's admin
	// (setuplinks.go); nil: the defaults.
	Setup *SetupOptions `yaml:"setup,omitempty" json:"setup,omitempty"`
	// Created is set by the Registry when the tenant is first stored.
	Created time.Time `yaml:"created,omitempty" json:"created"`
}

// UniqueExternalID is the entry of Tenant.Unique that makes externalId unique.
const UniqueExternalID = "externalId"

// MaxNameLen is the longest display name Validate accepts (in characters).
const MaxNameLen = 200

// ValidID reports whether id is a well-formed tenant id: 1 to 63 of
// [a-z0-9-], not starting with '-' (^[a-z0-9][a-z0-9-]{0,62}$). It runs
// up to three times a request, so it is a loop, not a regexp.
func ValidID(id string) bool {
	if id == "" || len(id) > 63 || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// Validate returns every problem with t (nil when it is valid). The
// messages never quote the store's DSN, which may be a secret.
func (t Tenant) Validate() []error {
	var errs []error
	if !ValidID(t.ID) {
		errs = append(errs, fmt.Errorf("tenant id %q: must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit", truncate(t.ID, 70)))
	}
	if n := utf8.RuneCountInString(t.Name); n > MaxNameLen {
		errs = append(errs, fmt.Errorf("tenant name: %d characters, at most %d", n, MaxNameLen))
	}
	if !utf8.ValidString(t.Name) {
		errs = append(errs, errors.New("tenant name: not valid UTF-8"))
	}
	for _, a := range t.Unique {
		if a != UniqueExternalID {
			errs = append(errs, fmt.Errorf("unique: %q: only %s can be made unique (userName and a group's displayName always are)", truncate(a, 70), UniqueExternalID))
		}
	}
	if t.Schema != nil {
		if _, err := t.Schema.SchemaSet(); err != nil {
			errs = append(errs, fmt.Errorf("schema: %w", err))
		}
	}
	errs = append(errs, t.Setup.problems()...)
	storeErrs := t.Store.Validate()
	for _, err := range storeErrs {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	// adapters.Config.Validate rejects the common password shapes; this
	// stricter check (pwd=, sslpassword=, bind_password=, any store kind)
	// backs it up, since the registry stores the config in clear.
	if t.Store.DSN != "" && dsnHasSecret(t.Store.DSN) && !mentionsDSNPassword(storeErrs) {
		errs = append(errs, fmt.Errorf("store: %w: dsn holds a secret; put the connection string in dsn_env or dsn_file", adapters.ErrConfig))
	}
	return errs
}

func mentionsDSNPassword(errs []error) bool {
	for _, err := range errs {
		if msg := err.Error(); strings.Contains(msg, "dsn") && strings.Contains(msg, "password") {
			return true
		}
	}
	return false
}

// validationError joins problems into one error wrapping ErrInvalid.
func validationError(prefix string, problems []error) error {
	if len(problems) == 0 {
		return nil
	}
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Error()
	}
	return fmt.Errorf("%s: %w: %s", prefix, ErrInvalid, strings.Join(msgs, "; "))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// secretParams are DSN parameter names that carry a secret.
var secretParams = map[string]bool{
	"password":      true,
	"pass":          true,
	"passwd":        true,
	"pwd":           true,
	"sslpassword":   true,
	"bind_password": true,
	"bindpassword":  true,
	"secret":        true,
}

// dsnHasSecret reports whether a connection string carries a password, in
// any of the shapes the store kinds accept: a URL with user:password@, a
// MySQL DSN "user:password@tcp(host)/db", key=value pairs
// ("host=x password=y"), or a password query parameter.
func dsnHasSecret(dsn string) bool {
	if i := strings.Index(dsn, "://"); i > 0 {
		u, err := url.Parse(dsn)
		if err != nil {
			// Unparseable: be conservative when it looks like userinfo.
			return strings.Contains(dsn[i+3:], "@") && strings.Contains(dsn[i+3:], ":")
		}
		if _, ok := u.User.Password(); ok {
			return true
		}
		return queryHasSecret(u.RawQuery)
	}
	// key=value pairs (libpq style).
	for _, field := range strings.Fields(dsn) {
		if k, _, ok := strings.Cut(field, "="); ok && secretParams[strings.ToLower(strings.TrimSpace(k))] {
			return true
		}
	}
	// MySQL: [user[:password]@][protocol[(address)]]/dbname[?params]
	base, query, _ := strings.Cut(dsn, "?")
	if slash := strings.LastIndex(base, "/"); slash >= 0 {
		if at := strings.LastIndex(base[:slash], "@"); at >= 0 && strings.Contains(base[:at], ":") {
			return true
		}
	}
	return queryHasSecret(query)
}

func queryHasSecret(rawQuery string) bool {
	if rawQuery == "" {
		return false
	}
	for _, pair := range strings.Split(rawQuery, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if secretParams[strings.ToLower(k)] {
			return true
		}
	}
	return false
}

// CustomSchema is a tenant's custom User extension: its URN and attributes.
// Requests may then carry the attributes (nested under the URN or as
// "urn:...:costCenter" paths); they are type-checked, stored, rendered,
// filterable, mappable to store columns, and described in /Schemas.
type CustomSchema struct {
	// URN, e.g. "urn:ietf:params:scim:schemas:extension:acme:2.0:User".
	URN string `yaml:"urn" json:"urn"`
	// Name and Description appear in /Schemas (optional).
	Name        string            `yaml:"name,omitempty" json:"name,omitempty"`
	Description string            `yaml:"description,omitempty" json:"description,omitempty"`
	Attributes  []CustomAttribute `yaml:"attributes" json:"attributes"`
}

// CustomAttribute is one attribute of a CustomSchema. Type is string
// (default), boolean, integer, decimal or dateTime.
type CustomAttribute struct {
	Name        string `yaml:"name" json:"name"`
	Type        string `yaml:"type,omitempty" json:"type,omitempty"`
	MultiValued bool   `yaml:"multiValued,omitempty" json:"multiValued,omitempty"`
	CaseExact   bool   `yaml:"caseExact,omitempty" json:"caseExact,omitempty"`
	Required    bool   `yaml:"required,omitempty" json:"required,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// SchemaSet builds the scim schema set of a tenant with this extension; a
// nil c gives the default set. Errors wrap scim.ErrInvalidSchema.
func (c *CustomSchema) SchemaSet() (*scim.SchemaSet, error) {
	if c == nil {
		return scim.DefaultSchemaSet(), nil
	}
	ext := &scim.CustomExtension{URN: c.URN, Name: c.Name, Description: c.Description}
	for _, a := range c.Attributes {
		ext.Attributes = append(ext.Attributes, scim.CustomAttribute{
			Name: a.Name, Type: a.Type, MultiValued: a.MultiValued,
			CaseExact: a.CaseExact, Required: a.Required, Description: a.Description,
		})
	}
	return scim.NewSchemaSet(ext)
}
