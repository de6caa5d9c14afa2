package sync

import (
	"fmt"
	"strings"
)

// Required settings. The library structs of this package (Reconciler,
// Service, Sweeper, DirtyCollector, Admin, TenantLimiter) invent no
// defaults: their timeouts, intervals and limits come from the caller
// (cmd/scimbridge holds the one table of defaults). A missing one is a
// wiring mistake and panics with a message naming it, as early as the
// struct allows: its Check (which reports every missing setting at once)
// runs where its work starts (Reconciler.Register, Admin.Register,
// Sweeper.Run, NewTenantLimiter, NewDirtyCollector), and a method that
// needs an unset value panics with the same words, instead of running with
// a made-up value.

// setting is one required setting and whether it is set.
type setting struct {
	name string
	set  bool
}

// checkRequired reports the unset settings of a struct of type typ.
func checkRequired(typ string, settings ...setting) error {
	var missing []string
	for _, s := range settings {
		if !s.set {
			missing = append(missing, s.name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("sync: %s: required setting(s) not set: %s (the caller must pass them; see cmd/scimbridge's defaults)",
		typ, strings.Join(missing, ", "))
}

// mustCheck panics with a Check error.
func mustCheck(err error) {
	if err != nil {
		panic(err)
	}
}

// required returns v, the value of the required setting typ.name; it
// panics when v is unset (zero or negative; for a setting where a negative
// value means something, use requiredNonZero).
func required[T ~int64 | ~int](typ, name string, v T) T {
	if v <= 0 {
		panic(checkRequired(typ, setting{name, false}))
	}
	return v
}

// requiredNonZero is required for a setting where a negative value has a
// meaning: only zero is unset.
func requiredNonZero(typ, name string, v int) int {
	if v == 0 {
		panic(checkRequired(typ, setting{name, false}))
	}
	return v
}
