package queue

// When an idle worker looks at its queues is decided in this file.
//
// asynq has no blocking dequeue: a worker with nothing to do runs its
// dequeue script on every queue, sleeps worker.poll_interval (0.5-1.5×),
// and runs them again, and its forwarder moves due retries every
// worker.retry_check_interval. Each of those is a script and the commands
// inside it, for every queue, for ever: most of an idle deployment's Redis
// traffic. A short interval costs Redis; a long one makes the first task
// after a quiet spell wait.
//
// Wake removes the trade. Every enqueue that adds a task calls Notify:
// this process's idle workers wake at once, and one PUBLISH on
// WakeChannel (at most one per wakeCoalesce per process, the last never
// dropped) wakes every other process's (Listen). A worker's asynq server
// runs on a Redis client with the IdleHook, which watches asynq's own
// script calls:
//
//   - after a round in which every queue's dequeue came back empty and
//     nothing woke the process since that round began, the next dequeue
//     waits for a wake, or for worker.idle_poll_interval (tasks that arrive
//     without a wake: a retry moved by another process, a lease-expired
//     task recovered, a dashboard's "run now", a wake lost while the
//     subscription was reconnecting; it re-subscribes and wakes itself);
//   - the forwarder's calls run at worker.retry_check_interval while the
//     worker dequeued or forwarded a task in the last activeWindow, and once per
//     worker.idle_poll_interval after that (a retry due later than that
//     waited at least activeWindow already; it is moved at most one idle
//     interval and one retry check late). A forward that moved a task
//     wakes the workers. Only a forward that succeeded counts, and the
//     EVAL go-redis sends after NOSCRIPT (a Redis that lost its scripts)
//     always goes through.
//
// Nothing here decides what runs or in which order, and no task can be
// lost by it: the worst a missed wake costs is one idle interval of delay.
// The hook recognises asynq's scripts by their keys (asynq:{q}:pending,
// :paused, ... and :scheduled/:retry, :pending), not by their text; if a
// later asynq changes them, the hook stops matching and the worker polls
// as asynq does.

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// WakeChannel is the pub/sub channel on which a process that queued tasks
// wakes the workers of every other process. The payload is the sender's
// id, so a process ignores its own (it woke its workers in process).
const WakeChannel = "scimbridge:queue:wake"

const (
	// wakeCoalesce bounds the wake PUBLISHes of one process: under load a
	// process queues thousands of tasks a second and one wake per 20 ms
	// tells the workers as much.
	wakeCoalesce = 20 * time.Millisecond
	// activeWindow is how long after its last sign of work (a task
	// dequeued or forwarded) a worker keeps forwarding
	// retries at worker.retry_check_interval: lease-contention retries
	// (100-300 ms) and the first failures' backoff (1 s, 2 s, ... 32 s)
	// fall inside it.
	activeWindow = time.Minute
)

// Wake tells idle workers that tasks were queued: in this process at once,
// in others through WakeChannel. Its zero value is not usable; use NewWake.
type Wake struct {
	rdb     redis.UniversalClient
	id      string
	log     *slog.Logger
	channel string // WakeChannel (tests use their own)

	mu      sync.Mutex
	gen     uint64
	changed chan struct{} // closed, and replaced, when gen moves

	kick chan struct{} // a PUBLISH is due (capacity 1)
}

// NewWake returns a Wake publishing through rdb; id names this process (a
// random string, so that it can ignore its own announcements).
func NewWake(rdb redis.UniversalClient, id string, log *slog.Logger) *Wake {
	return &Wake{rdb: rdb, id: id, log: log, channel: WakeChannel, changed: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// Notify is called after tasks were queued: this process's idle workers
// wake now, other processes' when Publish sends the next announcement.
func (w *Wake) Notify() {
	if w == nil {
		return
	}
	w.bump()
	select {
	case w.kick <- struct{}{}:
	default: // one is already due; it will say this too
	}
}

// bump wakes this process's idle workers.
func (w *Wake) bump() {
	w.mu.Lock()
	w.gen++
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// state returns the wake generation and a channel closed when it moves.
func (w *Wake) state() (uint64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gen, w.changed
}

// Publish sends the announcements Notify asks for until ctx ends, at most
// one per wakeCoalesce; then it sends the one still due, if any, so a
// command-line process that queued a task and exits still wakes the
// workers.
func (w *Wake) Publish(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			select {
			case <-w.kick:
				fctx, cancel := context.WithTimeout(context.Background(), time.Second)
				w.publish(fctx)
				cancel()
			default:
			}
			return
		case <-w.kick:
		}
		w.publish(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(wakeCoalesce):
		}
	}
}

func (w *Wake) publish(ctx context.Context) {
	if err := w.rdb.Publish(ctx, w.channel, w.id).Err(); err != nil && ctx.Err() == nil && w.log != nil {
		// A lost wake delays a task by at most worker.idle_poll_interval.
		w.log.Debug("queue: wake not published", "err", err)
	}
}

// Listen wakes this process's workers on every other process's
// announcement, and whenever the subscription is (re)established (one may
// have been missed while it was down), until ctx ends.
func (w *Wake) Listen(ctx context.Context) {
	ps := w.rdb.Subscribe(ctx, w.channel)
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(30 * time.Second))
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				w.bump()
			case *redis.Message:
				if m.Payload != w.id {
					w.bump()
				}
			}
		}
	}
}

