package session

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
)

// TestServerDropsSilentClient: on a fake clock, a client that says hello
// and then nothing is pinged, dropped at the idle timeout with a reason
// that says so, kept for the grace period, then forgotten; a connection
// that never says hello is dropped at the handshake timeout.
func TestServerDropsSilentClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		clk := core.NewFakeClock(time.Unix(1000, 0))
		sl := startLoop(t, backend, nil, core.WithClock(clk))
		detached := make(chan error, 1)
		left := make(chan error, 1)
		srv := echoServer(sl, ServerConfig{IdleTimeout: 10 * time.Second, HandshakeTimeout: 5 * time.Second, Grace: 30 * time.Second,
			OnDetach: func(p *Peer, err error) { detached <- err },
			OnLeave:  func(p *Peer, err error) { left <- err },
		})
		raw := dialRaw(t, srv.Addr().String(), "")
		raw.hello("test/1", "silent")
		raw.expect(msgWelcome)

		_ = clk.Advance(9 * time.Second)
		raw.expect(msgPing) // the server's timer ran: still there, and pinged
		sl.do(func() {
			if st := srv.Stats(); st.Sessions != 1 || st.Detached != 0 {
				t.Errorf("after 9s: %+v", st)
			}
		})
		_ = clk.Advance(time.Second)
		err := recv(t, detached, "detach")
		if !errors.Is(err, ErrIdleTimeout) || !errors.Is(err, core.ErrTimeout) || !strings.Contains(err.Error(), "nothing from the client for 10s") {
			t.Fatalf("detached with %v", err)
		}
		raw.expectClosed()
		sl.waitLog(watchdog, "session: detach", "nothing from the client for 10s")

		_ = clk.Advance(30 * time.Second)
		if err := recv(t, left, "leave"); !errors.Is(err, ErrGraceExpired) {
			t.Fatalf("left with %v", err)
		}
		sl.waitLog(watchdog, "session: leave", "reason=expired")

		mute := dialRaw(t, srv.Addr().String(), "")
		sl.until("the mute connection accepted", func() bool { return srv.Stats().Conns == 1 })
		_ = clk.Advance(5 * time.Second)
		mute.expectClosed()
		sl.waitLog(watchdog, "session: drop", "no hello within 5s")
		sl.do(func() {
			if st := srv.Stats(); st.Drops != 1 || st.Sessions != 0 || st.Conns != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	})
}

// TestClientDropsSilentServer: on a fake clock, a server that welcomes and
// then falls silent is dropped at the client's idle timeout (Reconnecting,
// CauseLost, ErrIdleTimeout); the next attempt presents the session's token,
// and a server that never welcomes is dropped at the handshake timeout.
func TestClientDropsSilentServer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		clk := core.NewFakeClock(time.Unix(1000, 0))
		cl := startLoop(t, backend, nil, core.WithClock(clk))
		statuses := make(chan State, 16)
		c := cl.dial(ClientConfig{Addr: ln.Addr().String(), App: "test/1", IdleTimeout: 5 * time.Second,
			HandshakeTimeout: 3 * time.Second, PingInterval: time.Second,
			Backoff:  Backoff{Initial: time.Second, Jitter: -1},
			OnStatus: func(c *Client) { statuses <- c.State() }})
		raw := acceptRaw(t, ln)
		if h, err := decodeHello(raw.expect(msgHello)); err != nil || h.resume || string(h.app) != "test/1" {
			t.Fatalf("hello %+v, %v", h, err)
		}
		token := newToken()
		raw.send(appendWelcome(nil, welcome{id: 7, token: token}))
		if st := recv(t, statuses, "connected"); st.Status != Connected || st.ID != 7 {
			t.Fatalf("state %+v", st)
		}

		_ = clk.Advance(4 * time.Second)
		raw.expect(msgPing)
		_ = clk.Advance(time.Second)
		st := recv(t, statuses, "reconnecting")
		if st.Status != Reconnecting || st.Cause != CauseLost || !errors.Is(st.Err, ErrIdleTimeout) ||
			!strings.Contains(st.Err.Error(), "nothing from the server for 5s") {
			t.Fatalf("state %v %v %v", st.Status, st.Cause, st.Err)
		}
		raw.expectClosed()

		_ = clk.Advance(time.Second) // the backoff's wait
		mute := acceptRaw(t, ln)
		h, err := decodeHello(mute.expect(msgHello))
		if err != nil || !h.resume || h.id != 7 || h.token != token {
			t.Fatalf("second hello %+v, %v", h, err)
		}
		_ = clk.Advance(3 * time.Second)
		mute.expectClosed()
		cl.until("the handshake timeout", func() bool { return c.State().Attempts == 2 })
		st = cl.state(c)
		if st.Status != Reconnecting || st.Cause != CauseLost || !errors.Is(st.Err, ErrHandshakeTimeout) {
			t.Fatalf("state %v %v %v", st.Status, st.Cause, st.Err)
		}
	})
}

