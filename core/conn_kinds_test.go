//go:build unix

package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"
)

// The stream suite runs over every kind of connection the reactor takes:
// a raw TCP socket (descriptor-backed where the backend has a poller), and
// connections that have no descriptor and are goroutine-backed on every
// backend: an adopted net.Pipe end, a *tls.Conn over loopback TCP, a
// WebSocket connection (core/ws, added by the external test package, see
// ws_kind_test.go, since core/ws imports core).
//
// A kind cannot always express what the suite asks of a socket; its
// capabilities say so, and the suite adapts the case to them explicitly
// (connCaps.fit, the model's verdict), never by skipping it.

// connCaps is what a kind of connection can do besides carrying bytes.
// The fields are exported for ws_kind_test.go (package core_test).
type connCaps struct {
	// Sides: the reactor's end can dial or accept (ConnectTCP/ListenTCP,
	// ConnectTLS/ListenTLS, ws.Dial/ws.Handler). A net.Pipe has no sides:
	// the reactor adopts one end of a pair.
	Sides bool
	// RcvBuf: the peer's receive buffer can be set (SO_RCVBUF). A net.Pipe
	// has no kernel buffer at all (each Write waits for a Read); a
	// WebSocket's socket is the HTTP client's or server's.
	RcvBuf bool
	// Reset: the peer can reset the connection (SO_LINGER 0, then close),
	// and the reactor must report ErrConnectionReset. A net.Pipe has no
	// RST; a WebSocket's close is a message, and coder/websocket gives the
	// peer no access to its socket.
	Reset bool
	// HalfClose: either end can end its sending side alone (CloseWrite:
	// TCP's FIN, TLS's close_notify) and go on reading. A net.Pipe and a
	// WebSocket close both ways at once, so LoseConnection closes the
	// connection once everything is sent and the peer never half-closes.
	HalfClose bool
	// AbortSeen: an abortive end (AbortConnection, a linger timeout, a
	// full queue) reaches the peer as an error, not as a clean end of
	// stream (TCP's RST; TLS's too: no close_notify is sent; a WebSocket
	// closed without its close message). A net.Pipe end's Close is the
	// only end it has: the peer sees a clean end of stream after a prefix,
	// which the model then accepts.
	AbortSeen bool
	// AbortDrops: an abort drops what the peer has not read yet, however
	// much was handed to the kernel: a reset discards the peer's receive
	// queue (TCP, TLS), and a net.Pipe holds nothing in flight. A
	// WebSocket's abort closes its socket (coder/websocket has no reset),
	// and what the kernels hold by then, up to tens of megabytes on
	// loopback, still arrives.
	AbortDrops bool
	// GoBacked: the reactor's end is goroutine-backed on every backend.
	GoBacked bool
}

// fit adapts a case to what the kind can do: the peer's steps and the
// settings the kind cannot express are taken out, as the capability
// table's comments say why. The rest of the case runs as it is.
func (c connCaps) fit(p modelProgram) modelProgram {
	if !c.Sides {
		p.cfg.dial = false
	}
	if !c.RcvBuf {
		p.cfg.peerRcvBuf = 0
	}
	if !c.HalfClose {
		p.peer.closeWrite = false
	}
	if !c.Reset {
		steps := make([]pstep, 0, len(p.peer.steps))
		for _, s := range p.peer.steps {
			if s.op != peerReset {
				steps = append(steps, s)
			}
		}
		p.peer.steps = steps
	}
	return p
}

// connLink asks a kind for one connection. Fields are exported for
// ws_kind_test.go.
type connLink struct {
	// Dial: the reactor's end dials the peer; else the peer dials it (or,
	// without sides, the reactor adopts one end of a pair).
	Dial bool
	// RcvBuf is the peer's SO_RCVBUF, 0 for the default.
	RcvBuf int
	// Deadline bounds the peer's setup (accept, dial, handshake).
	Deadline time.Time
	// Opts are the reactor's connection's options.
	Opts []ListenOption
	// Build makes the reactor's end's Protocol, on the main thread.
	Build func(net.Addr) (Protocol, error)
	// Failed hears, on the main thread, why the reactor's attempt to
	// connect failed.
	Failed func(error)
	// Peer gets the peer's end, or why there is none, exactly once, on a
	// goroutine; it closes the end before it returns.
	Peer func(c net.Conn, err error)
}

// connKind is a kind of stream connection. open starts one connection;
// done is closed once Peer has returned and the kind has released what
// it made for the connection. On an error nothing was started.
type connKind struct {
	name string
	caps connCaps
	// checks is the model's number of cases per backend and driver on this
	// kind, unless the command line says (-rapid.checks, RAPID_CHECKS).
	checks int
	open   func(r *Reactor, l connLink) (done <-chan struct{}, err error)
}

// connKinds are the kinds the suite runs over; ws_kind_test.go adds the
// WebSocket kind when the test binary starts (addConnKind).
var connKinds = []connKind{
	{name: "tcp", checks: modelChecks, open: openTCP,
		caps: connCaps{Sides: true, RcvBuf: true, Reset: true, HalfClose: true, AbortSeen: true, AbortDrops: true}},
	{name: "pipe", checks: 8, open: openPipe,
		caps: connCaps{AbortDrops: true, GoBacked: true}},
	{name: "tls", checks: 8, open: openTLS,
		caps: connCaps{Sides: true, RcvBuf: true, Reset: true, HalfClose: true, AbortSeen: true, AbortDrops: true, GoBacked: true}},
}

