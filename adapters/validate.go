package adapters

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/scimbridge/scimbridge/scim"
)

// Store kinds.
const (
	KindPostgres = "postgres"
	KindSQLite   = "sqlite"
	KindMySQL    = "mysql"
	KindLDAP     = "ldap"
)

// Delete policies.
const (
	OnDeleteDeactivate = "deactivate"
	OnDeleteDelete     = "delete"
)

var (
	// sqlIdentifier is a bare SQL identifier: nothing that needs escaping
	// inside quotes, so a validated name can be quoted safely.
	sqlIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	// ldapAttribute is an LDAP attribute description (RFC 4512 descr or
	// numeric OID, with options such as ;binary).
	ldapAttribute = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)
	envName       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// passwordKeyword finds a password=... keyword in a key/value DSN or
	// a URL query.
	passwordKeyword = regexp.MustCompile(`(?i)(^|[\s?&;])password\s*=`)
)

// IsSQLKind reports whether kind is one of the SQL store kinds.
func IsSQLKind(kind string) bool {
	return kind == KindPostgres || kind == KindSQLite || kind == KindMySQL
}

// ValidSQLIdentifier reports whether s is a bare SQL identifier (letters,
// digits, underscore; not starting with a digit; at most 63 characters).
func ValidSQLIdentifier(s string) bool { return sqlIdentifier.MatchString(s) }

// ValidSQLTable reports whether s is a table name, optionally qualified by
// one schema ("app.users").
func ValidSQLTable(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if !ValidSQLIdentifier(p) {
			return false
		}
	}
	return true
}

// Validate checks the whole configuration and returns every problem found
// (nil when it is valid), each wrapping ErrConfig. Messages never echo the
// DSN, which might hold a secret.
func (c Config) Validate() []error {
	if c.Kind == KindLDAP {
		return c.validateLDAP() // adapters/ldap_validate.go
	}
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}

	switch c.Kind {
	case KindPostgres, KindSQLite, KindMySQL, KindLDAP:
	case "":
		add("kind is missing (postgres, sqlite, mysql or ldap)")
	default:
		add("kind %q is unknown (postgres, sqlite, mysql or ldap)", c.Kind)
	}

	sources := 0
	for _, s := range []string{c.DSN, c.DSNEnv, c.DSNFile} {
		if s != "" {
			sources++
		}
	}
	switch {
	case sources == 0:
		add("one of dsn, dsn_env or dsn_file is required")
	case sources > 1:
		add("set only one of dsn, dsn_env and dsn_file")
	}
	if c.DSNEnv != "" && !envName.MatchString(c.DSNEnv) {
		add("dsn_env %q is not an environment variable name", c.DSNEnv)
	}
	if c.DSN != "" && dsnHasPassword(c.Kind, c.DSN) {
		add("dsn holds a password inline; put the connection string in the environment (dsn_env) or a file (dsn_file)")
	}

	errs = append(errs, c.Users.validate(c.Kind)...)
	if c.Groups != nil {
		errs = append(errs, c.Groups.validate(c.Kind, c.Users)...)
	}
	return errs
}

// ValidateErr is Validate as one error (nil when valid): every problem
// joined, each wrapping ErrConfig.
func (c Config) ValidateErr() error {
	return errors.Join(c.Validate()...)
}

// fieldNaming is how a kind's fields are checked and called: LDAP
// attribute names, else SQL column names.
func fieldNaming(kind string) (valid func(string) bool, word string) {
	if kind == KindLDAP {
		return ldapAttribute.MatchString, "attribute"
	}
	return ValidSQLIdentifier, "column"
}

// checkSQLTable adds the problem of a SQL table setting named name, if
// any, and reports whether the table is valid.
func checkSQLTable(add func(format string, args ...any), name, table string) bool {
	switch {
	case table == "":
		add("%s is required", name)
	case !ValidSQLTable(table):
		add("%s %q is not a valid table name (letters, digits, underscore, optionally schema.table)", name, table)
	default:
		return true
	}
	return false
}

// checkKey adds the problem of the key field, if any: required and a
// column name for SQL kinds, a valid attribute name when set for LDAP.
func checkKey(add func(format string, args ...any), kind, key string) {
	if IsSQLKind(kind) {
		switch {
		case key == "":
			add("key (the primary-key column) is required")
		case !ValidSQLIdentifier(key):
			add("key %q is not a valid column name (letters, digits, underscore)", key)
		}
		return
	}
	if valid, word := fieldNaming(kind); key != "" && !valid(key) {
		add("key %q is not a valid %s name", key, word)
	}
}

