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
// SQLite connections run with busy_timeout(5000), WAL journaling and
// immediate transactions (appended to the DSN unless it sets them).
package sqlstore
