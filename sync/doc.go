// Package sync keeps each resource's desired state and applies it to the
// tenant's store. The Ledger (Redis) holds desired and applied versions,
// uniqueness indexes and the dirty set; the Service is what the front door
// calls (write to the ledger, enqueue, answer from the ledger, adopt store
// entries); the Reconciler is the asynq handler that applies the latest
// desired state under a per-resource lease; the Sweeper re-enqueues
// resources left dirty.
package sync
