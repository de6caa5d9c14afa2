package adapters

import (
	"errors"
	"strings"
	"testing"
)

func validSQLConfig() Config {
	return Config{
		Kind: KindPostgres,
		DSN:  "postgres://app@db.internal:5432/app?sslmode=require",
		Users: UserMapping{
			Table: "app.users",
			Key:   "id",
			Attributes: map[string]string{
				"userName":                     "username",
				"name.givenName":               "given_name",
				`emails[type eq "work"].value`: "email",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "department",
			},
			Active:   &ActiveMapping{Column: "is_active"},
			Password: &PasswordMapping{Column: "password_hash", Hash: HashBcrypt, Cost: 10},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		// want lists substrings, one per expected problem.
		want []string
	}{
		{name: "valid", modify: func(c *Config) {}},
		{name: "valid delete policy without active", modify: func(c *Config) {
			c.Users.Active = nil
			c.Users.OnDelete = OnDeleteDelete
		}},
		{name: "valid sqlite path", modify: func(c *Config) { c.Kind = KindSQLite; c.DSN = "/var/lib/app/users.db" }},
		{name: "valid mysql without password", modify: func(c *Config) {
			c.Kind = KindMySQL
			c.DSN = "app@tcp(db:3306)/app?parseTime=true"
		}},
		{name: "valid dsn_env", modify: func(c *Config) { c.DSN = ""; c.DSNEnv = "TENANT_A_DSN" }},
		{name: "valid key/value dsn", modify: func(c *Config) { c.DSN = "host=db user=app dbname=app sslmode=disable" }},
		{name: "missing kind", modify: func(c *Config) { c.Kind = "" }, want: []string{"kind is missing"}},
		{name: "unknown kind", modify: func(c *Config) { c.Kind = "oracle" }, want: []string{`kind "oracle" is unknown`}},
		{name: "no dsn", modify: func(c *Config) { c.DSN = "" }, want: []string{"one of dsn, dsn_env or dsn_file"}},
		{name: "two dsn sources", modify: func(c *Config) { c.DSNFile = "/run/secrets/dsn" }, want: []string{"only one of"}},
		{name: "bad env name", modify: func(c *Config) { c.DSN = ""; c.DSNEnv = "A-B" }, want: []string{"not an environment variable"}},
		{name: "postgres url password", modify: func(c *Config) { c.DSN = "postgres://app:s3cret@db/app" }, want: []string{"password inline"}},
		{name: "postgresql url password", modify: func(c *Config) { c.DSN = "postgresql://app:s3cret@db/app" }, want: []string{"password inline"}},
		{name: "keyword password", modify: func(c *Config) { c.DSN = "host=db user=app password=s3cret" }, want: []string{"password inline"}},
		{name: "query password", modify: func(c *Config) { c.DSN = "postgres://db/app?user=app&password=s3cret" }, want: []string{"password inline"}},
		{name: "mysql password", modify: func(c *Config) {
			c.Kind = KindMySQL
			c.DSN = "app:s3cret@tcp(db:3306)/app"
		}, want: []string{"password inline"}},
		{name: "bad table", modify: func(c *Config) { c.Users.Table = `users"; drop table x; --` }, want: []string{"not a valid table name"}},
		{name: "three-part table", modify: func(c *Config) { c.Users.Table = "a.b.c" }, want: []string{"not a valid table name"}},
		{name: "missing table and key", modify: func(c *Config) { c.Users.Table = ""; c.Users.Key = "" }, want: []string{"table is required", "key (the primary-key column) is required"}},
		{name: "bad key", modify: func(c *Config) { c.Users.Key = "id`" }, want: []string{`key "id` + "`" + `" is not a valid`}},
		{name: "bad column", modify: func(c *Config) { c.Users.Attributes["name.familyName"] = "family name" }, want: []string{`"family name" is not a valid column`}},
		{name: "duplicate column", modify: func(c *Config) { c.Users.Attributes["displayName"] = "given_name" }, want: []string{`already mapped from`}},
		{name: "userName not mapped", modify: func(c *Config) { delete(c.Users.Attributes, "userName") }, want: []string{"userName must be mapped"}},
		{name: "active as attribute", modify: func(c *Config) { c.Users.Attributes["active"] = "enabled" }, want: []string{"map active with users.active"}},
		{name: "password as attribute", modify: func(c *Config) { c.Users.Attributes["password"] = "pw" }, want: []string{"map the password with users.password"}},
		{name: "deactivate needs active", modify: func(c *Config) { c.Users.Active = nil }, want: []string{"needs active"}},
		{name: "unknown on_delete", modify: func(c *Config) { c.Users.OnDelete = "archive" }, want: []string{`on_delete "archive" is unknown`}},
		{name: "one active value", modify: func(c *Config) { c.Users.Active.Active = "Y" }, want: []string{"set both active and inactive"}},
		{name: "same active values", modify: func(c *Config) { c.Users.Active.Active = "Y"; c.Users.Active.Inactive = "Y" }, want: []string{"are the same"}},
		{name: "active column clash", modify: func(c *Config) { c.Users.Active.Column = "email" }, want: []string{`active.column "email" is already mapped`}},
		{name: "unknown hash", modify: func(c *Config) { c.Users.Password.Hash = "md5" }, want: []string{`password.hash "md5" is unknown`}},
		{name: "bcrypt cost out of range", modify: func(c *Config) { c.Users.Password.Cost = 40 }, want: []string{`password.cost 40: bcrypt's cost is 4 to 31`}},
		{name: "cost with argon2id", modify: func(c *Config) { c.Users.Password.Hash, c.Users.Password.Cost = HashArgon2id, 10 }, want: []string{`password.cost 10: only with hash bcrypt`}},
		{name: "password column is key", modify: func(c *Config) { c.Users.Password.Column = "id" }, want: []string{"is the key"}},
		{name: "everything wrong at once", modify: func(c *Config) {
			c.Kind = "oracle"
			c.DSN = "postgres://a:b@c/d"
			c.Users.Table = "x y"
			c.Users.OnDelete = "nuke"
			delete(c.Users.Attributes, "userName")
		}, want: []string{"unknown", "password inline", "userName must be mapped", "nuke"}},
		{name: "ldap attribute names", modify: func(c *Config) {
			c.Kind = KindLDAP
			c.DSN = "ldaps://ldap.internal:636"
			c.LDAP = &LDAPOptions{
				UsersBaseDN:  "ou=people,dc=example,dc=com",
				Deactivation: LDAPDeactivation{Attribute: "employeeType", ActiveValue: "active", InactiveValue: "disabled"},
			}
			c.Users = UserMapping{
				Key:        "entryUUID",
				Attributes: map[string]string{"userName": "uid", "name.familyName": "sn", "x509": "userCertificate;binary"},
				OnDelete:   OnDeleteDelete,
			}
		}},
		{name: "ldap url password", modify: func(c *Config) {
			c.Kind = KindLDAP
			c.DSN = "ldap://cn=admin:secret@ldap.internal"
			c.LDAP = &LDAPOptions{
				UsersBaseDN:  "ou=people,dc=example,dc=com",
				Deactivation: LDAPDeactivation{Attribute: "employeeType", ActiveValue: "active", InactiveValue: "disabled"},
			}
			c.Users = UserMapping{Attributes: map[string]string{"userName": "uid"}, OnDelete: OnDeleteDelete}
		}, want: []string{"ldap.url must not carry credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validSQLConfig()
			tt.modify(&c)
			errs := c.Validate()
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d problems, want %d: %v", len(errs), len(tt.want), errs)
			}
			for i, err := range errs {
				if !errors.Is(err, ErrConfig) {
					t.Errorf("problem %d does not wrap ErrConfig: %v", i, err)
				}
				if !strings.Contains(err.Error(), tt.want[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, err, tt.want[i])
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("problem %d echoes the secret: %q", i, err)
				}
			}
			if (c.ValidateErr() == nil) != (len(tt.want) == 0) {
				t.Errorf("ValidateErr disagrees with Validate")
			}
		})
	}
}

