// Package sqlstore is the store for a tenant's existing SQL user table in
// PostgreSQL (pgx), MySQL / MariaDB (go-sql-driver) or SQLite (modernc, pure
// Go). Open is an adapters.Factory for the kinds "postgres", "mysql" and
// "sqlite".
//
// The table is the customer's: a write touches only the mapped columns, and
// only those whose value differs from the desired one, so applying the same
// user twice issues no UPDATE at all. The anchor is the key column's value.
// Identifiers come from a validated configuration and are quoted by the
// dialect (PostgreSQL and SQLite "x", MySQL `x`), so write them as the
// database stores them (PostgreSQL folds unquoted names to lower case);
// values always travel as bind parameters.
//
// An absent SCIM attribute clears its column on update (NULL) and is left
// out of an INSERT, so the column's default applies. Passwords are hashed
// (argon2id or bcrypt) into the password column, and not rewritten when the
// stored hash already verifies the password.
//
// Groups (when the tenant maps them) live in a group table and a
// membership (join) table of (group key, user key) rows; the store is an
// adapters.GroupStore. ApplyGroup writes only the mapped group columns and
// never the memberships. AddMembers and RemoveMembers work on the members
// named, in batches, and never read the group's member list: AddMembers
// probes which of the named members are rows already (group = ? AND user
// IN (...)) and inserts the others, also skipping unique violations (ON
// CONFLICT DO NOTHING, MySQL ON DUPLICATE KEY UPDATE; not INSERT IGNORE,
// which would hide a foreign-key violation), so it is idempotent with or
// without a unique constraint on the join table. A member that is not a
// user fails through the customer's foreign key: ErrRejected. RemoveGroup
// deletes the membership rows, then the group row, in one transaction.
// Index the join table on (group, user) so the cost of one member does not
// depend on the group's size.
//
// userName (and a group's displayName) are matched case-insensitively
// byte for byte after LOWER. On MySQL / MariaDB a column with a _ci
// collation is also compared with = first, so the match uses the column's
// index (collation.go); without an index on that column every apply of a
// new user reads the whole table.
//
// ApplyUsers (a drain's batch) applies its users in one transaction and
// checks the userNames of a run of anchor-less users with distinct
// userNames in one SELECT (a UNION ALL of each user's own LIMIT 2 match),
// so a new user costs about one statement, the INSERT (batch.go).
//
// SQLite connections run with busy_timeout(5000), WAL journaling, foreign
// keys enforced and immediate transactions (appended to the DSN unless it
// sets them).
package sqlstore
