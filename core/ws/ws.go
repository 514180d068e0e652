// Package ws carries a reactor's byte streams over WebSocket connections,
// for browser games (browsers have no raw TCP) and for servers behind HTTP
// infrastructure. Each WebSocket connection becomes a core.Transport with
// the same callbacks, budget, flow control and shutdown as a TCP
// connection: the stream's bytes travel in binary messages, so a game that
// frames its messages (core/framing) frames them the same way here.
//
// The WebSocket protocol itself is github.com/coder/websocket's; this
// package only joins it to the reactor. Handler is mounted on an HTTP
// server; Dial works natively and in the browser (GOOS=js GOARCH=wasm).
package ws

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/coder/websocket"
	"github.com/threadedselect/reactor/core"
)

// Options configure Handler and Dial.
type Options struct {
	// Subprotocols are offered (Dial) or accepted (Handler).
	Subprotocols []string
	// OriginPatterns are the origins Handler accepts besides the request's
	// own host (see websocket.AcceptOptions); empty: the same origin only.
	OriginPatterns []string
	// MaxMessage bounds one incoming WebSocket message (default 64 KiB).
	// The stream is unaffected: a longer write from the peer's reactor is
	// split into several messages.
	MaxMessage int64
	// Conn are the options for each connection (core.WithMaxUnread,
	// core.WithMaxQueued, ...).
	Conn []core.ListenOption
}

func (o *Options) maxMessage() int64 {
	if o == nil || o.MaxMessage <= 0 {
		return 64 << 10
	}
	return o.MaxMessage
}

// Handler returns an http.Handler that upgrades each request to a
// WebSocket and runs a Protocol from f on it, on r's main thread. The
// handler returns when the connection is over. The remote address given to
// f is the HTTP request's (behind a proxy, that is the proxy's). Safe to
// mount on any HTTP server; the upgrade runs on the server's goroutine,
// never on the main thread.
func Handler(r *core.Reactor, f core.Factory, o *Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ao websocket.AcceptOptions
		if o != nil {
			ao.Subprotocols = o.Subprotocols
			ao.OriginPatterns = o.OriginPatterns
		}
		c, err := websocket.Accept(w, req, &ao)
		if err != nil {
			return // Accept wrote the HTTP error
		}
		c.SetReadLimit(o.maxMessage())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		nc := &conn{Conn: websocket.NetConn(ctx, c, websocket.MessageBinary), ws: c, remote: remoteAddr(req.RemoteAddr)}
		done := make(chan struct{})
		nc.done = done
		var opts []core.ListenOption
		if o != nil {
			opts = o.Conn
		}
		adopt := func() {
			p, err := f.BuildProtocol(nc.RemoteAddr())
			if err != nil || p == nil {
				nc.Close()
				return
			}
			if _, err := r.AdoptConn(nc, p, opts...); err != nil {
				nc.Close()
			}
		}
		if err := r.CallFromThread(adopt); err != nil {
			c.Close(websocket.StatusGoingAway, "server stopping")
			return
		}
		select {
		case <-done:
		case <-req.Context().Done():
			nc.Close()
		}
	})
}

// Dial connects to url (ws:// or wss://) on a goroutine and, on r's main
// thread, runs a Protocol from f on the connection, or tells
// f.ConnectionFailed why there is none. It works natively and in the
// browser, where the browser makes the connection. ctx bounds the
// connection attempt; cancelling it later does not close the connection
// (LoseConnection does). Main thread, or any goroutine.
func Dial(ctx context.Context, r *core.Reactor, url string, f core.ClientFactory, o *Options) {
	go func() {
		var do websocket.DialOptions
		if o != nil {
			do.Subprotocols = o.Subprotocols
		}
		c, _, err := websocket.Dial(ctx, url, &do)
		var nc net.Conn
		if err == nil {
			c.SetReadLimit(o.maxMessage())
			nc = &conn{Conn: websocket.NetConn(context.Background(), c, websocket.MessageBinary), ws: c, remote: urlAddr(url)}
		}
		var opts []core.ListenOption
		if o != nil {
			opts = o.Conn
		}
		_ = r.AdoptDialed(nc, wrapDialError(url, err), f, opts...)
	}()
}

// conn is a WebSocket's net.Conn with a meaningful remote address, and a
// signal for Handler when it is closed.
type conn struct {
	net.Conn
	ws     *websocket.Conn
	remote net.Addr
	done   chan struct{}
	once   sync.Once
}

// Read drops bytes that come with an error: when a client's connection
// ends inside a frame, coder/websocket returns the frame's last bytes
// still masked, with the error; the stream is broken there anyway.
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (c *conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// Close closes the WebSocket with a normal close message and waits for
// the peer's (at most 5 s), discarding what the peer still sends, so that
// the peer reads every byte sent before its end of stream. The net.Conn's
// own Close would cancel a read under way, which cuts the connection
// without its close handshake (and, with the peer's bytes unread, the
// socket is reset, dropping what the peer had not read yet).
func (c *conn) Close() error {
	err := c.ws.Close(websocket.StatusNormalClosure, "")
	c.Conn.Close() // releases the net.Conn's contexts; the WebSocket is closed already
	if c.done != nil {
		c.once.Do(func() { close(c.done) })
	}
	return err
}

// CloseNow closes the WebSocket without its close handshake, as the
// reactor does for AbortConnection: the peer sees an abnormal closure, not
// a normal one.
func (c *conn) CloseNow() error {
	err := c.ws.CloseNow()
	c.Conn.Close() // releases the net.Conn's contexts; the WebSocket is closed already
	if c.done != nil {
		c.once.Do(func() { close(c.done) })
	}
	return err
}

// wsAddr is the address of a WebSocket peer.
type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }

func remoteAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return wsAddr(s)
}

func urlAddr(url string) net.Addr {
	s := url
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	return wsAddr(s)
}

// wrapDialError says which URL could not be reached; the cause stays
// reachable with errors.Is and errors.As.
func wrapDialError(url string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ws: dial %s: %w", url, err)
}
