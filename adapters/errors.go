package adapters

import (
	"context"
	"errors"
	"net"
)

// What a failure means is decided here and nowhere else. Stores wrap one
// of the sentinels below where the error arises ("sqlstore: insert user %q:
// %w"); Classify sorts any error into a Class; every metric label, span
// status and retry decision is taken from that Class.

// Sentinel errors. Callers compare with errors.Is.
var (
	// ErrNotFound: the entry does not exist in the store.
	ErrNotFound = errors.New("not found in store")
	// ErrAlreadyExists: a create met an existing entry it cannot adopt.
	ErrAlreadyExists = errors.New("already exists in store")
	// ErrRejected: the store refused the data (constraint, schema violation,
	// permission). Permanent for this desired state: do not retry blindly.
	ErrRejected = errors.New("rejected by store")
	// ErrUnavailable: a backend (the store, or the ledger's Redis, whose
	// own errors wrap this one) cannot be reached or timed out. Retry later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrConfig: the tenant's store configuration is invalid.
	ErrConfig = errors.New("invalid store configuration")
)

// Class is what a failure means for scimbridge. Its string is the value of
// the `class` metric label and of the `scimbridge.error_class` span
// attribute.
type Class string

// The classes, from the most to the least specific.
const (
	// ClassNone: no error.
	ClassNone Class = ""
	// ClassConfig: the tenant's store configuration is wrong (ErrConfig).
	// Permanent until the operator changes it.
	ClassConfig Class = "config"
	// ClassRejected: the store refused the data (ErrRejected, and
	// ErrAlreadyExists, which stores wrap with it). Permanent for this
	// desired state.
	ClassRejected Class = "rejected"
	// ClassNotFound: the entry does not exist (ErrNotFound).
	ClassNotFound Class = "not_found"
	// ClassUnavailable: a backend could not be reached in time
	// (ErrUnavailable, a deadline, a network error). Retried.
	ClassUnavailable Class = "unavailable"
	// ClassOther: anything else (a bug, an unexpected reply). Retried.
	ClassOther Class = "other"
)

// Classify sorts err into its Class.
func Classify(err error) Class {
	var ne net.Error
	switch {
	case err == nil:
		return ClassNone
	case errors.Is(err, ErrConfig):
		return ClassConfig
	case errors.Is(err, ErrRejected), errors.Is(err, ErrAlreadyExists):
		return ClassRejected
	case errors.Is(err, ErrNotFound):
		return ClassNotFound
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
		return ClassUnavailable
	}
	return ClassOther
}

// Permanent reports whether retrying the same desired state is pointless:
// the store rejected it, or the configuration is wrong. Such a failure is
// recorded on the resource and waits for the next SCIM change (or a replay).
func (c Class) Permanent() bool { return c == ClassRejected || c == ClassConfig }

// IsPermanent reports whether err is a permanent failure (Classify(err).Permanent()).
func IsPermanent(err error) bool { return Classify(err).Permanent() }
