package core

import (
	"runtime/debug"

	"github.com/threadedselect/reactor/internal/goid"
)

// checkMainThread reports a call of a main-thread-only method from another
// goroutine while the reactor runs (see WithThreadCheck). Callers test
// r.cfg.threadCheck first, so that a reactor without the check pays one
// branch.
func (r *Reactor) checkMainThread(call string) {
	if r.loop.Load() == nil || goid.Read(nil) == r.mainG.Load() {
		return
	}
	r.log.Error("reactor: "+call+" called off the main thread", "call", call, "stack", string(debug.Stack()))
}
