package scim

import "strings"

// MemberDelta is the change a Group PATCH makes to the members, so that the
// caller applies only the change (one row or one LDAP value per member)
// instead of loading and rewriting a large group.
//
// When Replace is false, Add are members to add (adding one already present
// is not an error) and Remove are member ids to remove (removing one that is
// absent is not an error); no id is in both. When Replace is true the
// members were replaced as a whole: Add is the complete new list (possibly
// empty: all members removed) and Remove is empty.
type MemberDelta struct {
	Replace bool
	Add     []Member
	Remove  []string
}

// Empty reports whether the delta changes nothing.
func (d MemberDelta) Empty() bool {
	return !d.Replace && len(d.Add) == 0 && len(d.Remove) == 0
}

// Apply returns current with the delta applied (for callers that do hold the
// whole list, e.g. small groups or tests). Order: kept members first, in
// their order, then the added ones.
func (d MemberDelta) Apply(current []Member) []Member {
	if d.Replace {
		return append([]Member(nil), d.Add...)
	}
	drop := map[string]bool{}
	for _, id := range d.Remove {
		drop[id] = true
	}
	index := map[string]int{}
	var out []Member
	for _, m := range current {
		if drop[m.Value] {
			continue
		}
		if _, dup := index[m.Value]; dup {
			continue
		}
		index[m.Value] = len(out)
		out = append(out, m)
	}
	for _, m := range d.Add {
		if i, ok := index[m.Value]; ok {
			if m.Display != "" {
				out[i].Display = m.Display
			}
			continue
		}
		index[m.Value] = len(out)
		out = append(out, m)
	}
	return out
}

// memberChanges builds a MemberDelta with one map lookup per member named,
// so a PATCH naming n members costs O(n): a member dropped from the middle
// of a list is blanked (Value "", which no member has) and the blanks are
// left out once, by delta.
type memberChanges struct {
	replace  bool
	adds     []Member
	addAt    map[string]int // live entries of adds by value
	removes  []string
	removeAt map[string]int // live entries of removes by value
}

func (d *memberChanges) add(m Member) {
	if d.addAt == nil {
		d.addAt, d.removeAt = map[string]int{}, map[string]int{}
	}
	if i, ok := d.removeAt[m.Value]; ok {
		d.removes[i] = ""
		delete(d.removeAt, m.Value)
	}
	if i, ok := d.addAt[m.Value]; ok {
		d.adds[i] = m
		return
	}
	d.addAt[m.Value] = len(d.adds)
	d.adds = append(d.adds, m)
}

func (d *memberChanges) remove(id string) {
	if d.addAt == nil {
		d.addAt, d.removeAt = map[string]int{}, map[string]int{}
	}
	if i, ok := d.addAt[id]; ok {
		d.adds[i].Value = ""
		delete(d.addAt, id)
	}
	if _, ok := d.removeAt[id]; !ok && !d.replace {
		d.removeAt[id] = len(d.removes)
		d.removes = append(d.removes, id)
	}
}

func (d *memberChanges) reset(list []Member) {
	*d = memberChanges{replace: true}
	for _, m := range list {
		d.add(m)
	}
}

// check refuses more members than one request may name: a whole list over
// MaxGroupMembers, or changes over MaxMemberChanges.
func (d *memberChanges) check() error {
	if d.replace {
		if n := len(d.addAt); n > MaxGroupMembers {
			return BadRequest(ScimTypeTooMany, "members: %d members, at most %d in one request", n, MaxGroupMembers)
		}
		return nil
	}
	if n := len(d.addAt) + len(d.removeAt); n > MaxMemberChanges {
		return BadRequest(ScimTypeTooMany, "members: %d membership changes, at most %d in one PATCH", n, MaxMemberChanges)
	}
	return nil
}

// delta is the MemberDelta built (nil lists when empty).
func (d *memberChanges) delta() MemberDelta {
	out := MemberDelta{Replace: d.replace}
	for _, m := range d.adds {
		if m.Value != "" {
			out.Add = append(out.Add, m)
		}
	}
	for _, id := range d.removes {
		if id != "" {
			out.Remove = append(out.Remove, id)
		}
	}
	return out
}