// TestPerAddressLimits: one IP address gets at most MaxSessionsPerAddr
// sessions and MaxConnsPerAddr connections, each refusal saying which;
// beyond twice MaxConnsPerAddr a connection is closed at accept; other
// addresses, and exempt ones, are not affected.
func TestPerAddressLimits(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.3:0"); err != nil {
		t.Skip("no 127.0.0.2 and 127.0.0.3 on this host:", err)
	} else {
		_ = ln.Close()
	}
	forEachBackend(t, func(t *testing.T, backend string) {
		sl := startLoop(t, backend, nil)
		srv := echoServer(sl, ServerConfig{MaxConnsPerAddr: 2, MaxSessionsPerAddr: 1, Linger: time.Minute,
			AddrLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}})
		addr := srv.Addr().String()
		a1 := dialRaw(t, addr, "127.0.0.2")
		a1.hello("test/1", "a1")
		a1.expect(msgWelcome)

		a2 := dialRaw(t, addr, "127.0.0.2")
		a2.hello("test/1", "a2")
		if bye := decodeBye(a2.expect(msgBye)); bye.Reason != ReasonAddrLimit || bye.Text != "too many sessions from 127.0.0.2 (limit 1)" {
			t.Fatalf("bye %+v", bye)
		}
		a2.expectClosed()

		sl.waitFor("the refused connection gone", watchdog, func() bool { return srv.Stats().Conns == 1 })
		a3 := dialRaw(t, addr, "127.0.0.2") // connected, no hello yet
		sl.waitFor("two connections", watchdog, func() bool { return srv.Stats().Conns == 2 })
		// Two more get a Bye, and stay open (the server waits for them to
		// close, up to its linger of a minute)...
		for range 2 {
			a := dialRaw(t, addr, "127.0.0.2")
			if bye := decodeBye(a.expect(msgBye)); bye.Reason != ReasonAddrLimit || bye.Text != "too many connections from 127.0.0.2 (limit 2)" {
				t.Fatalf("bye %+v", bye)
			}
		}
		// ... and with four open, the next one is closed at accept.
		a6 := dialRaw(t, addr, "127.0.0.2")
		if p, err := a6.read(); err == nil {
			t.Fatalf("got %x, want the connection closed", p)
		}
		sl.waitLog(watchdog, "session: drop", "addr=127.0.0.2", "too many connections from the address")

		// An exempt address: two sessions, although the limit is one.
		for _, name := range []string{"b1", "b2"} {
			b := dialRaw(t, addr, "127.0.0.3")
			b.hello("test/1", name)
			b.expect(msgWelcome)
		}
		a3.hello("test/1", "a3") // still one session from 127.0.0.2
		decodeBye(a3.expect(msgBye))
		sl.waitLog(watchdog, "session: refuse", "addr=127.0.0.2", "too many connections")
		sl.do(func() {
			if st := srv.Stats(); st.Sessions != 3 || st.Refused != 4 || st.Drops != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	})
}

