// Package adapters is the contract between scimbridge and a tenant's existing
// user store: the Store interface every store kind implements, the store
// configuration and attribute mapping, the mapping engine that turns SCIM
// attributes into store fields and back, and the sentinel errors that give a
// store failure its meaning (retry, or record and stop). Implementations live
// in sub-packages (sqlstore, ldapstore); only cmd imports them.
package adapters
