package replay_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/core/netio"
)

// server is a peer on a reactor of its own (Run, on a goroutine): over TCP
// it answers every framed message with the message reversed, and, for a
// message "udp", a datagram to the sender's UDP port (announced as
// "port N"); it sends a datagram back for every datagram too. It closes a
// connection on "bye".
type server struct {
	r    *core.Reactor
	addr string
	udp  *core.UDPPort
}

func startServer(t testing.TB) *server {
	t.Helper()
	r, err := core.New()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{r: r}
	ln, err := r.ListenTCP("127.0.0.1:0", core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
		return framing.NewProtocol(&serverConn{s: s}, 0), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.udp, err = r.ListenUDP("127.0.0.1:0", datagramFunc(func(b []byte, from netip.AddrPort) {
		_ = s.udp.WriteTo(append([]byte("echo:"), b...), from)
	}))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	t.Cleanup(func() {
		_ = r.Stop()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the server did not stop")
		}
	})
	return s
}

type datagramFunc func([]byte, netip.AddrPort)

func (f datagramFunc) DatagramReceived(b []byte, from netip.AddrPort) { f(b, from) }

type serverConn struct {
	s    *server
	t    core.Transport
	peer netip.AddrPort
	out  []byte
}

func (c *serverConn) ConnectionMade(t core.Transport) { c.t = t }
func (c *serverConn) ConnectionLost(error)            {}
func (c *serverConn) MessageReceived(m []byte) error {
	switch {
	case string(m) == "bye":
		_ = c.t.LoseConnection()
		return nil
	case len(m) > 5 && string(m[:5]) == "port ":
		var port uint16
		fmt.Sscanf(string(m[5:]), "%d", &port)
		c.peer = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	case string(m) == "udp" && c.peer.IsValid():
		_ = c.s.udp.WriteTo([]byte("pushed"), c.peer)
	}
	rev := make([]byte, len(m))
	for i := range m {
		rev[len(m)-1-i] = m[i]
	}
	c.out, _ = framing.Send(c.t, c.out, rev)
	return nil
}

// pinger is the game under test. It dials the server, opens a UDP port
// and tells the server about it, then on a timer every 10 ms sends a
// message made from the frame's input, and a datagram every third tick.
// Its state: what it has received, hashed, with the times it saw. A
// recordable "bye" says goodbye and closes.
type pinger struct {
	net    netio.Net
	addr   string
	srvUDP netip.AddrPort
	t      core.Transport
	udp    netio.PacketPort
	ticker netio.Timer
	input  uint64
	ticks  int
	out    []byte

	state uint64 // FNV-1a of everything observed
	msgs  int
	dgram int
	lost  error
	done  bool
	log   []string // what it observed, in order
}

func (g *pinger) mix(b []byte) {
	h := g.state
	if h == 0 {
		h = 14695981039346656037
	}
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	g.state = h
}

func (g *pinger) observe(format string, args ...any) {
	s := fmt.Sprintf("%d: ", g.net.Now().UnixNano()) + fmt.Sprintf(format, args...)
	g.log = append(g.log, s)
	g.mix([]byte(s))
}

func (g *pinger) start() error {
	_, err := g.net.ConnectTCP(g.addr, core.ClientFuncs{
		Build:  func(net.Addr) (core.Protocol, error) { return framing.NewProtocol(g, 0), nil },
		Failed: func(err error) { g.observe("failed %v", err); g.done = true },
	}, 5*time.Second)
	return err
}

func (g *pinger) ConnectionMade(t core.Transport) {
	g.t = t
	g.observe("made %v", t.RemoteAddr())
	u, err := g.net.ListenUDP("127.0.0.1:0", datagramFunc(func(b []byte, from netip.AddrPort) {
		g.dgram++
		g.observe("datagram %q from %v", b, from)
	}))
	if err != nil {
		g.observe("udp %v", err)
		return
	}
	g.udp = u
	g.send(fmt.Sprintf("port %d", u.LocalAddr().Port()))
	g.ticker, _ = g.net.CallEvery(10*time.Millisecond, g.tick)
}

func (g *pinger) MessageReceived(m []byte) error {
	g.msgs++
	g.observe("message %q", m)
	return nil
}

func (g *pinger) ConnectionLost(err error) {
	g.observe("lost %v", err)
	g.lost, g.done = err, true
	if g.ticker != nil {
		_ = g.ticker.Cancel()
	}
	if g.udp != nil {
		_ = g.udp.Close()
	}
}

func (g *pinger) send(s string) {
	if g.t != nil {
		g.out, _ = framing.Send(g.t, g.out, []byte(s))
	}
}

func (g *pinger) tick() {
	g.ticks++
	g.observe("tick %d", g.ticks)
	g.send(fmt.Sprintf("tick %d input %d", g.ticks, g.input))
	if g.ticks%3 == 0 && g.udp != nil {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], g.input)
		_ = g.udp.WriteTo(b[:], g.srvUDP)
		g.send("udp")
	}
}

func (g *pinger) bye() {
	g.observe("bye")
	g.send("bye")
	if g.t != nil {
		err := g.t.LoseConnection()
		g.observe("lose: %v", err)
	}
	if g.ticker != nil {
		_ = g.ticker.Cancel()
	}
}

// frame is the game's per-frame logic: it takes the frame's input.
func (g *pinger) frame(input uint64) {
	g.input = input
}

func (g *pinger) hash() uint64 {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[:], uint64(g.msgs))
	binary.LittleEndian.PutUint64(b[8:], uint64(g.dgram))
	binary.LittleEndian.PutUint64(b[16:], g.input)
	h := g.state
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}
