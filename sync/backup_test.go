package sync

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// sealedFile writes lines as a backup file with a correct end line, as a
// forger who recomputes the checksum would: what restore must still refuse
// is then found by its record checks, not by the checksum.
func sealedFile(t *testing.T, tenant string, records ...backupLine) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	_ = enc.Encode(backupLine{T: "header", Format: BackupFormat, Version: BackupVersion, Tenant: tenant})
	users, groups := 0, 0
	for _, r := range records {
		_ = enc.Encode(r)
		if r.T == "group" {
			groups++
		} else {
			users++
		}
	}
	sum := sha256.Sum256(b.Bytes())
	_ = enc.Encode(backupLine{T: "end", Users: &users, Groups: &groups, SHA256: hex.EncodeToString(sum[:])})
	return b.Bytes()
}

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func backupUser(id, un string, extra ...string) backupLine {
	f := map[string]string{"v": "1", "av": "1", "seq": "1", "un": un, "doc": `{"userName":"` + un + `"}`}
	for i := 0; i+1 < len(extra); i += 2 {
		f[extra[i]] = extra[i+1]
	}
	return backupLine{T: "user", ID: id, Fields: f}
}

func TestReadBackupChecksRecords(t *testing.T) {
	good := sealedFile(t, "acme", backupUser("u1", "a@example.com"), backupUser("u2", "b@example.com"),
		backupLine{T: "group", ID: "g1", Fields: map[string]string{"v": "2", "av": "1", "un": "team"}, Members: []string{"u1"}, Pending: map[string]string{"u2": "+3"}})
	var rep RestoreReport
	var seen []string
	if err := readBackup(opener(good), &rep, func(l *backupLine) error { seen = append(seen, l.T+":"+l.ID); return nil }); err != nil {
		t.Fatalf("a good file: %v", err)
	}
	if rep.FileTenant != "acme" || rep.Users != 2 || rep.Groups != 1 || strings.Join(seen, ",") != "user:u1,user:u2,group:g1" {
		t.Fatalf("read %+v %v", rep, seen)
	}

	for name, c := range map[string]struct {
		file []byte
		want string
	}{
		"the same userName twice":                          {sealedFile(t, "acme", backupUser("u1", "a@example.com"), backupUser("u2", "a@example.com")), `its name "a@example.com" is also u1's`},
		"one anchor twice":                                 {sealedFile(t, "acme", backupUser("u1", "a@example.com", "anchor", "7"), backupUser("u2", "b@example.com", "anchor", "7")), `its store anchor "7" is also u1's`},
		"a live anchor twice (a deleted one may share it)": {sealedFile(t, "acme", backupUser("u1", "", "anchor", "7", "del", "1"), backupUser("u2", "b@example.com", "anchor", "7"), backupUser("u3", "c@example.com", "anchor", "7")), `its store anchor "7" is also u2's`},
		"an id twice":                                      {sealedFile(t, "acme", backupUser("u1", "a@example.com"), backupUser("u1", "b@example.com")), "the id appears twice"},
		"a version not a number":                           {sealedFile(t, "acme", backupUser("u1", "a@example.com", "v", "one")), "field v is not a number"},
		"a document not JSON":                              {sealedFile(t, "acme", backupUser("u1", "a@example.com", "doc", "{nope")), "not a JSON object"},
		"an id with a newline":                             {sealedFile(t, "acme", backupUser("u\n1", "a@example.com")), "not a usable id"},
		"a user with members":                              {sealedFile(t, "acme", backupLine{T: "user", ID: "u1", Fields: map[string]string{"v": "1", "un": "x"}, Members: []string{"u2"}}), "a user with group members"},
		"a bad membership change":                          {sealedFile(t, "acme", backupLine{T: "group", ID: "g1", Fields: map[string]string{"v": "1", "un": "x"}, Pending: map[string]string{"u2": "add"}}), "is malformed"},
		"an unknown line":                                  {sealedFile(t, "acme", backupLine{T: "key", ID: "k1", Fields: map[string]string{"v": "1"}}), `unknown line type "key"`},
		"data after the end":                               {append(append([]byte{}, good...), []byte("{\"t\":\"user\"}\n")...), "data after the end line"},
		"a count that lies":                                {bytes.Replace(good, []byte(`"users":2`), []byte(`"users":3`), 1), "counts do not match"},
		"a field it does not know":                         {bytes.Replace(good, []byte(`{"t":"user",`), []byte(`{"t":"user","x":1,`), 1), "unknown field"},
	} {
		err := readBackup(opener(c.file), &RestoreReport{}, nil)
		if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "nothing was written") {
			t.Errorf("%s: %v (want %q)", name, err, c.want)
		}
	}
}

func TestReadBackupStopsAtTheFirstBadLine(t *testing.T) {
	// The records before a bad one are handed over as they are read; the
	// caller writes only after a first pass over the whole file succeeded
	// (Restore), so nothing reaches the ledger from a bad file.
	bad := sealedFile(t, "acme", backupUser("u1", "a@example.com"), backupUser("u1", "b@example.com"))
	n := 0
	err := readBackup(opener(bad), &RestoreReport{}, func(*backupLine) error { n++; return nil })
	if !errors.Is(err, ErrBadBackup) || n != 1 {
		t.Fatalf("%v after %d records", err, n)
	}
}
