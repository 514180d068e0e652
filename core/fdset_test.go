//go:build unix

package core

import (
	"errors"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// Ports of Twisted's ReactorFDSetTestsBuilder (internet/test/test_fdset.py).

func readFd(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

func writeFd(t *testing.T, fd int, s string) {
	t.Helper()
	if _, err := unix.Write(fd, []byte(s)); err != nil {
		t.Errorf("write: %v", err)
	}
}

func TestAddReader(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a, b := socketPair(t)
		var got string
		d := &testDesc{fd: a}
		d.read = func() error {
			var buf [8]byte
			n, _ := readFd(a, buf[:])
			got = string(buf[:n])
			r.RemoveReader(d)
			must(t, r.Stop())
			return nil
		}
		must(t, r.AddReader(d))
		writeFd(t, b, "x")
		h.runReactor(r)
		if got != "x" {
			t.Fatalf("read %q, want x", got)
		}
	})
}

func TestAddWriter(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a, _ := socketPair(t)
		d := &testDesc{fd: a}
		d.write = func() error {
			r.RemoveWriter(d)
			must(t, r.Stop())
			return nil
		}
		r.CallWhenRunning(func() { must(t, r.AddWriter(d)) })
		h.runReactor(r)
		if d.writes != 1 {
			t.Fatalf("DoWrite called %d times, want 1", d.writes)
		}
	})
}

func failer(t *testing.T, what string) func() error {
	return func() error { t.Errorf("%s should not be called", what); return nil }
}

// TestRemoveReaderAndWriter: a descriptor removed before it is ready is
// never called.
func TestRemoveReaderAndWriter(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  func(r *Reactor, d *testDesc) error
		rm   func(r *Reactor, d *testDesc)
	}{
		{"reader", func(r *Reactor, d *testDesc) error { return r.AddReader(d) }, func(r *Reactor, d *testDesc) { r.RemoveReader(d) }},
		{"writer", func(r *Reactor, d *testDesc) error { return r.AddWriter(d) }, func(r *Reactor, d *testDesc) { r.RemoveWriter(d) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachRaw(t, func(t *testing.T, h *harness) {
				r := h.newReactor()
				a, b := socketPair(t)
				d := &testDesc{fd: a, read: failer(t, "DoRead"), write: failer(t, "DoWrite")}
				must(t, tc.add(r, d))
				tc.rm(r, d)
				writeFd(t, b, "x")
				stopSoon(t, r)
				h.runReactor(r)
			})
		})
	}
}

func TestRemoveAll(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a, b := socketPair(t)
		d := &testDesc{fd: a, read: failer(t, "DoRead"), write: failer(t, "DoWrite")}
		must(t, r.AddReader(d))
		must(t, r.AddWriter(d))
		writeFd(t, b, "x")
		var removed []Descriptor
		r.CallWhenRunning(func() { removed = r.RemoveAll() })
		stopSoon(t, r)
		h.runReactor(r)
		if len(removed) != 1 || removed[0] != Descriptor(d) {
			t.Fatalf("RemoveAll returned %v, want [d]", removed)
		}
		if len(d.losses) != 0 {
			t.Fatalf("a removed descriptor was disconnected on shutdown: %v", d.losses)
		}
	})
}

func TestGetReadersAndWriters(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a, b := socketPair(t)
		d1 := &testDesc{fd: a}
		d2 := &testDesc{fd: b}
		check := func(what string, got []Descriptor, want ...Descriptor) {
			t.Helper()
			if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
		}
		r.CallWhenRunning(func() {
			must(t, r.AddReader(d1))
			must(t, r.AddWriter(d2))
			check("readers", r.Readers(), d1)
			check("writers", r.Writers(), d2)
			must(t, r.AddWriter(d1))
			check("writers", r.Writers(), d1, d2)
			r.RemoveReader(d1)
			check("readers", r.Readers())
			check("writers", r.Writers(), d1, d2)
			r.RemoveWriter(d1)
			r.RemoveWriter(d2)
			check("writers", r.Writers())
			must(t, r.Stop())
		})
		h.runReactor(r)
	})
}

func TestRemovedFromReactor(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor(WithPreenInterval(millisecondT))
		a, b := socketPair(t)
		var callsOutside int
		inside := false
		d := &testDesc{fd: a}
		fdFn := func() {
			if !inside {
				callsOutside++
			}
		}
		var wrapped *fdSpy
		d.read = func() error {
			r.RemoveReader(wrapped)
			inside = false
			// Let a few preen passes go by before stopping.
			r.CallLater(5*millisecondT, func() { must(t, r.Stop()) })
			return nil
		}
		wrapped = &fdSpy{testDesc: d, onFd: fdFn}
		r.CallWhenRunning(func() {
			inside = true
			must(t, r.AddReader(wrapped))
			writeFd(t, b, "a")
		})
		h.runReactor(r)
		if callsOutside != 0 {
			t.Fatalf("Fd called %d times after the descriptor was removed", callsOutside)
		}
	})
}

type fdSpy struct {
	*testDesc
	onFd func()
}

func (s *fdSpy) Fd() int { s.onFd(); return s.testDesc.Fd() }

