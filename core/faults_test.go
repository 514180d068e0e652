//go:build unix

package core

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core/internal/poller"
	"golang.org/x/sys/unix"
)

// The faults Twisted gets wrong, and what this reactor does instead.

func TestClosedBehindBackReaderAndWriterLostOnce(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor(WithPreenInterval(millisecondT))
		a, _ := socketPair(t)
		d := &testDesc{fd: a}
		// Not readable, and writability is consumed by a DoWrite that
		// removes nothing: the descriptor sits registered until it is
		// closed behind the reactor's back.
		d.write = func() error { return nil }
		must(t, r.AddReader(d))
		must(t, r.AddWriter(d))
		stillRunning := false
		d.lost = func(err error) {
			if !errors.Is(err, ErrBadDescriptor) {
				t.Errorf("reason %v, want ErrBadDescriptor", err)
			}
			// The loop keeps running after a bad descriptor.
			r.CallLater(millisecondT, func() { stillRunning = true; must(t, r.Stop()) })
		}
		r.CallLater(0, func() { must(t, unix.Close(a)) })
		h.runReactor(r)
		if len(d.losses) != 1 {
			t.Fatalf("ConnectionLost %d times, want exactly 1", len(d.losses))
		}
		if !stillRunning {
			t.Fatal("the loop stopped running after a bad descriptor")
		}
	})
}

func TestHighNumberedDescriptor(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		var lim unix.Rlimit
		must(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
		if lim.Cur < 2100 {
			t.Skipf("RLIMIT_NOFILE %d is too low for a descriptor above 2000", lim.Cur)
		}
		r := h.newReactor()
		a, b := socketPair(t)
		high, err := unix.FcntlInt(uintptr(a), unix.F_DUPFD_CLOEXEC, 2000)
		must(t, err)
		t.Cleanup(func() { closeFd(high) })
		if high < 1024 {
			t.Fatalf("dup gave %d", high)
		}
		var got string
		d := &testDesc{fd: high}
		d.read = func() error {
			var buf [4]byte
			n, _ := readFd(high, buf[:])
			got = string(buf[:n])
			r.RemoveReader(d)
			must(t, r.Stop())
			return nil
		}
		must(t, r.AddReader(d))
		writeFd(t, b, "hi")
		h.runReactor(r)
		if got != "hi" {
			t.Fatalf("read %q on fd %d", got, high)
		}
	})
}

func TestPanicInDoReadDisconnectsOnlyThatDescriptor(t *testing.T) {
	forEachRaw(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		a1, b1 := socketPair(t)
		a2, b2 := socketPair(t)
		bad := &testDesc{fd: a1, read: func() error { panic("DoRead exploded") }}
		good := &testDesc{fd: a2}
		good.read = func() error {
			var buf [8]byte
			readFd(a2, buf[:])
			r.RemoveReader(good)
			must(t, r.Stop())
			return nil
		}
		bad.lost = func(error) {
			// Only once the bad one is gone does the good one get data.
			writeFd(t, b2, "x")
		}
		must(t, r.AddReader(bad))
		must(t, r.AddReader(good))
		writeFd(t, b1, "x")
		h.runReactor(r)
		if len(bad.losses) != 1 || !errors.Is(bad.losses[0], ErrPanic) {
			t.Fatalf("bad descriptor losses %v, want one ErrPanic", bad.losses)
		}
		var pe *PanicError
		if !errors.As(bad.losses[0], &pe) || pe.Value != "DoRead exploded" || len(pe.Stack) == 0 {
			t.Fatalf("PanicError %+v", pe)
		}
		if good.reads != 1 || len(good.losses) != 0 {
			t.Fatalf("good descriptor: %d reads, losses %v", good.reads, good.losses)
		}
		if rec := h.logs.find("DoRead exploded"); !strings.Contains(rec, "stack_has_goroutine") {
			t.Fatalf("panic not logged with its stack: %q", rec)
		}
	})
}

