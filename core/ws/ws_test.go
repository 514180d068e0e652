package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/ws"
	"go.uber.org/goleak"
)

type proto struct {
	made func(core.Transport)
	data func([]byte)
	lost func(error)
	t    core.Transport
}

func (p *proto) ConnectionMade(t core.Transport) {
	p.t = t
	if p.made != nil {
		p.made(t)
	}
}
func (p *proto) DataReceived(b []byte) {
	if p.data != nil {
		p.data(b)
	}
}
func (p *proto) ConnectionLost(err error) {
	if p.lost != nil {
		p.lost(err)
	}
}

// TestWebSocketEcho: an HTTP server mounting Handler, a client using Dial,
// both on one reactor driven by Run: megabytes go both ways through binary
// messages and arrive intact and in order; a clean close on both ends.
func TestWebSocketEcho(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *core.Reactor) {
		serverLost := make(chan error, 1)
		echo := core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
			p := &proto{}
			p.data = func(b []byte) { p.t.Write(b) }
			p.lost = func(err error) { serverLost <- err }
			return p, nil
		})
		srv := httptest.NewServer(ws.Handler(r, echo, nil))
		defer srv.Close()
		url := "ws" + strings.TrimPrefix(srv.URL, "http")
		payload := make([]byte, 2<<20)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		var got []byte
		var clientLost error
		ws.Dial(context.Background(), r, url, core.ClientFuncs{
			Build: func(net.Addr) (core.Protocol, error) {
				p := &proto{}
				p.made = func(tr core.Transport) { tr.Write(payload) }
				p.data = func(b []byte) {
					got = append(got, b...)
					if len(got) == len(payload) {
						p.t.LoseConnection()
					}
				}
				p.lost = func(err error) { clientLost = err; r.Stop() }
				return p, nil
			},
			Failed: func(err error) { t.Errorf("dial: %v", err); r.Stop() },
		}, nil)
		done := make(chan error, 1)
		go func() { done <- r.Run() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			r.Stop()
			t.Fatal("timeout")
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("echoed %d of %d bytes", len(got), len(payload))
		}
		if !errors.Is(clientLost, core.ErrConnectionDone) {
			t.Fatalf("client lost: %v", clientLost)
		}
		select {
		case <-serverLost:
		case <-time.After(5 * time.Second):
			t.Fatal("the server's connection was not lost")
		}
	})
}

// TestWebSocketDialFailure: a URL nobody serves reaches ConnectionFailed.
func TestWebSocketDialFailure(t *testing.T) {
	defer goleak.VerifyNone(t)
	r, err := core.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	srv.Close()
	var failed error
	ws.Dial(context.Background(), r, url, core.ClientFuncs{
		Build:  func(net.Addr) (core.Protocol, error) { t.Error("built"); return &proto{}, nil },
		Failed: func(err error) { failed = err; r.Stop() },
	}, nil)
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	if failed == nil || !strings.Contains(failed.Error(), url) {
		t.Fatalf("ConnectionFailed(%v)", failed)
	}
}

// serve runs ws.Handler for f on a loopback HTTP server until the test
// ends, and returns its ws:// URL.
func serve(t *testing.T, r *core.Reactor, f core.Factory) string {
	t.Helper()
	srv := httptest.NewServer(ws.Handler(r, f, nil))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// runFor runs r until it stops, failing the test if that takes 20 s.
func runFor(t *testing.T, r *core.Reactor) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Run() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		r.Stop()
		<-done
		t.Fatal("the reactor did not stop within 20 s")
	}
}

// TestWebSocketLoseConnectionWhilePeerSends: LoseConnection while the
// peer is still sending ends the WebSocket with its close handshake: the
// peer reads every byte written, then a normal close (io.EOF). It used to
// be cut without it (the reader's deadline, then the net.Conn's Close,
// cancelled the read under way), and with the peer's bytes unread the
// socket was reset, so the peer lost the end of what was written.
func TestWebSocketLoseConnectionWhilePeerSends(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *core.Reactor) {
		const total = 512 << 10
		payload := make([]byte, total)
		for i := range payload {
			payload[i] = byte(i * 13)
		}
		var lost error
		url := serve(t, r, core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
			p := &proto{}
			p.made = func(tr core.Transport) { tr.Write(payload); tr.LoseConnection() }
			p.lost = func(err error) { lost = err }
			return p, nil
		}))
		type result struct {
			got []byte
			err error
		}
		peer := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				peer <- result{err: err}
				return
			}
			nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
			defer nc.Close()
			sent := make(chan struct{})
			go func() { // keeps sending until the connection ends
				defer close(sent)
				chunk := make([]byte, 64<<10)
				for i := 0; i < 64; i++ {
					if _, err := nc.Write(chunk); err != nil {
						return
					}
				}
			}()
			got, err := io.ReadAll(nc)
			nc.Close()
			<-sent
			peer <- result{got, err}
			r.CallFromThread(func() { r.Stop() })
		}()
		runFor(t, r)
		res := <-peer
		if res.err != nil || !bytes.Equal(res.got, payload) {
			t.Fatalf("the peer read %d of %d bytes (equal: %v), then %v", len(res.got), total, bytes.Equal(res.got, payload), res.err)
		}
		if !errors.Is(lost, core.ErrConnectionDone) {
			t.Fatalf("ConnectionLost(%v), want ErrConnectionDone", lost)
		}
	})
}

