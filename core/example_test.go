package core_test

import (
	"fmt"
	"time"

	"github.com/threadedselect/reactor/core"
)

// Run is the main loop of a headless program: callbacks run on the
// goroutine that calls it, which also waits for readiness itself.
func ExampleReactor_Run() {
	r, err := core.New()
	if err != nil {
		panic(err)
	}
	r.CallWhenRunning(func() { fmt.Println("running") })
	r.CallLater(10*time.Millisecond, func() {
		fmt.Println("timer fired; stopping")
		r.Stop()
	})
	r.AddSystemEventTrigger(core.After, core.Shutdown, func() <-chan struct{} {
		fmt.Println("after shutdown")
		return nil
	})
	if err := r.Run(); err != nil { // returns once the shutdown sequence has finished
		fmt.Println("error:", err)
	}
	fmt.Println("Run returned")
	// Output:
	// running
	// timer fired; stopping
	// after shutdown
	// Run returned
}

// Drain is the waker target of a frame-based host: Start once, then drain
// within a budget every frame. Work that does not fit waits, in order.
func ExampleReactor_Drain() {
	r, err := core.New()
	if err != nil {
		panic(err)
	}
	if err := r.Start(); err != nil {
		panic(err)
	}
	// Another goroutine hands work to the main thread (the frame loop).
	done := make(chan struct{})
	go func() {
		for i := 1; i <= 3; i++ {
			r.CallFromThread(func() { fmt.Println("network event", i) })
		}
		r.Stop()
		close(done)
	}()
	<-done
	frame := time.NewTicker(time.Millisecond) // the host's frame clock
	defer frame.Stop()
	for {
		st := r.Drain(2 * time.Millisecond) // a frame's budget for the network
		if st.Finished {
			break
		}
		<-frame.C
	}
	fmt.Println("shut down")
	// Output:
	// network event 1
	// network event 2
	// network event 3
	// shut down
}

// Interleave fits the reactor into a foreign event loop: the reactor asks
// the host, from a background goroutine, to run a function on its main
// thread (a GUI toolkit's CallAfter); here the host loop is a channel.
func ExampleReactor_Interleave() {
	r, err := core.New()
	if err != nil {
		panic(err)
	}
	hostQueue := make(chan func(), 1)
	stopHost := make(chan struct{})
	r.AddSystemEventTrigger(core.After, core.Shutdown, func() <-chan struct{} {
		close(stopHost) // the reactor is done: let the host loop end
		return nil
	})
	if err := r.Interleave(func(f func()) { hostQueue <- f }); err != nil {
		panic(err)
	}
	r.CallLater(0, func() {
		fmt.Println("a timer, run by the host's main thread")
		r.Stop()
	})
	// The host's own main loop.
	for {
		select {
		case f := <-hostQueue:
			f()
			continue
		case <-stopHost:
		}
		break
	}
	<-r.Done()
	fmt.Println("host loop ended")
	// Output:
	// a timer, run by the host's main thread
	// host loop ended
}
