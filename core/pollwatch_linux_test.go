package core

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestRunSleepsOnChannelWithDescriptorsToo: a Run with both a socket on
// epoll and a goroutine-backed connection sleeps on its channel, with a
// watcher standing in for epoll_wait (pollWatch), and wakes for either: each
// round trip below waits for the main thread to sleep first, so each must
// wake it, the TCP peer's through the watcher, the pipe peer's through the
// hand-off. A watcher that missed an event would leave an echo unanswered.
func TestRunSleepsOnChannelWithDescriptorsToo(t *testing.T) {
	checkLeaks(t)
	r, err := New(WithBackend("epoll"))
	if err != nil {
		t.Fatal(err)
	}
	echo := FactoryFunc(func(net.Addr) (Protocol, error) {
		p := &protoFuncs{}
		p.data = func(b []byte) { p.t.Write(b) }
		return p, nil
	})
	port, err := r.ListenTCP("127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	mine, peer := net.Pipe()
	ep, _ := echo.BuildProtocol(nil)
	if _, err := r.AdoptConn(mine, ep); err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run() }()
	defer func() {
		peer.Close()
		_ = r.Stop()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	c, err := net.Dial("tcp", port.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(watchdog)
	c.SetDeadline(deadline)
	peer.SetDeadline(deadline)
	asleep := func() bool {
		for !mainAsleep(r) {
			if time.Now().After(deadline) {
				return false
			}
			runtime.Gosched()
		}
		return true
	}
	roundTrip := func(who string, rw io.ReadWriter, i int) {
		t.Helper()
		if !asleep() {
			t.Fatalf("%s round trip %d: the main thread never slept on its channel", who, i)
		}
		msg := []byte{byte(i), byte(i >> 8), 'x'}
		if _, err := rw.Write(msg); err != nil {
			t.Fatalf("%s round trip %d: write: %v", who, i, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(rw, got); err != nil {
			t.Fatalf("%s round trip %d: no echo (the main thread was not woken?): %v", who, i, err)
		}
	}
	for i := 0; i < 100; i++ {
		roundTrip("tcp", c, i)
		roundTrip("pipe", peer, i)
	}
	watching := make(chan bool, 1)
	if err := r.CallFromThread(func() { watching <- r.loop.Load().watch.usable() }); err != nil {
		t.Fatal(err)
	}
	if !<-watching {
		t.Fatal("no descriptor watcher: the main thread slept in epoll_wait")
	}
}
