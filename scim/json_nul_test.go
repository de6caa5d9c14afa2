package scim

import "testing"

func TestNULRefused(t *testing.T) {
	for _, body := range []string{
		`{"userName":"a\u0000b"}`,
		`{"userName":"ok","name":{"givenName":"x\u0000"}}`,
		`{"userName":"ok","emails":[{"value":"a@b\u0000"}]}`,
		`{"userName":"ok","k\u0000ey":"v"}`,
	} {
		_, _, err := ParseUser([]byte(body))
		se, ok := err.(*Error)
		if !ok || se.Status != 400 || se.ScimType != ScimTypeInvalidValue {
			t.Errorf("%s: %v", body, err)
		}
	}
	if _, _, err := ParseUser([]byte(`{"userName":"a\\u0000b"}`)); err != nil {
		t.Errorf("an escaped backslash before u0000 is not a NUL: %v", err)
	}
}