// ApplyGroup applies the operations to a copy of a, all or nothing. Member
// operations are not applied to a: they come back as a MemberDelta, and any
// members key in a is left out of the result. Handled member operations:
// add "members" (or path-less {"members": [...]}), replace "members" (whole
// list), remove "members" (all), remove "members" with a value list (just
// those: Entra), remove `members[value eq "x"]` (also `or`-ed value eqs),
// add/replace `members[value eq "x"]` (adds x). Other filters on members are
// 400 invalidPath; sub-attribute operations on members (display) are
// ignored. The rename form with the read-only id in the value (Okta) is
// accepted, id ignored. Errors are *Error naming the failing operation.
func (p *Patch) ApplyGroup(a Attrs) (Attrs, MemberDelta, error) {
	out := a.Clone()
	if out == nil {
		out = Attrs{}
	}
	deleteKey(out, "members")
	var changes memberChanges
	t := patchTarget{core: GroupSchema, members: &changes, set: p.set.set()}
	for i, op := range p.Operations {
		if err := t.apply(out, op); err != nil {
			return nil, MemberDelta{}, opError(i, err)
		}
	}
	if err := checkRequired(out, GroupSchema); err != nil {
		return nil, MemberDelta{}, err
	}
	if err := checkExtensions(out); err != nil {
		return nil, MemberDelta{}, err
	}
	return out, changes.delta(), nil
}

// MembersOnly reports whether every operation of the patch targets the
// group's members (a path on members, or a path-less value holding only
// members) and, if so, returns the membership change exactly as
// ApplyGroup would: such a patch needs none of the group's other
// attributes. An error is ApplyGroup's error for the same patch.
func (p *Patch) MembersOnly() (MemberDelta, bool, error) {
	if len(p.Operations) == 0 {
		return MemberDelta{}, false, nil
	}
	for _, op := range p.Operations {
		if !targetsMembers(op) {
			return MemberDelta{}, false, nil
		}
	}
	var changes memberChanges
	t := patchTarget{core: GroupSchema, members: &changes, set: p.set.set()}
	scratch := Attrs{}
	for i, op := range p.Operations {
		if err := t.apply(scratch, op); err != nil {
			return MemberDelta{}, true, opError(i, err)
		}
	}
	return changes.delta(), true, nil
}

// targetsMembers: the operation's path is members (with or without a
// filter or sub-attribute), or it has no path and its value's only key is
// members.
func targetsMembers(op PatchOperation) bool {
	if op.Path != nil {
		return !op.Path.IsExtension() && op.Path.URN() == "" && strings.EqualFold(op.Path.name, "members")
	}
	m, ok := asMap(op.Value)
	if !ok || len(m) == 0 {
		return false
	}
	for k := range m {
		if !strings.EqualFold(k, "members") {
			return false
		}
	}
	return true
}

func (t patchTarget) applyMembers(op string, path *Path, v any, hasValue bool) error {
	if err := t.applyMemberOp(op, path, v, hasValue); err != nil {
		return err
	}
	return t.members.check()
}

func (t patchTarget) applyMemberOp(op string, path *Path, v any, hasValue bool) error {
	d := t.members
	if path.sub != "" {
		return nil // members[...].display and the like: nothing we store
	}
	if path.filter != nil {
		ids, ok := memberIDs(path.filter)
		if !ok {
			return BadRequest(ScimTypeInvalidPath, "members filter %q: only value eq conditions are supported", path.raw)
		}
		if op == OpRemove {
			for _, id := range ids {
				d.remove(id)
			}
			return nil
		}
		for _, id := range ids {
			m := Member{Value: id}
			if given, err := parseMembers(v); err == nil && len(given) == 1 {
				m = given[0]
				m.Value = id
			}
			d.add(m)
		}
		return nil
	}
	switch op {
	case OpRemove:
		if !hasValue || v == nil {
			d.reset(nil)
			return nil
		}
		list, err := parseMembers(v)
		if err != nil {
			return err
		}
		for _, m := range list {
			d.remove(m.Value)
		}
	case OpAdd:
		list, err := parseMembers(v)
		if err != nil {
			return err
		}
		for _, m := range list {
			d.add(m)
		}
	case OpReplace:
		list, err := parseMembers(v)
		if err != nil {
			return err
		}
		d.reset(list)
	}
	return nil
}

// parseMembers reads a members value given in a PATCH (a list, or one
// object; "$ref": null accepted).
func parseMembers(v any) ([]Member, error) {
	n, err := normalizeValue(GroupSchema.Attribute("members"), v, "members")
	if err != nil {
		return nil, err
	}
	return normalizeMembers(n)
}

// memberIDs extracts the ids of a members filter made of `value eq "x"`
// conditions joined by or.
func memberIDs(e expr) ([]string, bool) {
	switch t := e.(type) {
	case orExpr:
		l, ok1 := memberIDs(t.left)
		r, ok2 := memberIDs(t.right)
		return append(l, r...), ok1 && ok2
	case compareExpr:
		s, isStr := t.value.(string)
		if t.op == "eq" && isStr && t.attr.sub == "" && t.attr.urn == "" && equalFold(t.attr.name, "value") {
			return []string{s}, true
		}
	}
	return nil, false
}
