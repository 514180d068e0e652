//go:build unix

package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// -sim takes a preset or explicit values, -sim-seed the seed; a value
// that is neither is refused with a message that names the flag.
func TestSimFlags(t *testing.T) {
	o, err := parseFlags([]string{"-sim", "badwifi", "-sim-seed", "9"}, io.Discard)
	if err != nil || o.sim.Name != "badwifi" || o.sim.RTT() != 150*time.Millisecond || o.simSeed != 9 {
		t.Fatalf("-sim badwifi: %+v, %v", o.sim, err)
	}
	o, err = parseFlags([]string{"-sim", "delay=10ms,loss=1%"}, io.Discard)
	if err != nil || o.sim.Recv.Latency != 10*time.Millisecond || o.sim.Send.Loss != 0.01 {
		t.Fatalf("explicit -sim: %+v, %v", o.sim, err)
	}
	o, err = parseFlags(nil, io.Discard)
	if err != nil || !o.sim.Idle() {
		t.Fatalf("no -sim: %+v, %v", o.sim, err)
	}
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"-sim", "moon"}, &stderr); err == nil || !strings.Contains(stderr.String(), "-sim") {
		t.Fatalf("-sim moon: %v, %q", err, stderr.String())
	}
}
