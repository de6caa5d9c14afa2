// Package adapters is the contract between scimbridge and a tenant's existing
// user store, and owns what a store failure means.
//
//	adapters.go, groups.go   the Store, BatchStore and GroupStore interfaces a
//	                         store kind implements, and the store configuration
//	errors.go                the sentinel errors stores wrap, and Classify: the
//	                         one decision of what an error means (config,
//	                         rejected, not_found, unavailable, other; Permanent
//	                         or retried), used by metrics, spans and the worker
//	mapping.go, group_mapping.go
//	                         the mapping engine: UserMapper and GroupMapper,
//	                         compiled once per store, turn SCIM attributes into
//	                         store fields and back; preview.go shows an operator
//	                         the fields a user maps to
//	validate.go              configuration problems, all reported at once
//	hostpolicy.go            where store connections may go (stores.allowed_networks)
//	trace.go                 how a store call's span records its outcome
//
// Implementations live in sub-packages (sqlstore, ldapstore); only cmd
// imports them, through their NewFactory. conformance is the suite every
// store passes.
package adapters
