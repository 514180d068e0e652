//go:build unix

package core

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The write side's promises: Write's contract is the same on every
// backend, the unsent queue is bounded, back-pressure bounds what a peer
// that sends without reading can make us hold, and ConnectionLost never runs
// inside the program's own call into its transport.

// checkWriteResult fails if a Write's result breaks io.Writer's rule or
// the reactor's contract.
func checkWriteResult(t *testing.T, n, want int, err error) {
	t.Helper()
	if n < want && err == nil {
		t.Errorf("Write returned %d of %d bytes and no error", n, want)
	}
	if err != nil && !errors.Is(err, ErrClosed) {
		t.Errorf("Write error %v does not match ErrClosed", err)
	}
}

// TestTCPWriteAfterPeerReset: once the peer reset the connection, Write
// returns an error matching ErrClosed and the reason, on every backend,
// never (0, nil); ConnectionLost gets the reset, once.
func TestTCPWriteAfterPeerReset(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var lost []error
		var writeErr error
		writes := 0
		block := make([]byte, 64<<10)
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			var tick *DelayedCall
			p.made = func(tr Transport) {
				tick = r.CallEvery(time.Millisecond, func() {
					if writeErr != nil {
						return
					}
					writes++
					n, err := tr.Write(block)
					checkWriteResult(t, n, len(block), err)
					if err != nil {
						writeErr = err
					}
				})
			}
			p.lost = func(err error) {
				lost = append(lost, err)
				_ = tick.Cancel()
				if n, err := p.t.Write(block); n != 0 || !errors.Is(err, ErrClosed) {
					t.Errorf("Write after ConnectionLost: %d, %v", n, err)
				}
				must(t, r.Stop())
			}
			return p, nil
		}))
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			buf := make([]byte, 1)
			io.ReadFull(c, buf) // the server is writing
			c.SetLinger(0)
			c.Close() // reset
		})
		h.runReactor(r)
		<-done
		if len(lost) != 1 || !errors.Is(lost[0], ErrConnectionReset) {
			t.Fatalf("ConnectionLost calls %v, want one ErrConnectionReset", lost)
		}
		if writeErr != nil && !errors.Is(writeErr, ErrConnectionReset) {
			t.Fatalf("Write error %v does not carry the reset", writeErr)
		}
		if msg := lost[0].Error(); strings.Count(msg, "connection reset by peer") > 1 {
			t.Fatalf("reason says it twice: %q", msg)
		}
	})
}

// TestTCPWriteQueueLimit: a peer that never reads makes Write pass the
// limit on unsent bytes; that connection fails with ErrWriteQueueFull (the
// Write says so, ConnectionLost too, after the callback), the queue never
// held more than the limit, and another connection is untouched.
func TestTCPWriteQueueLimit(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		const limit = 1 << 20
		var reason, writeErr error
		worst := 0
		inWrite := false
		block := make([]byte, 32<<10)
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.made = func(tr Transport) {
				var tick *DelayedCall
				tick = r.CallEvery(time.Millisecond, func() {
					for i := 0; i < 64 && writeErr == nil; i++ {
						inWrite = true
						n, err := tr.Write(block)
						inWrite = false
						checkWriteResult(t, n, len(block), err)
						worst = max(worst, tr.Stats().Queued)
						if err != nil {
							writeErr = err
							_ = tick.Cancel()
						}
					}
				})
			}
			p.lost = func(err error) {
				if inWrite {
					t.Error("ConnectionLost ran inside Write")
				}
				reason = err
				must(t, r.Stop())
			}
			return p, nil
		}), WithMaxQueued(limit), WithSendBuffer(64<<10))
		release := make(chan struct{})
		done := goClientMayBeReset(t, port.Addr().String(), func(c *net.TCPConn) {
			<-release // never reads before the server gave up
		})
		go func() { <-r.Done(); close(release) }()
		h.runReactor(r)
		<-done
		if !errors.Is(writeErr, ErrWriteQueueFull) || !errors.Is(reason, ErrWriteQueueFull) {
			t.Fatalf("Write error %v, ConnectionLost %v, want ErrWriteQueueFull", writeErr, reason)
		}
		if worst > limit {
			t.Fatalf("the queue held %d bytes, limit %d", worst, limit)
		}
	})
}