func TestDSNHasPassword(t *testing.T) {
	tests := []struct {
		kind, dsn string
		want      bool
	}{
		{KindPostgres, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", false},
		{KindPostgres, "postgres://postgres:@127.0.0.1/postgres", false},
		{KindPostgres, "postgres://u:p@h/d", true},
		{KindPostgres, "host=h user=u PASSWORD = x", true},
		{KindPostgres, "host=h user=u sslpassword_file=/x", false},
		{KindMySQL, "root@tcp(127.0.0.1:3306)/test", false},
		{KindMySQL, "root:@tcp(127.0.0.1:3306)/test", false},
		{KindMySQL, "root:pw@tcp(127.0.0.1:3306)/test", true},
		{KindMySQL, "u:p/w@unix(/run/mysqld.sock)/db", true},
		{KindMySQL, "u@unix(/run/mysqld.sock)/db", false},
		{KindMySQL, "mysql://u:p@h/db", true},
		{KindSQLite, "file:/tmp/a.db?_pragma=busy_timeout(5000)", false},
	}
	for _, tt := range tests {
		if got := dsnHasPassword(tt.kind, tt.dsn); got != tt.want {
			t.Errorf("dsnHasPassword(%s, %q) = %v, want %v", tt.kind, tt.dsn, got, tt.want)
		}
	}
}

func TestValidSQLTable(t *testing.T) {
	for s, want := range map[string]bool{
		"users": true, "app.users": true, "_x1": true, "T_abc.Users_2": true,
		"": false, "1users": false, "a.b.c": false, "app.": false, ".users": false,
		`us"ers`: false, "us`ers": false, "users;": false, "üsers": false, "a b": false,
		strings.Repeat("a", 64): false, strings.Repeat("a", 63): true,
	} {
		if got := ValidSQLTable(s); got != want {
			t.Errorf("ValidSQLTable(%q) = %v, want %v", s, got, want)
		}
	}
}