func (m UserMapping) validate(kind string) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: users."+format, append([]any{ErrConfig}, args...)...))
	}
	validField, fieldWord := fieldNaming(kind)
	if IsSQLKind(kind) {
		checkSQLTable(add, "table", m.Table)
	}
	checkKey(add, kind, m.Key)

	if len(m.Attributes) == 0 {
		add("attributes: no attribute is mapped")
	}
	userNameMapped := false
	columnOwner := map[string]string{}
	paths := m.sortedPaths()
	for _, p := range paths {
		col := m.Attributes[p]
		switch {
		case strings.EqualFold(p, pathActive):
			add("attributes[%q]: map active with users.active (column and values), not as an attribute", p)
			continue
		case strings.EqualFold(p, pathPassword):
			add("attributes[%q]: map the password with users.password (column and hash), not as an attribute", p)
			continue
		}
		if !strings.EqualFold(p, pathID) {
			if _, err := scim.ParsePath(p); err != nil {
				add("attributes[%q]: not a SCIM attribute path: %v", p, err)
			}
		}
		if strings.EqualFold(p, pathUserName) {
			userNameMapped = true
		}
		if !validField(col) {
			add("attributes[%q]: %q is not a valid %s name", p, col, fieldWord)
			continue
		}
		if other, dup := columnOwner[col]; dup {
			add("attributes[%q]: %s %q is already mapped from %q", p, fieldWord, col, other)
			continue
		}
		columnOwner[col] = p
	}
	if !userNameMapped {
		add("attributes: userName must be mapped (entries are matched by it)")
	}

	if m.Active != nil {
		a := m.Active
		switch {
		case a.Column == "":
			add("active.column is required")
		case !validField(a.Column):
			add("active.column %q is not a valid %s name", a.Column, fieldWord)
		default:
			if p, dup := columnOwner[a.Column]; dup {
				add("active.column %q is already mapped from %q", a.Column, p)
			}
			if a.Column == m.Key {
				add("active.column %q is the key", a.Column)
			}
		}
		if (a.Active == "") != (a.Inactive == "") {
			add("active: set both active and inactive values, or neither (boolean column)")
		} else if a.Active != "" && a.Active == a.Inactive {
			add("active: active and inactive values are the same")
		}
	}

	switch m.OnDelete {
	case "", OnDeleteDeactivate:
		if m.Active == nil {
			add("on_delete %q needs active to be mapped (or use on_delete: delete)", OnDeleteDeactivate)
		}
	case OnDeleteDelete:
	default:
		add("on_delete %q is unknown (deactivate or delete)", m.OnDelete)
	}

	if m.Password != nil {
		pw := m.Password
		switch {
		case pw.Column == "":
			add("password.column is required")
		case !validField(pw.Column):
			add("password.column %q is not a valid %s name", pw.Column, fieldWord)
		default:
			if p, dup := columnOwner[pw.Column]; dup {
				add("password.column %q is already mapped from %q", pw.Column, p)
			}
			if m.Active != nil && m.Active.Column == pw.Column {
				add("password.column %q is also the active column", pw.Column)
			}
			if pw.Column == m.Key {
				add("password.column %q is the key", pw.Column)
			}
		}
		switch pw.Hash {
		case "", HashArgon2id:
			if pw.Cost != 0 {
				add("password.cost %d: only with hash bcrypt (argon2id's parameters are fixed)", pw.Cost)
			}
		case HashBcrypt:
			if pw.Cost != 0 && (pw.Cost < bcrypt.MinCost || pw.Cost > bcrypt.MaxCost) {
				add("password.cost %d: bcrypt's cost is %d to %d", pw.Cost, bcrypt.MinCost, bcrypt.MaxCost)
			}
		default:
			add("password.hash %q is unknown (argon2id or bcrypt)", pw.Hash)
		}
	}
	return errs
}

// dsnHasPassword reports whether an inline DSN carries a password: a URL
// with user:password@, a password= keyword (key/value DSN or URL query), or
// a go-sql-driver DSN user:password@tcp(...)/db.
func dsnHasPassword(kind, dsn string) bool {
	if passwordKeyword.MatchString(dsn) {
		return true
	}
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// Unparseable: look for user:secret@ by hand.
			rest := dsn[strings.Index(dsn, "://")+3:]
			at := strings.LastIndex(rest, "@")
			return at > 0 && strings.Contains(rest[:at], ":")
		}
		if u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				return true
			}
		}
		return false
	}
	if kind == KindMySQL {
		// [user[:password]@][net[(addr)]]/dbname[?params]
		head := dsn
		if slash := strings.LastIndex(head, "/"); slash >= 0 {
			head = head[:slash]
		}
		at := strings.LastIndex(head, "@")
		if at < 0 {
			return false
		}
		_, pw, found := strings.Cut(head[:at], ":")
		return found && pw != ""
	}
	return false
}
