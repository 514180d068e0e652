//go:build linux

package core

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestRunContextStopsOnCancel: cancelling RunContext's context runs the
// whole shutdown sequence (the Before trigger sees Stopping, not yet
// stopped) and RunContext returns nil.
func TestRunContextStopsOnCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		ctx, cancel := context.WithCancel(context.Background())
		var sawStopping, sawRunning bool
		r.OnShutdown(func() <-chan struct{} {
			sawStopping, sawRunning = r.Stopping(), r.Running()
			return nil
		})
		r.CallWhenRunning(cancel)
		if r.Stopping() {
			t.Fatal("Stopping before the start")
		}
		if err := r.RunContext(ctx); err != nil {
			t.Fatal(err)
		}
		if !sawStopping || !sawRunning {
			t.Fatalf("in the Before trigger: Stopping %v, Running %v; want both true", sawStopping, sawRunning)
		}
		if r.Stopping() {
			t.Fatal("Stopping after the shutdown finished")
		}
	})
}

// TestConnectTCPContext: a connect bounded by a context that is cancelled,
// or whose deadline passes, while the SYN goes unanswered.
func TestConnectTCPContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, ErrAborted},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEach(t, func(t *testing.T, h *harness) {
				r := h.newReactor()
				addr, cleanup := fullBacklogListener(t)
				defer cleanup()
				ctx, cancel := tc.ctx()
				defer cancel()
				var got error
				_, err := r.ConnectTCPContext(ctx, addr, ClientFuncs{
					Build:  func(net.Addr) (Protocol, error) { return &protoFuncs{}, nil },
					Failed: func(err error) { got = err; must(t, r.Stop()) },
				})
				must(t, err)
				h.runReactor(r)
				if !errors.Is(got, tc.want) || !errors.Is(got, ctx.Err()) {
					t.Fatalf("ConnectionFailed(%v), want %v and %v", got, tc.want, ctx.Err())
				}
			})
		})
	}
}

// TestConnectionDoneIsEOF: a clean close matches io.EOF, for Go's habits;
// other reasons do not.
func TestConnectionDoneIsEOF(t *testing.T) {
	if !errors.Is(ErrConnectionDone, io.EOF) || errors.Is(ErrConnectionReset, io.EOF) || errors.Is(ErrAborted, io.EOF) {
		t.Fatal("only a clean close matches io.EOF")
	}
	if wrapped := (&ClosedError{Reason: ErrConnectionDone}); !errors.Is(wrapped, io.EOF) || !errors.Is(wrapped, ErrClosed) {
		t.Fatal("a ClosedError of a clean close matches io.EOF and ErrClosed")
	}
}