// TestServerDropsClientThatDoesNotRead: on a fake clock, a client that
// keeps sending but never answers the server's pings is dropped at
// PongTimeout, although it is not idle.
func TestServerDropsClientThatDoesNotRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		clk := core.NewFakeClock(time.Unix(1000, 0))
		sl := startLoop(t, backend, nil, core.WithClock(clk))
		detached := make(chan error, 1)
		srv := echoServer(sl, ServerConfig{IdleTimeout: 10 * time.Second, PongTimeout: 3 * time.Second,
			OnDetach: func(p *Peer, err error) { detached <- err }})
		raw := dialRaw(t, srv.Addr().String(), "")
		raw.hello("test/1", "deaf")
		raw.expect(msgWelcome)
		_ = clk.Advance(time.Second)
		raw.expect(msgPing) // the server's first ping: never answered
		for range 3 {
			raw.send(appendPing(nil, msgPing, 1)) // but the client is not silent
			raw.expect(msgPong)
			_ = clk.Advance(time.Second)
		}
		err := recv(t, detached, "detach")
		if !errors.Is(err, ErrNotReading) || !errors.Is(err, core.ErrTimeout) || !strings.Contains(err.Error(), "no answer to a ping for 3s") {
			t.Fatalf("detached with %v", err)
		}
		raw.expectClosed()
	})
}

// TestUDPFallback: on a fake clock, a bound client that hears nothing over
// UDP for UDPTimeout goes back to TCP, and so does the server; unreliable
// messages then travel over TCP and the session goes on.
func TestUDPFallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		clk := core.NewFakeClock(time.Unix(1000, 0))
		l := startLoop(t, backend, nil, core.WithClock(clk))
		srv := echoServer(l, ServerConfig{UDP: true, IdleTimeout: 20 * time.Second, UDPTimeout: 3 * time.Second})
		viaUDP := make(chan bool, 4)
		l.do(func() {
			_ = srv.Handle(msgCount, func(p *Peer, b []byte) error {
				viaUDP <- p.UDPBound()
				return nil
			})
		})
		c := l.dial(ClientConfig{Addr: srv.Addr().String(), App: "test/1", Hello: []byte("u"), UDP: true,
			IdleTimeout: 20 * time.Second, UDPTimeout: 3 * time.Second, UDPRetry: -1})
		l.until("bound", func() bool { return c.State().UDP == UDPBound && srv.Stats().UDPBound == 1 })
		l.do(func() { _ = c.SendUnreliable(c.Begin(msgCount)) })
		if !recv(t, viaUDP, "a message over udp") {
			t.Fatal("not bound on the server")
		}
		_ = clk.Advance(3*time.Second + time.Millisecond) // nothing was sent over UDP meanwhile
		l.until("fallback", func() bool { return c.State().UDP == UDPFallback && srv.Stats().UDPBound == 0 })
		l.do(func() {
			if err := c.SendUnreliable(c.Begin(msgCount)); err != nil {
				t.Error(err)
			}
		})
		if recv(t, viaUDP, "a message over tcp") {
			t.Fatal("still bound on the server")
		}
		if st := l.state(c); st.Status != Connected {
			t.Fatalf("status %v", st.Status)
		}
	})
}

