package ws_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/ws"
	"go.uber.org/goleak"
)

// TestWebSocketCloseReasons: how a peer ends a WebSocket decides what
// ConnectionLost says on the reactor's side. The peer is a plain
// coder/websocket client, as a browser would be, and the server writes
// every millisecond meanwhile (a game server's snapshots), so that the
// peer's close races the reactor's writer; several connections per case
// make the race happen. A close frame with StatusNormalClosure or
// StatusGoingAway (a closing browser tab) is a clean close: ErrConnectionDone,
// which matches io.EOF. Any other code is not, and the reason carries its
// websocket.CloseError; no close frame at all is not either.
func TestWebSocketCloseReasons(t *testing.T) {
	const conns = 16
	cases := []struct {
		name  string
		close func(c *websocket.Conn) error
		clean bool
		code  websocket.StatusCode // if not 0: the status the reason carries
	}{
		{"normal", func(c *websocket.Conn) error { return c.Close(websocket.StatusNormalClosure, "") }, true, 0},
		{"going-away", func(c *websocket.Conn) error { return c.Close(websocket.StatusGoingAway, "tab closed") }, true, 0},
		{"policy", func(c *websocket.Conn) error { return c.Close(websocket.StatusPolicyViolation, "go away") }, false, websocket.StatusPolicyViolation},
		// No close frame: Read says StatusAbnormalClosure, unless a write
		// fails first (broken pipe); either way not clean.
		{"no-close-frame", func(c *websocket.Conn) error { return c.CloseNow() }, false, 0},
	}
	for _, backend := range core.Backends() {
		for _, tc := range cases {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				defer goleak.VerifyNone(t)
				r, err := core.New(core.WithBackend(backend))
				if err != nil {
					t.Fatal(err)
				}
				lost := make(chan error, conns)
				f := core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
					p := &proto{}
					var tick *core.DelayedCall
					p.made = func(tr core.Transport) {
						snapshot := make([]byte, 200)
						tick = r.CallEvery(time.Millisecond, func() { _, _ = tr.Write(snapshot) })
					}
					p.lost = func(err error) { _ = tick.Cancel(); lost <- err }
					return p, nil
				})
				srv := httptest.NewServer(ws.Handler(r, f, nil))
				defer srv.Close()
				ran := make(chan error, 1)
				go func() { ran <- r.Run() }()
				defer func() {
					_ = r.CallFromThread(func() { _ = r.Stop() })
					if err := <-ran; err != nil {
						t.Error(err)
					}
				}()
				url := "ws" + strings.TrimPrefix(srv.URL, "http")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				for range conns {
					c, _, err := websocket.Dial(ctx, url, nil)
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := c.Read(ctx); err != nil { // the server is writing
						t.Fatal(err)
					}
					if err := tc.close(c); err != nil && tc.clean {
						t.Fatalf("close: %v", err)
					}
				}
				for i := range conns {
					var err error
					select {
					case err = <-lost:
					case <-ctx.Done():
						t.Fatalf("%d of %d connections lost", i, conns)
					}
					clean := errors.Is(err, core.ErrConnectionDone) && errors.Is(err, io.EOF)
					if clean != tc.clean {
						t.Fatalf("connection %d lost with %v; want clean=%v", i, err, tc.clean)
					}
					if tc.code != 0 && websocket.CloseStatus(err) != tc.code {
						t.Fatalf("connection %d lost with %v; want a websocket.CloseError with %v", i, err, tc.code)
					}
				}
			})
		}
	}
}

// TestWebSocketServerCloseIsCleanForDialer: the other direction, with the
// reactor dialing. The server's protocol closes its end (LoseConnection,
// which sends StatusNormalClosure) while the client's reactor writes every
// millisecond: the client's ConnectionLost gets ErrConnectionDone.
func TestWebSocketServerCloseIsCleanForDialer(t *testing.T) {
	const conns = 16
	forEachBackend(t, func(t *testing.T, r *core.Reactor) {
		srvLost := make(chan error, conns)
		f := core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
			p := &proto{}
			p.data = func([]byte) { _ = p.t.LoseConnection() }
			p.lost = func(err error) { srvLost <- err }
			return p, nil
		})
		srv := httptest.NewServer(ws.Handler(r, f, nil))
		defer srv.Close()
		url := "ws" + strings.TrimPrefix(srv.URL, "http")
		lost := make(chan error, conns)
		client := core.ClientFuncs{
			Build: func(net.Addr) (core.Protocol, error) {
				p := &proto{}
				var tick *core.DelayedCall
				p.made = func(tr core.Transport) {
					input := make([]byte, 16)
					tick = r.CallEvery(time.Millisecond, func() { _, _ = tr.Write(input) })
				}
				p.lost = func(err error) { _ = tick.Cancel(); lost <- err }
				return p, nil
			},
			Failed: func(err error) { lost <- err },
		}
		for range conns {
			ws.Dial(context.Background(), r, url, client, nil)
		}
		ran := make(chan error, 1)
		go func() { ran <- r.Run() }()
		defer func() {
			_ = r.CallFromThread(func() { _ = r.Stop() })
			if err := <-ran; err != nil {
				t.Error(err)
			}
		}()
		deadline := time.After(10 * time.Second)
		for i := range conns {
			select {
			case err := <-lost:
				if !errors.Is(err, core.ErrConnectionDone) {
					t.Fatalf("client connection %d lost with %v; want ErrConnectionDone", i, err)
				}
			case <-deadline:
				t.Fatalf("%d of %d client connections lost", i, conns)
			}
			select {
			case err := <-srvLost:
				if !errors.Is(err, core.ErrConnectionDone) {
					t.Fatalf("server connection %d lost with %v; want ErrConnectionDone (it closed itself)", i, err)
				}
			case <-deadline:
				t.Fatalf("%d of %d server connections lost", i, conns)
			}
		}
	})
}

// TestWebSocketRefusedByFactory: a connection the factory refuses gets a
// close frame (StatusNormalClosure), sent off the main thread, which meanwhile
// keeps running (a thread call made after the refusal runs before the
// peer answers the close).
func TestWebSocketRefusedByFactory(t *testing.T) {
	defer goleak.VerifyNone(t)
	r, err := core.New()
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan struct{})
	f := core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
		close(refused)
		return nil, errors.New("no room")
	})
	srv := httptest.NewServer(ws.Handler(r, f, nil))
	defer srv.Close()
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	defer func() {
		_ = r.CallFromThread(func() { _ = r.Stop() })
		if err := <-ran; err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	<-refused
	// The server's close frame is waiting; the peer has not answered it
	// (it answers when it reads). The main thread is free all the same.
	mainFree := make(chan struct{})
	if err := r.CallFromThread(func() { close(mainFree) }); err != nil {
		t.Fatal(err)
	}
	// A close on the main thread would block it until coder/websocket gives
	// up waiting for the answer, after 5 s.
	select {
	case <-mainFree:
	case <-time.After(2500 * time.Millisecond):
		t.Fatal("the main thread is blocked by the refused connection's close")
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("refused connection: read %v; want a close with StatusNormalClosure", err)
	}
}