// addConnKind adds a kind to the suite (for the external test package,
// through AddConnKind, before any test runs).
func addConnKind(k connKind) { connKinds = append(connKinds, k) }

// forEachKind runs f as subtests named kind/backend/driver.
func forEachKind(t *testing.T, f func(t *testing.T, h *harness, k connKind)) {
	for _, k := range connKinds {
		t.Run(k.name, func(t *testing.T) {
			forEach(t, func(t *testing.T, h *harness) { f(t, h, k) })
		})
	}
}

// openTCP: ConnectTCP to a Go listener, or a Go dialer to ListenTCP.
func openTCP(r *Reactor, l connLink) (<-chan struct{}, error) {
	done := make(chan struct{})
	if l.Dial {
		lc := net.ListenConfig{Control: rcvBufControl(l.RcvBuf)}
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		go func() {
			defer close(done)
			_ = ln.(*net.TCPListener).SetDeadline(l.Deadline)
			c, err := ln.Accept()
			ln.Close()
			l.Peer(c, err)
		}()
		_, err = r.ConnectTCP(ln.Addr().String(), ClientFuncs{
			Build:  l.Build,
			Failed: func(err error) { ln.Close(); l.Failed(err) },
		}, 5*time.Second, l.Opts...)
		if err != nil {
			ln.Close()
			<-done
			return nil, err
		}
		return done, nil
	}
	port, err := r.ListenTCP("127.0.0.1:0", FactoryFunc(l.Build), l.Opts...)
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(done)
		d := net.Dialer{Deadline: l.Deadline, Control: rcvBufControl(l.RcvBuf)}
		l.Peer(d.Dial("tcp", port.Addr().String()))
	}()
	return done, nil
}

// openPipe: the reactor adopts one end of a net.Pipe.
func openPipe(r *Reactor, l connLink) (<-chan struct{}, error) {
	mine, theirs := net.Pipe()
	p, err := l.Build(mine.RemoteAddr())
	if err == nil {
		_, err = r.AdoptConn(mine, p, l.Opts...)
	}
	if err != nil {
		mine.Close()
		theirs.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Peer(theirs, nil)
	}()
	return done, nil
}

// openTLS: ConnectTLS to a Go TLS server, or a Go TLS client to ListenTLS;
// either way the reactor adopts a *tls.Conn over loopback TCP. The peer's
// handshake completes before the peer's script starts, so that a script
// that begins with a reset resets a connection, not a handshake.
func openTLS(r *Reactor, l connLink) (<-chan struct{}, error) {
	cert, err := makeCert()
	if err != nil {
		return nil, err
	}
	server := &tls.Config{Certificates: []tls.Certificate{cert}}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	client := &tls.Config{RootCAs: pool, ServerName: "reactor.test"}
	handshake := func(c *tls.Conn) (net.Conn, error) {
		ctx, cancel := context.WithDeadline(context.Background(), l.Deadline)
		defer cancel()
		if err := c.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	done := make(chan struct{})
	if l.Dial {
		lc := net.ListenConfig{Control: rcvBufControl(l.RcvBuf)}
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		go func() {
			defer close(done)
			_ = ln.(*net.TCPListener).SetDeadline(l.Deadline)
			c, err := ln.Accept()
			ln.Close()
			if err != nil {
				l.Peer(nil, err)
				return
			}
			l.Peer(handshake(tls.Server(c, server)))
		}()
		ctx, cancel := context.WithDeadline(context.Background(), l.Deadline)
		err = r.ConnectTLS(ctx, ln.Addr().String(), client, ClientFuncs{
			Build:  func(a net.Addr) (Protocol, error) { cancel(); return l.Build(a) },
			Failed: func(err error) { cancel(); ln.Close(); l.Failed(err) },
		}, l.Opts...)
		if err != nil {
			cancel()
			ln.Close()
			<-done
			return nil, err
		}
		return done, nil
	}
	port, err := r.ListenTLS("127.0.0.1:0", server, FactoryFunc(l.Build), l.Opts...)
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(done)
		d := net.Dialer{Deadline: l.Deadline, Control: rcvBufControl(l.RcvBuf)}
		c, err := d.Dial("tcp", port.Addr().String())
		if err != nil {
			l.Peer(nil, err)
			return
		}
		l.Peer(handshake(tls.Client(c, client)))
	}()
	return done, nil
}

// resetConn resets the connection under c (a TCP socket, or what a
// *tls.Conn runs on): SO_LINGER 0, then close. It reports false for a
// connection that has no socket to reset.
func resetConn(c net.Conn) bool {
	tc := tcpOf(c)
	if tc == nil {
		return false
	}
	_ = tc.SetLinger(0)
	_ = tc.Close()
	return true
}

// closeWrite ends c's sending side, if c can (TCP, TLS).
func closeWrite(c net.Conn) error {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return errors.New("this connection cannot half-close")
	}
	return cw.CloseWrite()
}
