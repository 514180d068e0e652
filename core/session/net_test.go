package session

import (
	"testing"
	"time"

	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/netsim"
)

// TestClientOverNet: with ClientConfig.Net a client connects, binds UDP and
// keeps time through that Net: here a simulated network that delays each
// direction by 25 ms, so every round trip the client measures is at least
// 50 ms, and the simulator saw the stream and the datagrams go through it.
func TestClientOverNet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		const oneWay = 25 * time.Millisecond
		sl := startLoop(t, backend, nil)
		srv := echoServer(sl, ServerConfig{UDP: true})
		sl.do(func() {
			_ = srv.Handle(msgCount, func(p *Peer, b []byte) error { return p.SendUnreliable(b) })
		})
		cl := startLoop(t, backend, nil)
		var sim *netsim.Conditions
		cl.do(func() {
			link := netsim.Link{Latency: oneWay}
			sim = netsim.New(netio.Reactor(cl.r), netsim.Settings{Name: "test", Recv: link, Send: link}, 1)
		})
		back := make(chan string, 4)
		c := cl.dial(ClientConfig{Addr: srv.Addr().String(), App: "test/1", Hello: []byte("n"), UDP: true,
			PingInterval: 20 * time.Millisecond, Net: sim})
		cl.do(func() {
			_ = c.Handle(msgCount, func(b []byte) error {
				back <- string(b[1:])
				return nil
			})
		})
		cl.waitFor("udp bound through the simulator", watchdog, func() bool { return c.State().UDP == UDPBound })
		cl.do(func() {
			if err := c.SendUnreliable(append(c.Begin(msgCount), "x"...)); err != nil {
				t.Error(err)
			}
		})
		if s := recv(t, back, "the answer"); s != "x" {
			t.Fatalf("answer %q", s)
		}
		cl.waitFor("RTT samples", watchdog, func() bool { return c.State().RTT.Samples >= 3 })
		cl.do(func() {
			if r := c.State().RTT; r.Min < 2*oneWay {
				t.Errorf("rtt %+v: shorter than the simulated %v", r, 2*oneWay)
			}
			st := sim.Stats()
			if st.Send.Delayed == 0 || st.Recv.Delayed == 0 || st.Send.MaxDelay < oneWay || st.Recv.MaxDelay < oneWay {
				t.Errorf("simulator stats %+v", st)
			}
		})
	})
}
