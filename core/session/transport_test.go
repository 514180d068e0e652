package session

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/ws"
	"github.com/threadedselect/reactor/internal/testcert"
)

// releasing calls release once f has heard the outcome of an attempt.
func releasing(f core.ClientFactory, release func()) core.ClientFactory {
	return core.ClientFuncs{
		Build: func(remote net.Addr) (core.Protocol, error) {
			release()
			return f.BuildProtocol(remote)
		},
		Failed: func(err error) {
			release()
			f.ConnectionFailed(err)
		},
	}
}

// TestOtherTransports: a server listening with TLS (ServerConfig.TLS), and
// one taking WebSocket connections through its Factory, each with a
// client connecting through ClientConfig.Dial: both welcome the client,
// carry messages, and see its address as a session address.
func TestOtherTransports(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		cert := testcert.New(t, t.TempDir())
		sl := startLoop(t, backend, nil)
		cl := startLoop(t, backend, nil)
		check := func(name string, srv *Server, dial func(r *core.Reactor, f core.ClientFactory, timeout time.Duration) (func(), error)) {
			t.Helper()
			back := make(chan string, 1)
			c := cl.dial(ClientConfig{Addr: name, App: "test/1", Hello: []byte(name), Dial: dial})
			cl.do(func() {
				_ = c.Handle(msgEcho, func(b []byte) error {
					back <- string(b[1:])
					return nil
				})
			})
			cl.waitFor(name+" connected", watchdog, func() bool { return c.State().Status == Connected })
			cl.do(func() {
				if err := c.Send(append(c.Begin(msgEcho), "hi "...)); err != nil {
					t.Error(err)
				}
			})
			if s := recv(t, back, name+" echo"); s != "hi "+name {
				t.Fatalf("%s: echo %q", name, s)
			}
			sl.do(func() {
				if p := srv.Peer(c.ID()); p == nil || !p.Addr().Addr().IsLoopback() {
					t.Errorf("%s: peer %v", name, p)
				}
			})
			var bye <-chan struct{}
			cl.do(func() { bye = c.Goodbye() })
			recv(t, bye, name+" goodbye")
		}

		tlsSrv := echoServer(sl, ServerConfig{TLS: cert.Server})
		check("tls", tlsSrv, func(r *core.Reactor, f core.ClientFactory, timeout time.Duration) (func(), error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			if err := r.ConnectTLS(ctx, tlsSrv.Addr().String(), cert.Client, releasing(f, cancel)); err != nil {
				cancel()
				return nil, err
			}
			return cancel, nil
		})

		wsSrv := echoServer(sl, ServerConfig{})
		hs := httptest.NewServer(ws.Handler(sl.r, wsSrv.Factory(), nil))
		defer hs.Close()
		url := "ws://" + strings.TrimPrefix(hs.URL, "http://")
		check("ws", wsSrv, func(r *core.Reactor, f core.ClientFactory, timeout time.Duration) (func(), error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			ws.Dial(ctx, r, url, releasing(f, cancel), nil)
			return cancel, nil
		})
	})
}

// TestLateDialedConnection: a ClientConfig.Dial whose connection arrives
// after Goodbye cancelled the attempt: the connection is refused, the
// client ends Disconnected with CauseQuit, and nothing is written to it.
func TestLateDialedConnection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		cl := startLoop(t, backend, nil)
		var f core.ClientFactory
		cancelled := 0
		c := cl.dial(ClientConfig{Addr: "late", App: "test/1", Dial: func(r *core.Reactor, cf core.ClientFactory, timeout time.Duration) (func(), error) {
			f = cf
			return func() { cancelled++ }, nil
		}})
		var bye <-chan struct{}
		cl.do(func() { bye = c.Goodbye() })
		ours, theirs := net.Pipe()
		defer theirs.Close()
		if err := cl.r.AdoptDialed(ours, nil, f); err != nil {
			t.Fatal(err)
		}
		recv(t, bye, "the end of the client")
		cl.do(func() {
			if st := c.State(); st.Status != Disconnected || st.Cause != CauseQuit || cancelled != 1 {
				t.Errorf("state %+v, cancelled %d times", st, cancelled)
			}
		})
		buf := make([]byte, 1)
		if n, err := theirs.Read(buf); n != 0 || err == nil {
			t.Errorf("read %d bytes, %v from a refused connection", n, err)
		}
	})
}