// TestTCPBackpressureBoundsEcho: an echo WithBackpressure, and a peer that
// sends 64 MiB without reading. The server holds at most about the
// high-water mark unsent and the read-ahead unread, then everything comes
// back once the peer reads.
func TestTCPBackpressureBoundsEcho(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		const total = 64 << 20
		const maxUnread = 256 << 10
		worstQueued, worstUnread := 0, 0
		var tr Transport
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.made = func(t Transport) { tr = t }
			p.data = func(b []byte) {
				p.t.Write(b)
				st := p.t.Stats()
				worstQueued = max(worstQueued, st.Queued)
				worstUnread = max(worstUnread, st.Unread)
			}
			p.lost = func(err error) {
				if !errors.Is(err, ErrConnectionDone) {
					t.Errorf("lost: %v", err)
				}
				must(t, r.Stop())
			}
			return p, nil
		}), WithBackpressure(), WithMaxUnread(maxUnread))
		stalled := make(chan struct{})
		var echoed int64
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			payload := make([]byte, total)
			sent := 0
			// Send without reading until the server pushes back (a write
			// that does not finish in 500ms), bounded by the payload.
			for sent < total {
				c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
				n, err := c.Write(payload[sent:min(total, sent+1<<20)])
				sent += n
				if err != nil {
					break
				}
			}
			c.SetWriteDeadline(time.Time{})
			close(stalled)
			go func() {
				c.Write(payload[sent:])
				c.CloseWrite()
			}()
			echoed, _ = io.Copy(io.Discard, c)
		})
		go func() {
			<-stalled
			r.CallFromThread(func() {
				if tr != nil {
					worstQueued = max(worstQueued, tr.Stats().Queued)
				}
			})
		}()
		h.runReactor(r)
		<-done
		if echoed != total {
			t.Fatalf("echoed %d of %d bytes", echoed, total)
		}
		// One DataReceived may write a whole chunk past the mark.
		if limit := 256<<10 + chunkSize; worstQueued > limit {
			t.Fatalf("the server held %d bytes unsent, want at most %d", worstQueued, limit)
		}
		if limit := maxUnread + chunkSize; worstUnread > limit {
			t.Fatalf("the server held %d bytes unread, want at most %d", worstUnread, limit)
		}
	})
}

// TestAbortDefersConnectionLost: AbortConnection (and AbortWithError)
// inside DataReceived closes at once, and ConnectionLost runs after the
// callback returns, once, never inside the call.
func TestAbortDefersConnectionLost(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		inCall := false
		var lost []error
		myErr := errors.New("the game says no")
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.data = func([]byte) {
				inCall = true
				must(t, p.t.AbortWithError(myErr))
				must(t, p.t.AbortConnection()) // a second abort does nothing
				if _, err := p.t.Write([]byte("x")); !errors.Is(err, ErrClosed) || !errors.Is(err, myErr) {
					t.Errorf("Write after abort: %v", err)
				}
				inCall = false
			}
			p.lost = func(err error) {
				if inCall {
					t.Error("ConnectionLost ran inside the protocol's own call")
				}
				lost = append(lost, err)
				must(t, r.Stop())
			}
			return p, nil
		}))
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			c.Write([]byte("hi"))
			io.Copy(io.Discard, c)
		})
		h.runReactor(r)
		<-done
		if len(lost) != 1 || !errors.Is(lost[0], myErr) {
			t.Fatalf("ConnectionLost calls %v, want one with the abort's reason", lost)
		}
	})
}

// TestLateTriggersAreRefused: a trigger that could never run (a Before
// shutdown trigger added from an After one, or after the reactor is done; a
// startup trigger once running) is refused with ErrPhaseOver.
func TestLateTriggersAreRefused(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var fromAfter, fromRunning error
		ranLate := false
		_, err := r.AddSystemEventTrigger(After, Shutdown, func() <-chan struct{} {
			_, fromAfter = r.AddSystemEventTrigger(Before, Shutdown, func() <-chan struct{} { ranLate = true; return nil })
			return nil
		})
		must(t, err)
		r.CallWhenRunning(func() {
			_, fromRunning = r.AddSystemEventTrigger(Before, Startup, func() <-chan struct{} { ranLate = true; return nil })
			must(t, r.Stop())
		})
		h.runReactor(r)
		if !errors.Is(fromAfter, ErrPhaseOver) || !errors.Is(fromRunning, ErrPhaseOver) {
			t.Fatalf("late triggers: %v, %v; want ErrPhaseOver", fromAfter, fromRunning)
		}
		if _, err := r.AddSystemEventTrigger(During, Shutdown, func() <-chan struct{} { return nil }); !errors.Is(err, ErrPhaseOver) {
			t.Fatalf("a trigger added after the shutdown: %v", err)
		}
		if ranLate {
			t.Fatal("a refused trigger ran")
		}
	})
}

