package core_test

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/threadedselect/reactor/core"
)

// CallWhenRunning is where a program starts its work: the function runs on
// the main thread once the reactor runs. There is no error to check.
func ExampleReactor_CallWhenRunning() {
	r, err := core.New()
	if err != nil {
		panic(err)
	}
	r.CallWhenRunning(func() {
		fmt.Println("running:", r.Running())
		_ = r.Stop()
	})
	if err := r.Run(); err != nil {
		fmt.Println("error:", err)
	}
	// Output:
	// running: true
}

// CallEvery runs a fixed-rate tick, such as a game server's simulation
// step, until the returned call is cancelled. A misuse returns a call that
// is not scheduled and is logged through the reactor's logger.
func ExampleReactor_CallEvery() {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: noTime}))
	r, err := core.New(core.WithLogger(log))
	if err != nil {
		panic(err)
	}
	ticks := 0
	var tick *core.DelayedCall
	tick = r.CallEvery(10*time.Millisecond, func() {
		ticks++
		fmt.Println("tick", ticks)
		if ticks == 3 {
			_ = tick.Cancel()
			_ = r.Stop()
		}
	})
	var step func() // a mistake: never set
	bad := r.CallEvery(time.Second, step)
	fmt.Println("nil function scheduled:", bad.Active())
	if err := r.Run(); err != nil {
		fmt.Println("error:", err)
	}
	// Output:
	// level=ERROR msg="reactor: CallEvery refused" err="reactor: invalid argument: CallEvery needs a function and a positive interval" interval=1s func=nil
	// nil function scheduled: false
	// tick 1
	// tick 2
	// tick 3
}

// OnShutdown is where a program says goodbye: the reactor keeps running
// I/O and timers until the returned channel is closed (or the shutdown
// timeout passes), then closes every connection.
func ExampleReactor_OnShutdown() {
	r, err := core.New()
	if err != nil {
		panic(err)
	}
	r.OnShutdown(func() <-chan struct{} {
		fmt.Println("saying goodbye")
		done := make(chan struct{})
		_, _ = r.CallLater(10*time.Millisecond, func() { // the peers' answers
			fmt.Println("goodbye flushed")
			close(done)
		})
		return done
	})
	r.CallWhenRunning(func() { _ = r.Stop() })
	if err := r.Run(); err != nil {
		fmt.Println("error:", err)
	}
	fmt.Println("Run returned")
	// Output:
	// saying goodbye
	// goodbye flushed
	// Run returned
}
