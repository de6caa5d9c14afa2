package queue

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// scriptCounter counts, on an asynq server's client, the calls of asynq's
// dequeue and forward scripts that reach Redis, recognised here by their
// keys independently of asynqScript.
type scriptCounter struct{ dequeues, forwards atomic.Int64 }

func (c *scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (c *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		a := cmd.Args()
		if len(a) > 4 && (cmd.Name() == "evalsha" || cmd.Name() == "eval") {
			k, _ := a[3].(string)
			switch {
			case strings.HasSuffix(k, ":pending"):
				c.dequeues.Add(1)
			case strings.HasSuffix(k, ":retry"), strings.HasSuffix(k, ":scheduled"):
				c.forwards.Add(1)
			}
		}
		return next(ctx, cmd)
	}
}

// wakeRig is a worker process (an asynq server whose client has the
// IdleHook, a Wake listening on a channel of the test's own) and a
// producer process (an Enqueuer whose Wake publishes on it).
type wakeRig struct {
	queue    string
	hook     *IdleHook
	counter  *scriptCounter
	srv      *asynq.Server
	worker   *Wake
	producer *Enqueuer
	insp     *asynq.Inspector
}

func newWakeRig(t *testing.T, idle, activeWindow time.Duration, handler asynq.HandlerFunc) *wakeRig {
	t.Helper()
	opt := testRedisOpt(t)
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = insp.Close() })
	q := testQueue(t, insp)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	pubsub := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = pubsub.Close() })
	channel := "scimbridge:test:wake:" + q
	worker := NewWake(pubsub, "worker", nil)
	worker.channel = channel
	listening := make(chan struct{})
	go func() {
		// Listen wakes the worker when its subscription is established:
		// the test starts once that has happened.
		_, changed := worker.state()
		go worker.Listen(ctx)
		<-changed
		close(listening)
	}()
	producer := NewWake(pubsub, "api", nil)
	producer.channel = channel
	go producer.Publish(ctx)
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("the wake subscription was not established")
	}

	client := opt.MakeRedisClient().(redis.UniversalClient)
	hook := worker.IdleHook(1, idle)
	hook.activeWindow = activeWindow
	client.AddHook(hook)
	counter := &scriptCounter{}
	client.AddHook(counter) // inner: counts what reaches Redis
	srv := asynq.NewServerFromRedisClient(client, asynq.Config{
		Concurrency:              2,
		Queues:                   map[string]int{q: 1},
		TaskCheckInterval:        100 * time.Millisecond,
		DelayedTaskCheckInterval: 200 * time.Millisecond,
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 0 },
		LogLevel:                 asynq.FatalLevel,
		ShutdownTimeout:          time.Second,
	})
	mux := asynq.NewServeMux()
	mux.Handle("test:wake", handler)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hook.Release()
		srv.Shutdown()
		_ = client.Close()
	})
	enq := NewEnqueuer(asynq.NewClient(opt), 3, time.Minute).WithWake(producer)
	t.Cleanup(func() { _ = enq.Close() })
	return &wakeRig{queue: q, hook: hook, counter: counter, srv: srv, worker: worker, producer: enq, insp: insp}
}

func (r *wakeRig) enqueue(t *testing.T, e *Enqueuer, id string) {
	t.Helper()
	if err := e.enqueue(context.Background(), asynq.NewTask("test:wake", []byte(id)), id,
		asynq.Queue(r.queue), asynq.TaskID(id), asynq.MaxRetry(3)); err != nil {
		t.Fatal(err)
	}
}

// waitHandled waits for the task id's handling, failing after 15 s: with
// an idle interval of a minute and no wake, it would not come before.
func waitHandled(t *testing.T, handled <-chan string, id string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case got := <-handled:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("task %s was not handled: the idle worker did not wake", id)
		}
	}
}