// TestWebSocketClientCutInsideFrame: a client whose connection ends inside
// a frame. coder/websocket returns the frame's last bytes with the error,
// still masked: DataReceived used to get them, garbage. Only the
// payload's bytes reach the protocol, then ConnectionLost with an error.
func TestWebSocketClientCutInsideFrame(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *core.Reactor) {
		var got []byte
		var lost []error
		url := serve(t, r, core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
			p := &proto{}
			p.data = func(b []byte) { got = append(got, b...) }
			p.lost = func(err error) { lost = append(lost, err); r.Stop() }
			return p, nil
		}))
		c, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// The opening handshake, by hand, then a binary frame of 1000
		// bytes of which only 600 are sent.
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", c.RemoteAddr())
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v, %v", resp, err)
		}
		mask := [4]byte{0xa5, 0x5a, 0xff, 0x01}
		frame := []byte{0x82, 0x80 | 126, 1000 >> 8, 1000 & 0xff, mask[0], mask[1], mask[2], mask[3]}
		for i := 0; i < 600; i++ {
			frame = append(frame, 'x'^mask[i%4])
		}
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		c.Close()
		runFor(t, r)
		if n := bytes.Count(got, []byte("x")); n != len(got) {
			t.Fatalf("DataReceived got %d bytes, %d of them not the payload's: %q", len(got), len(got)-n, got)
		}
		if len(lost) != 1 || lost[0] == nil || errors.Is(lost[0], core.ErrConnectionDone) {
			t.Fatalf("ConnectionLost calls %v, want one with an error", lost)
		}
	})
}

// TestWebSocketAbortIsNoNormalClose: AbortConnection ends a WebSocket
// without its close handshake, as it resets a TCP connection: the peer
// sees an abnormal closure, never the normal close that LoseConnection
// sends. The abort comes while the reactor is not reading (its read-ahead
// is full), where it used to send a normal close.
func TestWebSocketAbortIsNoNormalClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *core.Reactor) {
		var lost error
		srv := httptest.NewServer(ws.Handler(r, core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
			p := &proto{}
			p.data = func([]byte) { p.t.AbortConnection() }
			p.lost = func(err error) { lost = err }
			return p, nil
		}), &ws.Options{Conn: []core.ListenOption{core.WithMaxUnread(1)}}))
		t.Cleanup(srv.Close)
		url := "ws" + strings.TrimPrefix(srv.URL, "http")
		peerErr := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				peerErr <- err
				return
			}
			nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
			defer nc.Close()
			_, err = nc.Write([]byte("hello"))
			if err == nil {
				_, err = io.Copy(io.Discard, nc)
			}
			peerErr <- err
			r.CallFromThread(func() { r.Stop() })
		}()
		runFor(t, r)
		err := <-peerErr
		if err == nil || err == io.EOF || websocket.CloseStatus(err) != -1 {
			t.Fatalf("the peer's read ended with %v (close status %d), want an abnormal closure", err, websocket.CloseStatus(err))
		}
		if !errors.Is(lost, core.ErrAborted) {
			t.Fatalf("ConnectionLost(%v), want ErrAborted", lost)
		}
	})
}

// forEachBackend runs f on a new reactor of each backend, in a subtest
// that fails if goroutines are left once it and its cleanups (the HTTP
// servers' Close) are done.
func forEachBackend(t *testing.T, f func(t *testing.T, r *core.Reactor)) {
	for _, backend := range core.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			r, err := core.New(core.WithBackend(backend))
			if err != nil {
				t.Fatal(err)
			}
			f(t, r)
		})
	}
}
