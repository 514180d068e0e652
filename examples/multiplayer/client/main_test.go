//go:build unix

package main

// Ebiten allows one RunGame per process, on the main goroutine, and a
// binary that imports it needs an X display (run the tests under
// ./scripts/with-display.sh). So every test that runs the client starts it
// as a child process: the test binary re-executes itself with childEnv
// holding the client's arguments, and TestMain runs the command's run (or
// a probe, see childProbeEnv) as the whole process. The parent runs the
// game server in-process and reads the child's log.

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

const (
	// childEnv holds the JSON-encoded arguments of a child client.
	childEnv = "CLIENT_TEST_ARGS"
	// childProbeEnv names a probe to run in the child instead of the plain
	// command (see probes).
	childProbeEnv = "CLIENT_TEST_PROBE"
)

func TestMain(m *testing.M) {
	if raw, ok := os.LookupEnv(childEnv); ok {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintln(os.Stderr, "bad", childEnv, err)
			os.Exit(3)
		}
		if name := os.Getenv(childProbeEnv); name != "" {
			probe, ok := probes[name]
			if !ok {
				fmt.Fprintln(os.Stderr, "unknown probe", name)
				os.Exit(3)
			}
			os.Exit(probe(args))
		}
		os.Exit(run(args, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}
