package adapters

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/scimbridge/scimbridge/scim"
)

// User is the desired state of one user as handed to a store.
type User struct {
	// ID is the SCIM id (the ledger's); stores may record it if mapped.
	ID string
	// Anchor is the store's immutable key for the entry (SQL primary key,
	// LDAP entryUUID/objectGUID) once known; empty for a user never applied.
	Anchor string
	// Attrs are the SCIM attributes (canonical form). Only mapped ones are
	// written. Active is Attrs["active"] resolved (absent means true).
	Attrs  scim.Attrs
	Active bool
	// Password is the clear password to set, or nil to leave it alone. It
	// exists only in memory for the duration of the apply.
	Password *string
}

// Entry is a user as read from a store: its anchor and its mapped
// attributes translated back to SCIM.
type Entry struct {
	Anchor string
	Attrs  scim.Attrs
	// ID is the SCIM id the entry holds where the tenant maps "id" to a
	// field (what `scimbridge recover` gives the user back); empty when
	// "id" is not mapped or the field is empty.
	ID string
}

// Match names the attribute a lookup matches on.
type Match string

// Lookup attributes a store answers (from its mapping).
const (
	MatchUserName   Match = "userName"
	MatchExternalID Match = "externalId"
	MatchEmail      Match = "emails.value"
)

// Store is one tenant's user store. Implementations are safe for concurrent
// use; scimbridge never runs two applies of one user at once.
type Store interface {
	// ApplyUser makes the store hold u, idempotently: with an anchor it
	// updates that entry (falling back to matching by userName when the
	// entry is gone); without one it adopts the entry whose userName
	// matches case-insensitively, or creates one. Only mapped fields are
	// written. It returns the entry's anchor. Applying the same User twice
	// changes nothing the second time.
	ApplyUser(ctx context.Context, u User) (anchor string, err error)
	// RemoveUser carries out the tenant's delete policy for the entry
	// (deactivate, or delete the row/entry). A missing entry is success.
	RemoveUser(ctx context.Context, u User) error
	// FindUsers returns the entries whose attribute equals value (userName
	// and email case-insensitively). Unmapped attributes return nothing.
	FindUsers(ctx context.Context, attr Match, value string) ([]Entry, error)
	// ListUsers returns up to limit entries in a stable order after the
	// cursor ("" for the start) and the cursor for the next page ("" at the end).
	ListUsers(ctx context.Context, cursor string, limit int) ([]Entry, string, error)
	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}

// Factory opens a Store from a tenant's configuration. Opening must be cheap
// and lazy: connect on first use.
type Factory func(ctx context.Context, tenantID string, cfg Config) (Store, error)

// Config is a tenant's store: which kind, where, and how SCIM maps onto it.
// It holds no secret inline: DSN carries no password; the connection string
// with credentials comes from DSNEnv or DSNFile.
type Config struct {
	// Kind is the store kind: "postgres", "sqlite", "mysql", "ldap".
	Kind string `yaml:"kind" json:"kind"`
	// DSN is the connection string when it holds no secret (SQLite path,
	// trust-auth PostgreSQL URL).
	DSN string `yaml:"dsn,omitempty" json:"dsn,omitempty"`
	// DSNEnv names an environment variable holding the DSN.
	DSNEnv string `yaml:"dsn_env,omitempty" json:"dsn_env,omitempty"`
	// DSNFile names a file holding the DSN.
	DSNFile string `yaml:"dsn_file,omitempty" json:"dsn_file,omitempty"`
	// MaxConcurrency bounds how many applies run against this store at once,
	// across all workers (0: the default, 1 for ldap and 8 otherwise).
	MaxConcurrency int `yaml:"max_concurrency,omitempty" json:"max_concurrency,omitempty"`
	// Users maps SCIM users onto the store.
	Users UserMapping `yaml:"users" json:"users"`
	// Groups maps SCIM groups onto the store; nil: the tenant does not
	// sync groups (they are kept in the ledger only).
	Groups *GroupMapping `yaml:"groups,omitempty" json:"groups,omitempty"`
	// LDAP holds the settings only an LDAP store has (connection, TLS,
	// bind, base DNs, object classes, deactivation strategy, dialect).
	LDAP *LDAPOptions `yaml:"ldap,omitempty" json:"ldap,omitempty"`
}

