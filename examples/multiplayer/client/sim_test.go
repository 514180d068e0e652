//go:build unix

package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/netsim"
	"github.com/threadedselect/reactor/ebitenreactor"
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

// F4 cycles the presets, from off through bad Wi-Fi and back; the key
// hint names the one in force.
func TestCycleSim(t *testing.T) {
	r, err := core.New()
	if err != nil {
		t.Fatal(err)
	}
	ng, err := ebitenreactor.NewNetGraph()
	if err != nil {
		t.Fatal(err)
	}
	g := &Game{r: r, ng: ng, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	g.sim = netsim.New(netio.Reactor(r), netsim.Settings{Name: "off"}, 1)
	var seen []string
	for range 5 {
		g.cycleSim()
		g.showSim()
		name := g.sim.Settings().Name
		seen = append(seen, name)
		if !strings.HasSuffix(g.keys, "network: "+name) {
			t.Fatalf("key hint %q with %s in force", g.keys, name)
		}
	}
	if got := strings.Join(seen, " "); got != "lan wifi 4g badwifi off" {
		t.Fatalf("F4 went through %s", got)
	}
}

// Through bad Wi-Fi, the goodbye still reaches the server before the
// window closes (the simulator sends what it holds when the shutdown
// begins, since the plugin closes the connections right after): the
// server logs a quit, not an error.
func TestSimGoodbyeReachesServer(t *testing.T) {
	checkSockets(t)
	srv := startServer(t, 1)
	c := startClient(t, "", "-addr", srv.addr, "-name", "faraway", "-sim", "badwifi", "-exit-after", "2s")
	if code := c.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("client exited %d", code)
	}
	if m := c.exitLine(t); m["cause"] != "quit" {
		t.Fatalf("exit line %v", m)
	}
	srv.log.wait(t, 5*time.Second, "msg=leave", "name=faraway", "reason=quit")
}
