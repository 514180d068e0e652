package core

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Under GOOS=js the behavioural suite runs the tests that need no sockets
// (timers, thread calls, system events, the Drain budget), with Node and
// Go's go_js_wasm_exec (make test does). There are no descriptors to leak:
// every connection is goroutine-backed there.

func TestMain(m *testing.M) { os.Exit(m.Run()) }

// platformLeakOptions: the runtime's goroutine that waits for JavaScript
// events comes and goes with pending timers; it is not the reactor's.
func platformLeakOptions() []goleak.Option {
	return []goleak.Option{goleak.IgnoreAnyFunction("runtime.handleEvent")}
}