// UserMapping says where users live and which SCIM attribute goes where.
type UserMapping struct {
	// Table is the SQL table (optionally schema-qualified, "app.users").
	Table string `yaml:"table,omitempty" json:"table,omitempty"`
	// Key is the primary-key column: the store anchor. When Key is also the
	// column of a mapped attribute (say userName) the key is that value;
	// otherwise the database generates it.
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// Attributes maps a SCIM attribute path ("userName", "name.givenName",
	// `emails[type eq "work"].value`, "urn:...:enterprise:2.0:User:department",
	// "externalId", "id") to a column (SQL) or attribute (LDAP).
	Attributes map[string]string `yaml:"attributes" json:"attributes"`
	// Active maps the SCIM active flag; nil leaves activation unmapped.
	Active *ActiveMapping `yaml:"active,omitempty" json:"active,omitempty"`
	// Password maps the password; nil means passwords are not synced.
	Password *PasswordMapping `yaml:"password,omitempty" json:"password,omitempty"`
	// OnDelete is what a SCIM DELETE does to the entry: "deactivate"
	// (default; needs Active) or "delete".
	OnDelete string `yaml:"on_delete,omitempty" json:"on_delete,omitempty"`
}

// ActiveMapping maps SCIM active to a column with configured values.
type ActiveMapping struct {
	Column string `yaml:"column" json:"column"`
	// Active and Inactive are the stored values ("true"/"false" when unset;
	// for a boolean column leave them unset).
	Active   string `yaml:"active,omitempty" json:"active,omitempty"`
	Inactive string `yaml:"inactive,omitempty" json:"inactive,omitempty"`
}

// PasswordMapping maps the password to a column holding its hash.
type PasswordMapping struct {
	Column string `yaml:"column" json:"column"`
	// Hash is "argon2id" (default) or "bcrypt".
	Hash string `yaml:"hash,omitempty" json:"hash,omitempty"`
	// Cost is bcrypt's work factor, 4 to 31 (0: 12). Set it to what the
	// application's own bcrypt hashes use; ignored for argon2id.
	Cost int `yaml:"cost,omitempty" json:"cost,omitempty"`
}

// HashPassword hashes password as the mapping says: argon2id (the PHC
// string $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>) or bcrypt ($2a$, at
// Cost). A password bcrypt cannot hash (over 72 bytes) is an error
// wrapping ErrRejected; an unknown algorithm or cost wraps ErrConfig. The
// error never holds the password.
func (m PasswordMapping) HashPassword(password string) (string, error) {
	return hashPassword(m.Hash, m.Cost, password)
}

// ResolveDSN returns the connection string from DSN, DSNEnv or DSNFile.
func (c Config) ResolveDSN() (string, error) {
	switch {
	case c.DSNEnv != "":
		v := os.Getenv(c.DSNEnv)
		if v == "" {
			return "", fmt.Errorf("%w: environment variable %s is empty", ErrConfig, c.DSNEnv)
		}
		return v, nil
	case c.DSNFile != "":
		b, err := os.ReadFile(c.DSNFile)
		if err != nil {
			return "", fmt.Errorf("%w: dsn_file: %v", ErrConfig, err)
		}
		return strings.TrimSpace(string(b)), nil
	case c.DSN != "":
		return c.DSN, nil
	}
	return "", fmt.Errorf("%w: no dsn, dsn_env or dsn_file", ErrConfig)
}

// ActiveOf resolves the SCIM active attribute (absent means active).
func ActiveOf(a scim.Attrs) bool {
	if v, ok := a["active"].(bool); ok {
		return v
	}
	return true
}

// Concurrency is the effective MaxConcurrency.
func (c Config) Concurrency() int {
	switch {
	case c.MaxConcurrency > 0:
		return c.MaxConcurrency
	case c.Kind == "ldap":
		return 1
	}
	return 8
}

// BatchStore is implemented by stores that can apply many users as one
// unit of work (one SQL transaction), which is how a drain of a tenant's
// backlog reaches a store's own write rate.
type BatchStore interface {
	// ApplyUsers applies each user exactly as ApplyUser would and returns,
	// for each, its anchor or its error (a failing user must not make the
	// others fail: a store that batches retries them one by one).
	ApplyUsers(ctx context.Context, users []User) (anchors []string, errs []error)
}
