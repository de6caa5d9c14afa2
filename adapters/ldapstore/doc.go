// Package ldapstore is the LDAP user and group store (OpenLDAP and other
// RFC 4511 servers, and an Active Directory dialect) behind the adapters
// contract.
//
// Open returns a store implementing adapters.Store and adapters.GroupStore.
// Entries are identified by an immutable anchor (entryUUID, or objectGUID
// rendered as a GUID string for AD), never by DN. Every filter value is
// escaped with ldap.EscapeFilter (binary GUIDs byte by byte) and every RDN
// value with ldap.EscapeDN. Writes touch only the mapped attributes (and the
// deactivation attribute of the configured strategy). One exception: a
// new entry whose object classes require cn (person and its subclasses)
// while cn is neither mapped nor the RDN attribute gets cn = the RDN value
// at creation, and cn is never touched afterwards.
//
// Lookups by userName/email use the attribute's matching rule and are then
// narrowed to SCIM equality (case-insensitive, no space folding);
// externalId is compared exactly. Listing orders by anchor; the cursor is
// the last anchor returned (see users.go).
//
// Files: store.go (Open, connection pool, error translation), users.go
// (users, deactivation strategies, listing), password.go (Password Modify,
// hashed userPassword, AD unicodePwd), groups.go (groups and membership),
// ad.go (objectGUID and unicodePwd encodings), batch.go (ApplyUsers: a
// drain's batch in runs whose lookups are merged, 50 userNames or anchors
// a search, in the order given), writer.go (a run's writes, up to 8 in
// flight on its connection, in order wherever order can matter).
package ldapstore
