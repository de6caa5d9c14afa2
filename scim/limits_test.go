package scim

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Bodies of the sizes issue 17 probed, and the ones either side of each
// bound.

func userWithEmails(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"userName":"jane@example.com","emails":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"value":"jane%d@example.com","type":"work"}`, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func memberList(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"value":"00000000-0000-4000-8000-%012d","display":"u%d@example.com"}`, i, i)
	}
	b.WriteByte(']')
	return b.String()
}

func groupWithMembers(n int) []byte {
	return []byte(`{"displayName":"Engineering","members":` + memberList(n) + `}`)
}

func patchMembers(op string, n int) []byte {
	return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"` + op +
		`","path":"members","value":` + memberList(n) + `}]}`)
}

// isTooMany reports whether err is 400 tooMany.
func isTooMany(err error) bool {
	var se *Error
	return errors.As(err, &se) && se.Status == 400 && se.ScimType == ScimTypeTooMany
}

func TestRequestBounds(t *testing.T) {
	groupPatch := func(body []byte) error {
		p, err := ParsePatch(body)
		if err != nil {
			return err
		}
		_, _, err = p.MembersOnly()
		if err == nil {
			_, _, err = p.ApplyGroup(Attrs{"displayName": "Engineering"})
		}
		return err
	}
	userParse := func(body []byte) error { _, _, err := ParseUser(body); return err }
	groupParse := func(body []byte) error { _, err := ParseGroup(body); return err }
	cases := []struct {
		name    string
		body    []byte
		run     func([]byte) error
		tooMany bool
	}{
		{"user with MaxAttributeValues emails", userWithEmails(MaxAttributeValues), userParse, false},
		{"user with MaxAttributeValues+1 emails", userWithEmails(MaxAttributeValues + 1), userParse, true},
		{"issue 17: user with 1000 emails", userWithEmails(1000), userParse, true},
		{"issue 17: user with 2000 emails", userWithEmails(2000), userParse, true},
		{"issue 17: user with 4000 emails", userWithEmails(4000), userParse, true},
		{"issue 17: user with 8000 emails", userWithEmails(8000), userParse, true},
		{"group with MaxGroupMembers members", groupWithMembers(MaxGroupMembers), groupParse, false},
		{"group with MaxGroupMembers+1 members", groupWithMembers(MaxGroupMembers + 1), groupParse, true},
		{"PATCH adding MaxMemberChanges members", patchMembers("add", MaxMemberChanges), groupPatch, false},
		{"PATCH adding MaxMemberChanges+1 members", patchMembers("add", MaxMemberChanges+1), groupPatch, true},
		{"PATCH removing MaxMemberChanges+1 members", patchMembers("remove", MaxMemberChanges+1), groupPatch, true},
		{"issue 17: PATCH adding 20000 members", patchMembers("add", 20000), groupPatch, true},
		{"PATCH replacing with MaxGroupMembers members", patchMembers("replace", MaxGroupMembers), groupPatch, false},
		{"PATCH replacing with MaxGroupMembers+1 members", patchMembers("replace", MaxGroupMembers+1), groupPatch, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(tc.body)
			if got := isTooMany(err); got != tc.tooMany {
				t.Fatalf("tooMany = %v, want %v (err %v)", got, tc.tooMany, err)
			}
			if !tc.tooMany && err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPatchAddsUpToTheBound(t *testing.T) {
	// A user at the bound: adding a value already present is no change
	// (accepted), adding a new one is tooMany, removing one makes room.
	a, _, err := ParseUser(userWithEmails(MaxAttributeValues))
	if err != nil {
		t.Fatal(err)
	}
	apply := func(body string) error {
		_, _, err := mustPatch(t, body).ApplyUser(a)
		return err
	}
	if err := apply(`{"Operations":[{"op":"add","path":"emails","value":[{"value":"jane0@example.com","type":"work"}]}]}`); err != nil {
		t.Errorf("re-adding a present email: %v", err)
	}
	if err := apply(`{"Operations":[{"op":"add","path":"emails","value":[{"value":"new@example.com"}]}]}`); !isTooMany(err) {
		t.Errorf("adding one past the bound: %v, want tooMany", err)
	}
	if err := apply(`{"Operations":[{"op":"remove","path":"emails","value":[{"value":"jane0@example.com"}]},
		{"op":"add","path":"emails","value":[{"value":"new@example.com"}]}]}`); err != nil {
		t.Errorf("remove then add: %v", err)
	}
	// Membership changes add up over the operations of one PATCH.
	ops := make([]string, 0, MaxMemberChanges+1)
	for i := range MaxMemberChanges + 1 {
		ops = append(ops, fmt.Sprintf(`{"op":"add","path":"members","value":[{"value":"u%d"}]}`, i))
	}
	p, err := ParsePatch([]byte(`{"Operations":[` + strings.Join(ops[:MaxPatchOperations], ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.MembersOnly(); err != nil {
		t.Errorf("%d one-member adds: %v", MaxPatchOperations, err)
	}
}

func TestExtensionsBound(t *testing.T) {
	body := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`{"userName":"a"`)
		for i := range n {
			fmt.Fprintf(&b, `,"urn:example:ext%d:1.0:User":{"a":"b"}`, i)
		}
		b.WriteString(`}`)
		return []byte(b.String())
	}
	if _, _, err := ParseUser(body(MaxExtensions)); err != nil {
		t.Errorf("%d extensions: %v", MaxExtensions, err)
	}
	if _, _, err := ParseUser(body(MaxExtensions + 1)); !isTooMany(err) {
		t.Errorf("%d extensions: %v, want tooMany", MaxExtensions+1, err)
	}
	a, _, err := ParseUser(body(MaxExtensions))
	if err != nil {
		t.Fatal(err)
	}
	p := mustPatch(t, `{"Operations":[{"op":"add","value":{"urn:example:more:1.0:User":{"a":"b"}}}]}`)
	if _, _, err := p.ApplyUser(a); !isTooMany(err) {
		t.Errorf("a PATCH adding one extension past the bound: %v, want tooMany", err)
	}
}

func TestRequestValuesBound(t *testing.T) {
	// Values the per-attribute bounds do not see (an extension kept as
	// given) still count towards MaxRequestValues.
	list := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat(`"x",`, n), ",") + "]" }
	body := func(n int) []byte {
		return []byte(`{"userName":"a","urn:example:ext:1.0:User":{"a":` + list(n/2) + `,"b":` + list(n-n/2) + `}}`)
	}
	if _, _, err := ParseUser(body(MaxRequestValues)); err != nil {
		t.Errorf("%d values: %v", MaxRequestValues, err)
	}
	if _, _, err := ParseUser(body(MaxRequestValues + 1)); !isTooMany(err) {
		t.Errorf("%d values: %v, want tooMany", MaxRequestValues+1, err)
	}
}

// TestWorkIsLinear holds the duplicate checks to linear work without
// timing anything: the allocations of a request of 4n values are at most
// a small multiple of 4× those of n values (pairwise comparisons through
// JSON, as before, made it about 16×).
func TestWorkIsLinear(t *testing.T) {
	userPatch := func(n int) func() {
		a, _, err := ParseUser(userWithEmails(MaxAttributeValues))
		if err != nil {
			t.Fatal(err)
		}
		vals := make([]string, n)
		for i := range vals {
			vals[i] = fmt.Sprintf(`{"value":"jane%d@example.com"}`, i)
		}
		p := mustPatch(t, `{"Operations":[{"op":"remove","path":"emails","value":[`+strings.Join(vals, ",")+`]},
			{"op":"add","path":"emails","value":[`+strings.Join(vals, ",")+`]}]}`)
		return func() {
			if _, _, err := p.ApplyUser(a); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name string
		n    int
		run  func(n int) func()
	}{
		{"POST /Users emails", MaxAttributeValues / 4, func(n int) func() {
			body := userWithEmails(n)
			return func() { _, _, _ = ParseUser(body) }
		}},
		{"POST /Groups members", MaxGroupMembers / 4, func(n int) func() {
			body := groupWithMembers(n)
			return func() { _, _ = ParseGroup(body) }
		}},
		{"PATCH add members", MaxMemberChanges / 4, func(n int) func() {
			p, err := ParsePatch(patchMembers("add", n))
			if err != nil {
				t.Fatal(err)
			}
			return func() { _, _, _ = p.MembersOnly() }
		}},
		{"PATCH remove and re-add emails", MaxAttributeValues / 4, userPatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			small := testing.AllocsPerRun(3, tc.run(tc.n))
			large := testing.AllocsPerRun(3, tc.run(4*tc.n))
			if ratio := large / small; ratio > 6 {
				t.Errorf("allocations: %.0f at n=%d, %.0f at 4n: %.1f×, want at most 6×", small, tc.n, large, ratio)
			}
		})
	}
}

// BenchmarkDuplicateChecks measures the multi-valued duplicate checks at n
// and 4n: ns/op divided by n (reported as ns/value) stays flat when the
// work is linear.
//
//	go test -run '^$' -bench DuplicateChecks -benchmem ./scim
func BenchmarkDuplicateChecks(b *testing.B) {
	for _, n := range []int{MaxAttributeValues / 4, MaxAttributeValues} {
		body := userWithEmails(n)
		b.Run(fmt.Sprintf("ParseUser/emails=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := ParseUser(body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/value")
		})
	}
	for _, n := range []int{MaxGroupMembers / 4, MaxGroupMembers} {
		body := groupWithMembers(n)
		b.Run(fmt.Sprintf("ParseGroup/members=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseGroup(body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/value")
		})
	}
	for _, n := range []int{MaxMemberChanges / 4, MaxMemberChanges} {
		body := patchMembers("add", n)
		b.Run(fmt.Sprintf("PatchAddMembers/members=%d", n), func(b *testing.B) {
			for b.Loop() {
				p, err := ParsePatch(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := p.MembersOnly(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/value")
		})
	}
}

// TestSizeSweep sends a sweep of sizes around and far past each bound:
// accepted exactly up to the bound, and the work per value (allocations)
// never grows with the size.
func TestSizeSweep(t *testing.T) {
	sweep := []struct {
		name  string
		limit int
		body  func(n int) []byte
		run   func(body []byte) error
	}{
		{"emails", MaxAttributeValues, userWithEmails, func(b []byte) error { _, _, err := ParseUser(b); return err }},
		{"members", MaxGroupMembers, groupWithMembers, func(b []byte) error { _, err := ParseGroup(b); return err }},
		{"member changes", MaxMemberChanges, func(n int) []byte { return patchMembers("add", n) }, func(b []byte) error {
			p, err := ParsePatch(b)
			if err == nil {
				_, _, err = p.MembersOnly()
			}
			return err
		}},
	}
	for _, s := range sweep {
		perValue := 0.0
		for _, n := range []int{1, 2, 7, s.limit / 10, s.limit / 3, s.limit - 1, s.limit, s.limit + 1, 2 * s.limit, 5 * s.limit} {
			body := s.body(n)
			err := s.run(body)
			if accepted := err == nil; accepted != (n <= s.limit) {
				t.Errorf("%s: %d values: err %v", s.name, n, err)
				continue
			}
			if err != nil && !isTooMany(err) {
				t.Errorf("%s: %d values: %v, want tooMany", s.name, n, err)
			}
			if n < s.limit/10 || n > s.limit {
				continue
			}
			allocs := testing.AllocsPerRun(1, func() { _ = s.run(body) }) / float64(n)
			if perValue == 0 {
				perValue = allocs
			} else if allocs > 1.5*perValue {
				t.Errorf("%s: %.1f allocations per value at %d, %.1f at %d", s.name, allocs, n, perValue, s.limit/10)
			}
		}
	}
}
