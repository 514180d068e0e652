package core

import (
	"context"
	"fmt"
)

// RunContext is Run, stopped when ctx is done: cancelling ctx calls Stop,
// so the shutdown sequence runs as usual (Before triggers say goodbye,
// connections are flushed and closed) and RunContext returns what Run
// returns, nil after a clean shutdown. The calling goroutine is the main
// thread. A typical server:
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err := r.RunContext(ctx)
func (r *Reactor) RunContext(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	stop := context.AfterFunc(ctx, func() { _ = r.Stop() })
	defer stop()
	if ctx.Err() != nil {
		// Cancelled already: start, then stop at once (the startup and
		// shutdown triggers still run, in order).
		if _, err := r.callWhenRunning(func() { _ = r.Stop() }); err != nil {
			return err
		}
	}
	return r.Run()
}

// ConnectTCPContext is ConnectTCP bounded by ctx instead of a timeout:
// when ctx is done before the connection is made, the attempt is abandoned
// and f.ConnectionFailed gets an error matching ErrAborted (cancelled) or
// ErrTimeout (deadline), and ctx's own error. Once the connection is made,
// ctx no longer matters: LoseConnection ends it. Main thread (or before the
// reactor starts).
func (r *Reactor) ConnectTCPContext(ctx context.Context, addr string, f ClientFactory, opts ...ListenOption) (*Connector, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	c, err := r.ConnectTCP(addr, f, 0, opts...)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() {
		_ = r.CallFromThread(func() {
			if c.done {
				return
			}
			kind := ErrAborted
			if ctx.Err() == context.DeadlineExceeded {
				kind = ErrTimeout
			}
			c.fail(fmt.Errorf("%w: connect to %s: %w", kind, c.addr, ctx.Err()))
		})
	})
	return c, nil
}
