package ldapstore

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Active Directory's objectGUID is 16 bytes whose first three fields are
// little-endian: the canonical string 01020304-0506-0708-090a-0b0c0d0e0f10
// is stored as 04 03 02 01 06 05 08 07 09 0a 0b 0c 0d 0e 0f 10.

// guidString renders a binary objectGUID in its canonical string form.
func guidString(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("objectGUID has %d bytes, want 16", len(b))
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]), binary.LittleEndian.Uint16(b[6:8]),
		b[8:10], b[10:16]), nil
}

// guidBytes parses a canonical GUID string into objectGUID's binary form.
func guidBytes(s string) ([]byte, error) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, fmt.Errorf("not a GUID")
	}
	raw, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(raw) != 16 {
		return nil, fmt.Errorf("not a GUID")
	}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(b[8:], raw[8:])
	return b, nil
}

// escapeBinaryFilter escapes every byte of a binary assertion value
// (\xx), the form AD expects for objectGUID in a filter.
func escapeBinaryFilter(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "\\%02x", c)
	}
	return sb.String()
}

// unicodePwd is AD's password value: the password in double quotes,
// encoded as UTF-16LE.
func unicodePwd(password string) []byte {
	units := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	return b
}

// userAccountControl bits the store uses.
const (
	uacAccountDisable = 0x2
	uacNormalAccount  = 0x200
)