// IdleHook is the go-redis hook of one asynq server's client (see the top
// of this file). queues is the number of queues the server consumes; idle
// is worker.idle_poll_interval. Release it before shutting the server
// down: a dequeue waiting for a wake returns at once, and none waits after.
func (w *Wake) IdleHook(queues int, idle time.Duration) *IdleHook {
	return &IdleHook{w: w, queues: queues, idle: idle, activeWindow: activeWindow, release: make(chan struct{}),
		empty: make(map[string]bool), forwarded: make(map[string]time.Time)}
}

// IdleHook makes an asynq server's idle polling wait for wakes.
type IdleHook struct {
	w            *Wake
	queues       int
	idle         time.Duration
	activeWindow time.Duration
	release      chan struct{}
	once         sync.Once

	mu sync.Mutex
	// empty holds the queues whose dequeue came back empty in the current
	// round: since the wake generation streak, with no task between.
	empty  map[string]bool
	streak uint64
	// active is the last sign of work: a task dequeued or forwarded.
	active    time.Time
	forwarded map[string]time.Time // last forward run per delayed key
}

// Release stops all waiting, for good (before the server's Shutdown).
func (h *IdleHook) Release() { h.once.Do(func() { close(h.release) }) }

func (h *IdleHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *IdleHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *IdleHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		kind, key := asynqScript(cmd.Args())
		switch kind {
		case scriptDequeue:
			gen := h.beforeDequeue(key)
			err := next(ctx, cmd)
			h.afterDequeue(key, gen, err)
			return err
		case scriptForward:
			// Only EVALSHA is thinned: a plain EVAL is go-redis's retry
			// after NOSCRIPT (a restarted or failed-over Redis lost its
			// scripts), the one call that loads the script again.
			if cmd.Name() == "evalsha" && h.skipForward(key) {
				if c, ok := cmd.(*redis.Cmd); ok {
					c.SetVal(int64(0))
					return nil
				}
			}
			err := next(ctx, cmd)
			c, ok := cmd.(*redis.Cmd)
			if !ok || err != nil {
				return err
			}
			n, _ := c.Int64()
			h.forwardDone(key, n)
			return err
		}
		return next(ctx, cmd)
	}
}

// beforeDequeue waits, when the last round found every queue empty and
// nothing woke the process since, for a wake, the idle interval or
// Release. It returns the wake generation the dequeue runs under.
func (h *IdleHook) beforeDequeue(queue string) uint64 {
	gen, changed := h.w.state()
	h.mu.Lock()
	if gen != h.streak {
		h.streak, h.empty = gen, make(map[string]bool)
	}
	wait := len(h.empty) >= h.queues
	h.mu.Unlock()
	if !wait {
		return gen
	}
	t := time.NewTimer(h.idle)
	select {
	case <-changed:
	case <-t.C:
	case <-h.release:
	}
	t.Stop()
	gen, _ = h.w.state()
	h.mu.Lock()
	h.streak, h.empty = gen, make(map[string]bool)
	h.mu.Unlock()
	return gen
}

// afterDequeue records the dequeue's answer: empty (redis.Nil) counts
// toward a round of empty queues if no wake came since the round began;
// a task or an error starts a new round.
func (h *IdleHook) afterDequeue(queue string, gen uint64, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == redis.Nil {
		if gen == h.streak {
			h.empty[queue] = true
		}
		return
	}
	h.empty = make(map[string]bool)
	if err == nil {
		h.active = time.Now()
	}
}

// skipForward says whether the forwarder's call for key may be answered
// "nothing moved" without asking Redis: only after activeWindow without
// work, and then not more than once per idle interval.
func (h *IdleHook) skipForward(key string) bool {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.release:
		return false
	default:
	}
	return now.Sub(h.active) >= h.activeWindow && now.Sub(h.forwarded[key]) < h.idle
}

// forwardDone records a forward that ran (only one that succeeded counts:
// a failed one is tried again at the next check); one that moved tasks is
// work, and wakes the dequeues.
func (h *IdleHook) forwardDone(key string, moved int64) {
	now := time.Now()
	h.mu.Lock()
	h.forwarded[key] = now
	if moved > 0 {
		h.active = now
	}
	h.mu.Unlock()
	if moved > 0 {
		h.w.bump()
	}
}

type scriptKind int

const (
	scriptOther scriptKind = iota
	scriptDequeue
	scriptForward
)

// asynqScript recognises asynq's dequeue script (four keys: a queue's
// pending, paused, active and lease) and forward script (two keys: a
// queue's scheduled or retry set, and its pending list) by their keys, as
// EVALSHA or EVAL. For a dequeue it returns the pending key (the queue),
// for a forward the delayed set.
func asynqScript(args []any) (scriptKind, string) {
	if len(args) < 5 {
		return scriptOther, ""
	}
	name, _ := args[0].(string)
	if name != "evalsha" && name != "eval" {
		return scriptOther, ""
	}
	k1, _ := args[3].(string)
	k2, _ := args[4].(string)
	if !strings.HasPrefix(k1, "asynq:{") {
		return scriptOther, ""
	}
	switch {
	case numKeys(args[2]) == 4 && strings.HasSuffix(k1, "}:pending") && strings.HasSuffix(k2, "}:paused"):
		return scriptDequeue, k1
	case numKeys(args[2]) == 2 && strings.HasSuffix(k2, "}:pending") &&
		(strings.HasSuffix(k1, "}:scheduled") || strings.HasSuffix(k1, "}:retry")):
		return scriptForward, k1
	}
	return scriptOther, ""
}

func numKeys(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	}
	return -1
}
