package ldapstore

import (
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/adapters"
)

// Password schemes of a hashed userPassword (userpassword_hash mode):
// OpenLDAP verifies {ARGON2} with its argon2 module and {CRYPT} through
// crypt(3), which in glibc/libxcrypt knows bcrypt ($2a$/$2b$).
const (
	schemeArgon2 = "{ARGON2}"
	schemeCrypt  = "{CRYPT}"
)

// hashUserPassword returns the userPassword value for password with the
// configured algorithm (argon2id or bcrypt).
func hashUserPassword(pm *adapters.PasswordMapping, password string) (string, error) {
	h, err := pm.HashPassword(password)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(h, "$argon2id$") {
		return schemeArgon2 + h, nil
	}
	return schemeCrypt + h, nil
}

// StripScheme returns a userPassword value without its {SCHEME} prefix (an
// argon2id PHC string or a bcrypt hash for the schemes this store writes).
func StripScheme(v string) string {
	if strings.HasPrefix(v, "{") {
		if i := strings.IndexByte(v, '}'); i > 0 {
			return v[i+1:]
		}
	}
	return v
}

// userPasswordVerifies reports whether one of the stored userPassword
// values already verifies password.
func userPasswordVerifies(values []string, password string) bool {
	for _, v := range values {
		up := strings.ToUpper(v)
		if (strings.HasPrefix(up, schemeArgon2) || strings.HasPrefix(up, schemeCrypt)) && adapters.VerifyPassword(StripScheme(v), password) {
			return true
		}
	}
	return false
}

// passwordMods adds to mod what writing password needs in the attribute
// modes (userpassword_hash, ad_unicodepwd); current holds the entry's
// present password values (nil for a new entry). It reports whether the
// password still has to be set with the Password Modify operation.
func (s *Store) passwordMods(add func(attr string, values []string), current []string, password *string) (extended bool, err error) {
	pm := s.cfg.Users.Password
	if password == nil || pm == nil {
		return false, nil
	}
	switch s.opts.Password.Mode {
	case adapters.LDAPPasswordHash:
		if userPasswordVerifies(current, *password) {
			return false, nil
		}
		v, err := hashUserPassword(pm, *password)
		if err != nil {
			return false, err
		}
		add(pm.Column, []string{v})
		return false, nil
	case adapters.LDAPPasswordUnicodePwd:
		if !s.secure {
			return false, fmt.Errorf("ldapstore: unicodePwd: %w: needs ldaps:// or start_tls", adapters.ErrConfig)
		}
		add("unicodePwd", []string{string(unicodePwd(*password))})
		return false, nil
	}
	return true, nil
}

// modifyPassword sets the password of dn with the Password Modify extended
// operation (RFC 3062), as the bind DN; the server hashes it.
func modifyPassword(c *ldap.Conn, dn, password string) error {
	if _, err := c.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", password)); err != nil {
		return fmt.Errorf("password modify: %w", err)
	}
	return nil
}