// An idle worker stops polling (no dequeue reaches Redis while nothing
// happens), and a task queued by another process wakes it through the
// channel: it runs long before the idle interval (a minute) would have
// found it.
func TestIdleWorkerWaitsForAWakeAndAnotherProcessWakesIt(t *testing.T) {
	t.Parallel()
	handled := make(chan string, 16)
	r := newWakeRig(t, time.Minute, time.Minute, func(_ context.Context, task *asynq.Task) error {
		handled <- string(task.Payload())
		return nil
	})
	// The first rounds poll (asynq's 100 ms), then the worker waits.
	time.Sleep(time.Second)
	if r.counter.dequeues.Load() == 0 {
		t.Fatal("no dequeue script seen: the test's script recognition is wrong")
	}
	before := r.counter.dequeues.Load()
	time.Sleep(2 * time.Second)
	if n := r.counter.dequeues.Load() - before; n > 1 {
		t.Errorf("an idle worker ran %d dequeues in 2 s with nothing to wake it (asynq alone: about 20)", n)
	}

	r.enqueue(t, r.producer, "from-another-process")
	waitHandled(t, handled, "from-another-process")

	// A task queued in the worker's own process wakes it in process.
	local := NewEnqueuer(asynq.NewClient(testRedisOpt(t)), 3, time.Minute).WithWake(r.worker)
	t.Cleanup(func() { _ = local.Close() })
	time.Sleep(time.Second) // idle again
	r.enqueue(t, local, "from-this-process")
	waitHandled(t, handled, "from-this-process")

}

// A retry moved by this worker's forwarder wakes its dequeue (the forward
// answers how many tasks it moved), and after the active window the
// forwarder reaches Redis once per idle interval, not every check.
func TestForwardedRetryWakesTheWorkerAndIdleForwardingIsSparse(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	handled := make(chan string, 16)
	r := newWakeRig(t, time.Minute, time.Minute, func(_ context.Context, task *asynq.Task) error {
		if calls.Add(1) == 1 {
			return errors.New("first attempt fails")
		}
		handled <- string(task.Payload())
		return nil
	})
	time.Sleep(time.Second) // idle: the dequeue waits
	r.enqueue(t, r.producer, "retried")
	// Attempt 1 fails; the retry lands in the retry set, due at once;
	// the forwarder moves it and wakes the waiting dequeue (without that
	// the dequeue would wait the idle minute).
	waitHandled(t, handled, "retried")
	if calls.Load() != 2 {
		t.Fatalf("handler ran %d times, want 2 (one failure, one retry)", calls.Load())
	}

	sparse := newWakeRig(t, time.Second, 0, func(context.Context, *asynq.Task) error { return nil })
	time.Sleep(time.Second)
	before := sparse.counter.forwards.Load()
	time.Sleep(3 * time.Second)
	// asynq alone: 3 s / 200 ms × 2 sets = 30 forward calls.
	if n := sparse.counter.forwards.Load() - before; n == 0 || n > 10 {
		t.Errorf("idle forwarder reached Redis %d times in 3 s; want 2-8 (once per second per set)", n)
	}
}

// A task that arrives without a wake (a dashboard's "run now", a retry
// another worker moved, a wake lost in a reconnect) is found at the idle
// interval.
func TestUnannouncedTaskIsFoundAtTheIdleInterval(t *testing.T) {
	t.Parallel()
	handled := make(chan string, 1)
	r := newWakeRig(t, time.Second, time.Minute, func(_ context.Context, task *asynq.Task) error {
		handled <- string(task.Payload())
		return nil
	})
	time.Sleep(time.Second)
	silent := NewEnqueuer(asynq.NewClient(testRedisOpt(t)), 3, time.Minute) // no wake
	t.Cleanup(func() { _ = silent.Close() })
	r.enqueue(t, silent, "unannounced")
	waitHandled(t, handled, "unannounced")
}

