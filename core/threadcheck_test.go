//go:build unix

package core

import (
	"net"
	"strings"
	"testing"
)

// TestThreadCheckReportsOffMainCalls: with WithThreadCheck, Transport.Write,
// CallLater and AddReader called from another goroutine are logged with the
// caller's stack, on every backend and driver; the same calls on the main
// thread are not. The other goroutine runs while the main thread waits for
// it, so the calls do not race (the race detector would fail the test
// before the check could speak).
func TestThreadCheckReportsOffMainCalls(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		h.logs.allowOffMain = true
		r := h.newReactor()
		mine, theirs := net.Pipe()
		go func() { // the peer reads what is written
			buf := make([]byte, 64)
			for {
				if _, err := theirs.Read(buf); err != nil {
					return
				}
			}
		}()
		defer theirs.Close()
		p := &protoFuncs{}
		p.made = func(tr Transport) {
			tr.Write([]byte("on the main thread"))
			r.CallLater(0, func() {})
			elsewhere := make(chan struct{})
			go func() {
				defer close(elsewhere)
				tr.Write([]byte("off the main thread"))
				r.CallLater(0, func() {})
				if h.backend != portableBackend {
					a, _ := socketPair(t)
					r.AddReader(&testDesc{fd: a})
				}
			}()
			<-elsewhere
			r.RemoveAll()
			must(t, r.Stop())
		}
		r.CallWhenRunning(func() {
			_, err := r.AdoptConn(mine, p)
			must(t, err)
		})
		h.runReactor(r)
		calls := []string{"Transport.Write", "CallLater"}
		if h.backend != portableBackend {
			calls = append(calls, "AddReader")
		}
		for _, c := range calls {
			rec := h.logs.find(c + " called off the main thread")
			if !strings.Contains(rec, "stack_has_goroutine") || !strings.Contains(rec, "stack_test_file=threadcheck_test.go") {
				t.Errorf("%s off the main thread: report %q, want one with the caller's stack", c, rec)
			}
		}
		if n := h.logs.count("called off the main thread"); n != len(calls) {
			t.Errorf("%d reports, want %d (calls on the main thread are not reported)", n, len(calls))
		}
	})
}
