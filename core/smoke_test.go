package core

import (
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	for _, b := range Backends() {
		r, err := New(WithBackend(b))
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		r.CallWhenRunning(func() { order = append(order, "running") })
		r.CallLater(time.Millisecond, func() { order = append(order, "timer"); r.Stop() })
		r.AddSystemEventTrigger(After, Shutdown, func() <-chan struct{} { order = append(order, "after"); return nil })
		go r.CallFromThread(func() { order = append(order, "thread") })
		if err := r.Run(); err != nil {
			t.Fatal(err)
		}
		<-r.Done()
		t.Log(b, order)
	}
}