// Release lets a dequeue that waits for a wake go at once, so a worker's
// Shutdown does not wait for the idle interval.
func TestReleaseEndsTheWait(t *testing.T) {
	t.Parallel()
	r := newWakeRig(t, time.Hour, time.Hour, func(context.Context, *asynq.Task) error { return nil })
	time.Sleep(time.Second) // the dequeue waits (for an hour)
	done := make(chan struct{})
	go func() {
		r.hook.Release()
		r.srv.Shutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown after Release still waited for the idle interval")
	}
}

// asynqScript tells asynq's dequeue and forward calls from everything
// else, by their keys.
func TestAsynqScriptRecognition(t *testing.T) {
	cases := []struct {
		args []any
		kind scriptKind
		key  string
	}{
		{[]any{"evalsha", "abc", 4, "asynq:{q1}:pending", "asynq:{q1}:paused", "asynq:{q1}:active", "asynq:{q1}:lease", 1, "asynq:{q1}:t:"}, scriptDequeue, "asynq:{q1}:pending"},
		{[]any{"eval", "src", int64(4), "asynq:{q1}:pending", "asynq:{q1}:paused", "a", "b"}, scriptDequeue, "asynq:{q1}:pending"},
		{[]any{"evalsha", "abc", 2, "asynq:{q1}:retry", "asynq:{q1}:pending", 1}, scriptForward, "asynq:{q1}:retry"},
		{[]any{"evalsha", "abc", 2, "asynq:{q1}:scheduled", "asynq:{q1}:pending", 1}, scriptForward, "asynq:{q1}:scheduled"},
		{[]any{"evalsha", "abc", 2, "asynq:{q1}:pending", "asynq:{q1}:paused"}, scriptOther, ""},   // wrong key count
		{[]any{"evalsha", "abc", 4, "sb:{t}:pending", "sb:{t}:paused", "a", "b"}, scriptOther, ""}, // not asynq's
		{[]any{"rpoplpush", "asynq:{q1}:pending", "asynq:{q1}:active", "x", "y"}, scriptOther, ""},
		{[]any{"evalsha", "abc", 1, "asynq:{q1}:retry"}, scriptOther, ""},
	}
	for _, c := range cases {
		kind, key := asynqScript(c.args)
		if kind != c.kind || key != c.key {
			t.Errorf("asynqScript(%v) = %v %q, want %v %q", c.args, kind, key, c.kind, c.key)
		}
	}
}

// BenchmarkIdlePickup: the time from an enqueue to its handler's start on
// a worker that has been idle for 300 ms, with the wake (poll 100 ms,
// idle poll 5 s; "wake" in the same process, "wake-pubsub" from another
// Wake through the channel) and with asynq's polling alone at 100 ms and
// at 500 ms (the old default). Reported as ms/pickup (mean) and max-ms.
func BenchmarkIdlePickup(b *testing.B) {
	for _, v := range []struct {
		name         string
		wake, pubsub bool
		poll         time.Duration
	}{
		{"wake", true, false, 100 * time.Millisecond},
		{"wake-pubsub", true, true, 100 * time.Millisecond},
		{"poll100ms", false, false, 100 * time.Millisecond},
		{"poll500ms", false, false, 500 * time.Millisecond},
	} {
		b.Run(v.name, func(b *testing.B) {
			opt := testRedisOpt(b)
			insp := asynq.NewInspector(opt)
			defer insp.Close()
			q := "qbench-" + v.name + "-" + time.Now().Format("150405.000")
			defer func() { _ = insp.DeleteQueue(q, true) }()
			pubsub := opt.MakeRedisClient().(redis.UniversalClient)
			defer pubsub.Close()
			w := NewWake(pubsub, "bench", nil)
			w.channel = "scimbridge:bench:wake:" + q
			client := opt.MakeRedisClient().(redis.UniversalClient)
			defer client.Close()
			hook := w.IdleHook(1, 5*time.Second)
			if v.wake {
				client.AddHook(hook)
			}
			started := make(chan time.Time, 1)
			srv := asynq.NewServerFromRedisClient(client, asynq.Config{
				Concurrency: 2, Queues: map[string]int{q: 1}, TaskCheckInterval: v.poll,
				LogLevel: asynq.FatalLevel, ShutdownTimeout: time.Second,
			})
			mux := asynq.NewServeMux()
			mux.HandleFunc("bench:pickup", func(context.Context, *asynq.Task) error {
				started <- time.Now()
				return nil
			})
			if err := srv.Start(mux); err != nil {
				b.Fatal(err)
			}
			defer func() { hook.Release(); srv.Shutdown() }()
			enq := NewEnqueuer(asynq.NewClient(opt), 0, time.Minute)
			switch {
			case v.pubsub:
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				_, subscribed := w.state()
				go w.Listen(ctx)
				<-subscribed
				other := NewWake(pubsub, "other", nil)
				other.channel = w.channel
				go other.Publish(ctx)
				enq.WithWake(other)
			case v.wake:
				enq.WithWake(w)
			}
			defer enq.Close()
			var total, worst time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				time.Sleep(300 * time.Millisecond)
				b.StartTimer()
				t0 := time.Now()
				id := q + "-" + strconv.Itoa(i)
				if err := enq.enqueue(context.Background(), asynq.NewTask("bench:pickup", nil), id, asynq.Queue(q), asynq.TaskID(id)); err != nil {
					b.Fatal(err)
				}
				d := (<-started).Sub(t0)
				total += d
				worst = max(worst, d)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/pickup")
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
		})
	}
}

