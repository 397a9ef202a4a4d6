package main

import "context"

// later is a value made once in the background (after the phone's first registration) that
// callers needing it sooner wait for.
type later[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func newLater[T any]() later[T] { return later[T]{done: make(chan struct{})} }

// set makes the value (or the error making it) known to every get.
func (l *later[T]) set(v T, err error) {
	l.v, l.err = v, err
	close(l.done)
}

// get waits for the value, or for ctx.
func (l *later[T]) get(ctx context.Context) (T, error) {
	select {
	case <-l.done:
		return l.v, l.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// now is the value if it is made already.
func (l *later[T]) now() (T, bool) {
	select {
	case <-l.done:
		return l.v, true
	default:
		var zero T
		return zero, false
	}
}