func TestNegativeOneFileDescriptor(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a, b := socketPair(t)
		var received string
		d := &testDesc{fd: a}
		d.read = func() error {
			d.fd = -1
			var buf [1]byte
			n, _ := readFd(a, buf[:])
			received += string(buf[:n])
			writeFd(t, b, "y")
			return nil
		}
		d.lost = func(err error) {
			if !errors.Is(err, ErrBadDescriptor) {
				t.Errorf("reason %v, want ErrBadDescriptor", err)
			}
			must(t, r.Stop())
		}
		must(t, r.AddReader(d))
		writeFd(t, b, "x")
		h.runReactor(r)
		if received != "x" {
			t.Fatalf("received %q, want x", received)
		}
		if len(d.losses) != 1 {
			t.Fatalf("ConnectionLost %d times, want 1", len(d.losses))
		}
	})
}

// TestLostFileDescriptor: a descriptor's fd is closed and replaced with
// another socket (dup2) behind the reactor's back. Twisted skips this test
// for epoll and kqueue; here it passes on every backend.
func TestLostFileDescriptor(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor(WithPreenInterval(millisecondT))
		_, server := socketPair(t)
		victim := &testDesc{fd: server, read: failer(t, "Victim.DoRead")}
		victim.lost = func(err error) {
			if !errors.Is(err, ErrBadDescriptor) {
				t.Errorf("reason %v, want ErrBadDescriptor", err)
			}
			must(t, r.Stop())
		}
		must(t, r.AddReader(victim))
		r.CallLater(0, func() {
			newC, newS := socketPair(t)
			must(t, unix.Close(server))
			must(t, unix.Dup2(newS, server))
			writeFd(t, newC, "x")
		})
		h.runReactor(r)
		if len(victim.losses) != 1 {
			t.Fatalf("ConnectionLost %d times, want 1", len(victim.losses))
		}
	})
}

func TestConnectionLostOnShutdown(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a, b := socketPair(t)
		fd1 := &testDesc{fd: a}
		fd2 := &testDesc{fd: b}
		must(t, r.AddReader(fd1))
		must(t, r.AddWriter(fd2))
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
		if len(fd1.losses) != 1 || len(fd2.losses) != 1 {
			t.Fatalf("losses: %d and %d, want 1 each", len(fd1.losses), len(fd2.losses))
		}
		if len(r.Readers())+len(r.Writers()) != 0 {
			t.Fatal("descriptors still registered after shutdown")
		}
	})
}

func TestReadinessIsReportedOnceUntilDispatched(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a, b := socketPair(t)
		d := &testDesc{fd: a}
		// A DoRead that reads one byte of ten: level-triggered readiness
		// stays, and must come back one dispatch at a time, never queued
		// twice.
		var got []byte
		d.read = func() error {
			if p := r.loop.Load(); p != nil && d.reads > 1 && r.ring.Depth() > 1 {
				t.Errorf("ring depth %d while a readable descriptor is dispatched", r.ring.Depth())
			}
			var buf [1]byte
			n, _ := readFd(a, buf[:])
			got = append(got, buf[:n]...)
			if len(got) == 10 {
				r.RemoveReader(d)
				must(t, r.Stop())
			}
			return nil
		}
		must(t, r.AddReader(d))
		writeFd(t, b, "0123456789")
		h.runReactor(r)
		if string(got) != "0123456789" || d.reads != 10 {
			t.Fatalf("read %q in %d DoReads, want 0123456789 in 10", got, d.reads)
		}
	})
}

func TestRemovedEarlierInBatchIsNotDispatched(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a1, b1 := socketPair(t)
		a2, b2 := socketPair(t)
		d1 := &testDesc{fd: a1}
		d2 := &testDesc{fd: a2}
		// Whichever is dispatched first removes the other, whose readiness
		// is in the same batch.
		d1.read = func() error { r.RemoveReader(d2); r.RemoveReader(d1); must(t, r.Stop()); return nil }
		d2.read = func() error { r.RemoveReader(d1); r.RemoveReader(d2); must(t, r.Stop()); return nil }
		must(t, r.AddReader(d1))
		must(t, r.AddReader(d2))
		// Both readable before the reactor polls: one batch.
		writeFd(t, b1, "x")
		writeFd(t, b2, "x")
		h.runReactor(r)
		if d1.reads+d2.reads != 1 {
			t.Fatalf("DoRead calls: %d and %d, want exactly one in all", d1.reads, d2.reads)
		}
	})
}

func TestAddReaderBadDescriptor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		if h.backend == portableBackend {
			t.Skip("raw descriptors are not supported by the portable backend")
		}
		r := h.newReactor()
		a, _ := socketPair(t)
		must(t, unix.Close(a))
		for name, d := range map[string]*testDesc{"closed": {fd: a}, "minus one": {fd: -1}} {
			if err := r.AddReader(d); !errors.Is(err, ErrBadDescriptor) {
				t.Errorf("%s: AddReader = %v, want ErrBadDescriptor", name, err)
			}
		}
		if err := r.AddReader(nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("nil: %v", err)
		}
		if err := r.AddReader(valueDesc{}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("non-comparable: %v", err)
		}
		if len(r.Readers()) != 0 {
			t.Fatal("a bad descriptor was registered")
		}
	})
}

// valueDesc is a descriptor type that cannot be a map key.
type valueDesc struct{ _ []int }

func (valueDesc) Fd() int              { return 0 }
func (valueDesc) DoRead() error        { return nil }
func (valueDesc) ConnectionLost(error) {}