// A Redis that lost its scripts (restart, failover, SCRIPT FLUSH) answers
// the forwarder's EVALSHA with NOSCRIPT, and go-redis sends EVAL, which
// loads the script again: on an idle worker the EVAL must reach Redis (a
// thinned EVAL would leave every retry stuck), the failed EVALSHA must not
// count as a forward, and a forward that moved tasks wakes the dequeues.
func TestIdleForwardAfterNoscriptReachesRedis(t *testing.T) {
	w := NewWake(nil, "worker", nil)
	h := w.IdleHook(1, time.Minute) // idle: no task seen, active window long past
	var sent []string
	process := h.ProcessHook(func(_ context.Context, cmd redis.Cmder) error {
		sent = append(sent, cmd.Name())
		c := cmd.(*redis.Cmd)
		if cmd.Name() == "evalsha" {
			err := errors.New("NOSCRIPT No matching script. Please use EVAL.")
			c.SetErr(err)
			return err
		}
		c.SetVal(int64(2)) // moved two retries
		return nil
	})
	ctx := context.Background()
	forward := func(name string) *redis.Cmd {
		return redis.NewCmd(ctx, name, "x", 2, "asynq:{q}:retry", "asynq:{q}:pending", 1, "asynq:{q}:t:", 1, "asynq:{q}:g:")
	}
	gen, _ := w.state()
	_ = process(ctx, forward("evalsha")) // first forward of the key: not thinned
	_ = process(ctx, forward("eval"))
	if len(sent) != 2 || sent[1] != "eval" {
		t.Fatalf("calls that reached Redis: %v, want [evalsha eval]", sent)
	}
	if g, _ := w.state(); g == gen {
		t.Error("a forward that moved tasks did not wake the dequeues")
	}
	// The EVAL succeeded and moved tasks: that is work, so the forwarder
	// keeps its pace; once the worker is idle again, an EVALSHA within the
	// idle interval of the last successful forward is thinned...
	h.mu.Lock()
	h.active = time.Time{}
	h.mu.Unlock()
	sent = nil
	c := forward("evalsha")
	if err := process(ctx, c); err != nil || len(sent) != 0 || c.Val() != int64(0) {
		t.Fatalf("idle EVALSHA after a forward: sent %v, val %v, err %v; want thinned (0, not sent)", sent, c.Val(), err)
	}
	// ... but never a plain EVAL.
	_ = process(ctx, forward("eval"))
	if len(sent) != 1 {
		t.Fatalf("a plain EVAL was thinned: sent %v", sent)
	}
}