// TestInterleaveDistantCallDoesNotSpin: a timer scheduled past the year
// 2262 (UnixNano's limit) must not look due to the waker goroutine, which
// would call the host's waker without end (Twisted's
// test_distantDelayedCall, through Interleave).
func TestInterleaveDistantCallDoesNotSpin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		host := &fakeHost{queue: make(chan func(), 1)}
		must(t, r.Interleave(host.waker))
		calls := 0
		run := func(f func()) {
			host.outstanding.Add(-1)
			calls++
			f()
		}
		// Drain what the startup queued, then schedule the distant call.
		var far *DelayedCall
		must(t, r.CallFromThread(func() {
			var err error
			far, err = r.CallLater(time.Duration(1<<63-1), func() { t.Error("the distant call ran") })
			must(t, err)
		}))
		for far == nil {
			run(<-host.queue)
		}
		base := calls
		window := time.After(200 * time.Millisecond)
	idle:
		for {
			select {
			case f := <-host.queue:
				run(f)
				if calls-base > 20 {
					t.Fatalf("an idle reactor called the waker %d times in 200ms", calls-base)
				}
			case <-window:
				break idle
			}
		}
		if !far.Active() {
			t.Fatal("the distant call is not active")
		}
		must(t, r.Stop())
		for {
			select {
			case f := <-host.queue:
				run(f)
				continue
			case <-r.Done():
			}
			break
		}
	})
}

// TestAbortInsideDataReceivedKeepsOthersIntact: connections that abort
// inside DataReceived, with more of their bytes still queued, while other
// connections stream. The queued buffers of the aborted connections go
// back to the pool once each: a buffer given back twice is later read into
// for two connections at once, and their bytes get mixed.
func TestAbortInsideDataReceivedKeepsOthersIntact(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		const streams, each, aborters = 3, 4 << 20, 30
		sums := map[*protoFuncs]hash.Hash{}
		sizes := map[*protoFuncs]int{}
		finished, aborted := 0, 0
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			var kind byte
			p.data = func(b []byte) {
				if kind == 0 {
					kind = b[0]
				}
				if kind == 'A' {
					must(t, p.t.AbortConnection())
					return
				}
				if sums[p] == nil {
					sums[p] = sha256.New()
				}
				sums[p].Write(b)
				sizes[p] += len(b)
			}
			p.lost = func(err error) {
				if kind == 'A' {
					aborted++
				} else {
					finished++
				}
				if finished == streams && aborted == aborters {
					must(t, r.Stop())
				}
			}
			return p, nil
		}), WithMaxUnread(256<<10))
		payload := make([]byte, each)
		fillRandom(payload, 21)
		payload[0] = 'S'
		var dones []<-chan struct{}
		for i := 0; i < streams; i++ {
			dones = append(dones, goClient(t, port.Addr().String(), func(c *net.TCPConn) { c.Write(payload) }))
		}
		junk := make([]byte, 1<<20)
		junk[0] = 'A'
		for i := 0; i < aborters; i++ {
			dones = append(dones, goClient(t, port.Addr().String(), func(c *net.TCPConn) { c.Write(junk) }))
		}
		h.runReactor(r)
		for _, d := range dones {
			<-d
		}
		want := sha256.Sum256(payload)
		for p, s := range sums {
			if sizes[p] != each || !bytes.Equal(s.Sum(nil), want[:]) {
				t.Fatalf("a stream got %d of %d bytes, checksum equal: %v", sizes[p], each, bytes.Equal(s.Sum(nil), want[:]))
			}
		}
	})
}
