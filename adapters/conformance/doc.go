// Package conformance is the one suite every user store passes.
// RunUserTests runs it against a Harness: a source of fresh, isolated stores
// of one backend plus a Backdoor that reads and writes the store directly,
// to check what a store really holds and to play the customer's own
// application (entries created outside scimbridge, unmapped fields).
//
// The fixture each harness builds is a customer's existing user store with
// the fields named by the Field constants: a key, username (required),
// given_name, family_name, email (unique), external_id, department (refusing
// RejectedDepartment), is_active (default true), password_hash, and plan
// (unmapped, default PlanDefault). Mapping gives the SCIM mapping onto it.
// RunGroupTests is the group suite: a GroupHarness gives fresh stores with
// users (Mapping) and groups (GroupMapping) mapped, a Backdoor to the users
// and a GroupBackdoor to the groups and their memberships. The group fixture
// has the fields named by the GroupField constants: a key, display_name
// (required), external_id, and note (unmapped, no default); a membership
// naming a user that does not exist must be refused. The suite covers
// create, rename, the same apply twice, adoption by displayName
// (case-insensitive), incremental membership (present and absent members,
// the last member, memberships made outside scimbridge), delete keeping the
// users, lookups, paged listing of groups and members, tenant isolation,
// metacharacters, and ErrConfig / ErrUnavailable.
//
// RunBatchTests is the suite of adapters.BatchStore (ApplyUsers): the user
// suite again with each apply a batch of one, a mixed batch compared with
// the same users applied one by one on an identical tenant (adoptions, a
// rename and a new entry with the old name in one batch, passwords,
// refusals), refused users failing alone, repeated userNames, mixed column
// sets, the same batch twice, an empty batch and an unreachable store.
// Store-specific batch cases (a trigger, the merged path itself) stay in
// the store's own tests.
//
// A backend's quirk is an explicit, commented t.Skip inside the suite, never
// a silent gap.
package conformance
