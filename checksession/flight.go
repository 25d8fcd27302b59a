package checksession

import "context"

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