func TestPanicInTimerAndThreadCallIsLogged(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		r.CallLater(0, func() { panic("timer exploded") })
		must(t, r.CallFromThread(func() { panic("thread call exploded") }))
		r.CallLater(millisecondT, func() { must(t, r.Stop()) })
		h.runReactor(r)
		for _, s := range []string{"timer exploded", "thread call exploded"} {
			if h.logs.find(s) == "" {
				t.Errorf("%q not logged", s)
			}
		}
	})
}

// failingPoller wraps a backend and fails its wait on demand.
type failingPoller struct {
	poller.Poller
	fail atomic.Bool
}

func (p *failingPoller) Wait(out []poller.Event, timeout time.Duration) (int, error) {
	if p.fail.Load() {
		return 0, &poller.Error{Backend: "failing", Op: "wait", Err: unix.EIO}
	}
	return p.Poller.Wait(out, timeout)
}

func TestPollerErrorReachesMainThread(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		var fp *failingPoller
		r := h.newReactor()
		r.cfg.wrapPoller = func(p poller.Poller) poller.Poller { fp = &failingPoller{Poller: p}; return fp }
		var phases []string
		r.AddSystemEventTrigger(Before, Shutdown, func() <-chan struct{} {
			phases = append(phases, "before")
			return make(chan struct{}) // never closes: cut off, the poller is dead
		})
		r.AddSystemEventTrigger(After, Shutdown, func() <-chan struct{} { phases = append(phases, "after"); return nil })
		d := &testDesc{fd: -1}
		if h.backend != portableBackend {
			a, _ := socketPair(t)
			d.fd = a
			must(t, r.AddReader(d))
		} else {
			d.losses = []error{ErrShutdown} // nothing to disconnect
		}
		r.CallWhenRunning(func() {
			fp.fail.Store(true)
			fp.Wake() // make a waiting poll thread return and fail
		})
		err := h.drv.run(t, r)
		var pe *PollerError
		if !errors.As(err, &pe) || !errors.Is(err, unix.EIO) {
			t.Fatalf("run returned %v, want a *PollerError wrapping EIO", err)
		}
		if !errors.Is(r.Err(), unix.EIO) {
			t.Fatalf("Err() = %v", r.Err())
		}
		if strings.Join(phases, ",") != "before,after" {
			t.Fatalf("shutdown phases %v", phases)
		}
		if len(d.losses) != 1 {
			t.Fatalf("descriptor not disconnected: %v", d.losses)
		}
		if h.logs.find("poller failed") == "" {
			t.Fatal("poller error not logged")
		}
		<-r.Done()
	})
}

// A program whose host loop ends without Stop is not held open by the poll
// thread (Twisted #10951): the child below starts a reactor each way and
// returns from main.
const childEnv = "CORE_TEST_CHILD"

func childMain() int {
	r, err := New(WithBackend(os.Getenv("CORE_TEST_BACKEND")))
	if err != nil {
		return 3
	}
	switch os.Getenv(childEnv) {
	case "start":
		if r.Start() != nil {
			return 4
		}
		r.Drain(0)
	case "interleave":
		if r.Interleave(func(func()) {}) != nil {
			return 4
		}
	}
	return 0 // main returns with the poll thread still waiting
}

func TestProcessExitsWithoutStop(t *testing.T) {
	for _, b := range Backends() {
		for _, mode := range []string{"start", "interleave"} {
			t.Run(b+"/"+mode, func(t *testing.T) {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), childEnv+"="+mode, "CORE_TEST_BACKEND="+b)
				must(t, cmd.Start())
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("child: %v", err)
					}
				case <-time.After(watchdog):
					cmd.Process.Kill()
					<-done
					t.Fatal("the process did not exit: held open by the reactor")
				}
			})
		}
	}
}

func TestPortableRejectsRawDescriptors(t *testing.T) {
	r, err := New(WithBackend(portableBackend))
	must(t, err)
	a, b := socketPair(t)
	if err := r.AddReader(&testDesc{fd: a}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("AddReader on the portable backend: %v, want ErrUnsupported", err)
	}
	if err := r.AddWriter(&testDesc{fd: b}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("AddWriter on the portable backend: %v, want ErrUnsupported", err)
	}
}