// TestBadInputDropsOnlyThatClient: garbage before the hello, a malformed
// frame, and an unknown reserved message after it drop the client that
// sent them, each with a reason; a well-behaved client goes on.
func TestBadInputDropsOnlyThatClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sl := startLoop(t, backend, nil)
		srv := echoServer(sl, ServerConfig{MaxMessage: 1024})
		cl := startLoop(t, backend, nil)
		got := make(chan string, 4)
		c := cl.dial(ClientConfig{Addr: srv.Addr().String(), App: "test/1", Hello: []byte("good")})
		cl.do(func() {
			_ = c.Handle(msgEcho, func(b []byte) error {
				got <- string(b[1:])
				return nil
			})
		})
		cl.waitFor("connected", watchdog, func() bool { return c.State().Status == Connected })

		garbage := dialRaw(t, srv.Addr().String(), "")
		garbage.send([]byte{msgEcho, 1, 2, 3}) // an application message before the hello
		garbage.expectClosed()
		huge := dialRaw(t, srv.Addr().String(), "")
		if _, err := huge.c.Write([]byte{0xff, 0xff, 0xff, 0x7f}); err != nil { // a frame far over MaxMessage
			t.Fatal(err)
		}
		huge.expectClosed()
		malformed := dialRaw(t, srv.Addr().String(), "")
		malformed.send([]byte{msgHello, wireVersion, 0xff}) // every hello gets an answer
		if bye := decodeBye(malformed.expect(msgBye)); bye.Reason != ReasonProtocol || bye.Text != "malformed hello" {
			t.Fatalf("bye %+v", bye)
		}
		malformed.expectClosed()
		rude := dialRaw(t, srv.Addr().String(), "")
		rude.hello("test/1", "rude")
		rude.expect(msgWelcome)
		rude.send([]byte{0xfe})
		if bye := decodeBye(rude.expect(msgBye)); bye.Reason != ReasonProtocol || !strings.Contains(bye.Text, "unexpected message type 0xfe") {
			t.Fatalf("bye %+v", bye)
		}
		rude.expectClosed()

		cl.do(func() { _ = c.Send(append(c.Begin(msgEcho), "still "...)) })
		if s := recv(t, got, "echo"); s != "still good" {
			t.Fatalf("echo %q", s)
		}
		sl.waitLog(watchdog, "session: drop", "before hello")
		sl.waitLog(watchdog, "session: drop", "frame too large")
		sl.do(func() {
			if st := srv.Stats(); st.Drops != 2 || st.Sessions != 1 || st.Leaves != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	})
}

// TestUDPBindNeedsTokenAndAddress: the server answers a binding only with
// the session's token and from the IP address of its TCP connection, and
// answers nothing to anyone else; once bound, its pings are answered.
func TestUDPBindNeedsTokenAndAddress(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sl := startLoop(t, backend, nil)
		srv := echoServer(sl, ServerConfig{UDP: true})
		raw := dialRaw(t, srv.Addr().String(), "")
		raw.hello("test/1", "u")
		w, err := decodeWelcome(raw.expect(msgWelcome))
		if err != nil || w.udpPort == 0 {
			t.Fatalf("welcome %+v, %v", w, err)
		}
		server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(w.udpPort)}
		u, err := net.DialUDP("udp", nil, server)
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		send := func(c *net.UDPConn, p []byte) {
			if _, err := c.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		wrong := w.token
		wrong[0]++
		send(u, appendBind(nil, w.id, wrong))     // wrong token
		send(u, appendBind(nil, w.id+1, w.token)) // wrong session
		send(u, []byte{msgPing, 0})               // not bound yet
		bad := uint64(3)
		if other, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, server); err == nil {
			send(other, appendBind(nil, w.id, w.token)) // right token, another address
			_ = other.Close()
			bad++
		}
		send(u, appendBind(nil, w.id, w.token))
		send(u, appendPing(nil, msgPing, 42))
		buf := make([]byte, 64)
		for i, want := range []byte{msgBound, msgPong} {
			_ = u.SetReadDeadline(time.Now().Add(watchdog))
			n, err := u.Read(buf)
			if err != nil || n == 0 || buf[0] != want {
				t.Fatalf("datagram %d: %x, %v; want type %#x", i, buf[:n], err, want)
			}
		}
		sl.do(func() {
			if st := srv.Stats(); st.UDPBound != 1 || st.BadDatagrams != bad {
				t.Errorf("stats %+v", st)
			}
		})
	})
}
