//go:build unix

package core

import (
	"errors"
	"reflect"
	"testing"
)

// System events with descriptors in the reactor.

func TestShutdownDisconnectsCleanly(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a, b := socketPair(t)
		panicky := &testDesc{fd: a, lost: func(error) { panic("ConnectionLost exploded") }}
		calm := &testDesc{fd: b}
		must(t, r.AddReader(panicky))
		must(t, r.AddReader(calm))
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
		if len(panicky.losses) != 1 || len(calm.losses) != 1 {
			t.Fatalf("ConnectionLost calls: panicky %d, calm %d; want 1 each", len(panicky.losses), len(calm.losses))
		}
		if !errors.Is(calm.losses[0], ErrShutdown) {
			t.Fatalf("reason %v, want ErrShutdown", calm.losses[0])
		}
		if h.logs.find("ConnectionLost exploded") == "" {
			t.Fatal("the panic was not logged")
		}
	})
}

func TestBeforeShutdownDelaysWithIOAndTimersRunning(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a, b := socketPair(t)
		var got []string
		goodbye := make(chan struct{})
		// The "peer" answers our goodbye on the socket; the answer arrives
		// through DoRead while the shutdown waits.
		reader := &testDesc{fd: a}
		reader.read = func() error {
			var buf [16]byte
			n, _ := readFd(a, buf[:])
			got = append(got, "read "+string(buf[:n]))
			close(goodbye)
			r.RemoveReader(reader)
			return nil
		}
		must(t, r.AddReader(reader))
		r.AddSystemEventTrigger(Before, Shutdown, func() <-chan struct{} {
			got = append(got, "before")
			r.CallLater(0, func() {
				got = append(got, "timer")
				writeFd(t, b, "ack")
			})
			return goodbye
		})
		r.AddSystemEventTrigger(After, Shutdown, func() <-chan struct{} { got = append(got, "after"); return nil })
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
		if want := []string{"before", "timer", "read ack", "after"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}
