package checksession

import (
	"context"
	"sync"
)

// flight is one piece of work that any number of callers wait on: one
// discovery fetch, one JWKS fetch, one silent request. It runs detached from
// any single caller, so one caller giving up does not fail the others.
type flight[T any] struct {
	done chan struct{}
	val  T
	err  error // val and err are set before done is closed
}

func newFlight[T any]() *flight[T] { return &flight[T]{done: make(chan struct{})} }

// finish records the outcome and releases every waiter.
func (f *flight[T]) finish(val T, err error) {
	f.val, f.err = val, err
	close(f.done)
}

// wait returns the outcome, or ctx's error if the caller gives up first.
func (f *flight[T]) wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// flights holds the work in flight by request key, so that the callers
// with one key share one piece of work.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight[*AuthResult]
}

func newFlights() *flights { return &flights{m: map[string]*flight[*AuthResult]{}} }

// join returns the flight in progress for key, or makes one and passes it
// to start before any other caller can see it. start runs under fs.mu: it
// starts the work (a goroutine) and returns.
func (fs *flights) join(key string, start func(f *flight[*AuthResult])) (f *flight[*AuthResult], joined bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f = fs.m[key]; f != nil {
		return f, true
	}
	f = newFlight[*AuthResult]()
	fs.m[key] = f
	start(f)
	return f, false
}

// has reports whether work for key is in flight.
func (fs *flights) has(key string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.m[key] != nil
}

// land is deferred by the goroutine that does flight f's work: it finishes f
// with *res and *err, or with the panic that cut the work short, once key is
// out of fs, so that the next caller starts a flight of its own.
func (fs *flights) land(log logger, f *flight[*AuthResult], key, what string, res **AuthResult, err *error) {
	if p := recover(); p != nil {
		*err = log.panicked(what, p)
	}
	fs.mu.Lock()
	delete(fs.m, key)
	fs.mu.Unlock()
	f.finish(*res, *err)
}
