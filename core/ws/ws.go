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
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// MaxMessage bounds one WebSocket message. A longer write leaves as
	// several messages, so the stream is unaffected (0: 64 KiB). A peer's
	// message longer than it ends the connection with StatusMessageTooBig,
	// and ConnectionLost gets an error matching websocket.ErrMessageTooBig
	// (0: no bound; a message's bytes are streamed to the protocol as they
	// arrive, so memory is bounded by core.WithMaxUnread either way).
	MaxMessage int64
	// Conn are the options for each connection (core.WithMaxUnread,
	// core.WithMaxQueued, ...).
	Conn []core.ListenOption
	// TLS is the TLS configuration Dial uses for wss:// URLs, for example
	// to trust a server whose certificate a private CA signed (RootCAs);
	// nil uses the system's roots. Dial clones it. In the browser it is
	// ignored: the browser makes the connection and trusts what it trusts.
	// Handler does not use it (the HTTP server terminates TLS).
	TLS *tls.Config
}

// maxMessage returns the bound on incoming messages (-1: none) and the
// size writes are split at.
func (o *Options) maxMessage() (read int64, write int) {
	if o == nil || o.MaxMessage <= 0 {
		return -1, 64 << 10
	}
	return o.MaxMessage, int(o.MaxMessage)
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
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		nc := newConn(c, websocket.NetConn(ctx, c, websocket.MessageBinary), remoteAddr(req.RemoteAddr), o)
		done := make(chan struct{})
		nc.done = done
		var opts []core.ListenOption
		if o != nil {
			opts = o.Conn
		}
		// refuse closes a connection the reactor did not take, off the main
		// thread: the close handshake waits for the peer.
		refuse := func() { go func() { _ = nc.Close() }() }
		adopt := func() {
			p, err := f.BuildProtocol(nc.RemoteAddr())
			if err != nil || p == nil {
				refuse()
				return
			}
			if _, err := r.AdoptConn(nc, p, opts...); err != nil {
				refuse()
			}
		}
		if err := r.CallFromThread(adopt); err != nil {
			_ = c.Close(websocket.StatusGoingAway, "server stopping")
			return
		}
		select {
		case <-done:
		case <-req.Context().Done():
			_ = nc.Close()
		}
	})
}

// Dial connects to url (ws:// or wss://) on a goroutine and, on r's main
// thread, runs a Protocol from f on the connection, or tells
// f.ConnectionFailed why there is none. It works natively and in the
// browser, where the browser makes the connection. ctx bounds the
// connection attempt; cancelling it later does not close the connection
// (LoseConnection does). Options.TLS sets whom a wss:// server must be
// certified by. Main thread, or any goroutine.
func Dial(ctx context.Context, r *core.Reactor, url string, f core.ClientFactory, o *Options) {
	go func() {
		do, release := dialOptions(o)
		c, _, err := websocket.Dial(ctx, url, do)
		release()
		var nc net.Conn
		if err == nil {
			nc = newConn(c, websocket.NetConn(context.Background(), c, websocket.MessageBinary), urlAddr(url), o)
		}
		var opts []core.ListenOption
		if o != nil {
			opts = o.Conn
		}
		_ = r.AdoptDialed(nc, wrapDialError(url, err), f, opts...)
	}()
}

// conn is a WebSocket's net.Conn with a meaningful remote address, a
// signal for Handler when it is closed, and the reactor's view of how a
// WebSocket ends:
//
//   - A close frame with StatusNormalClosure or StatusGoingAway (a browser
//     tab closing) is the end of the stream, io.EOF, which the reactor
//     reports to ConnectionLost as core.ErrConnectionDone. A write that
//     fails because that close frame closed the connection meanwhile
//     (the peer's close races the writer) is the peer's end of stream
//     too, not a write error: like a TCP write after the peer's FIN, it
//     succeeds and what it carried is not read.
//   - A connection that ends without a close frame is not a clean close:
//     Read returns a websocket.CloseError with StatusAbnormalClosure (the
//     RFC 6455 code for it), which does not match io.EOF.
//   - Any other close frame ends the stream with its websocket.CloseError.
//   - Closing it (LoseConnection) sends StatusNormalClosure and waits for
//     the peer's answer (coder/websocket bounds this: 5 s to send the close
//     frame, 5 s for the answer), so that the peer sees a clean close too.
//     The reactor wakes the connection's blocked reader and writer by
//     setting a deadline in the past, which on a WebSocket's net.Conn
//     would drop the connection without a close frame: here it starts the
//     close handshake instead, which wakes them as well.
//   - Aborting it (AbortConnection, a linger timeout, a full queue) sends
//     no close frame: the reactor calls CloseNow, and the peer sees an
//     abnormal closure, as a TCP peer sees a reset.
type conn struct {
	net.Conn
	ws        *websocket.Conn
	remote    net.Addr
	max       int // Options.MaxMessage: longer writes go out as several messages
	done      chan struct{}
	once      sync.Once
	closing   atomic.Bool // closing by our side: a failed write is no race with the peer
	handshake sync.Once
	closeErr  error // the close handshake's, once handshake is done

	readOnce sync.Once
	readEnd  chan struct{} // closed when Read has returned its error, readErr
	readErr  error
}

// peerCloseWait bounds how long a write that failed on a closed connection
// waits for the read side to say how the peer closed it. The close frame
// that closed it is being handled by a Read that is about to return, so
// the wait is short; the bound is for what should not happen.
const peerCloseWait = 2 * time.Second

// newConn wraps the net.Conn that websocket.NetConn made of ws. The read
// limit is set here, after NetConn, which turns it off.
func newConn(ws *websocket.Conn, c net.Conn, remote net.Addr, o *Options) *conn {
	read, write := o.maxMessage()
	ws.SetReadLimit(read)
	return &conn{Conn: c, ws: ws, remote: remote, max: write, readEnd: make(chan struct{})}
}

// Read drops bytes that come with an error: when a client's connection
// ends inside a frame, coder/websocket returns the frame's last bytes
// still masked, with the error; the stream is broken there anyway.
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		n = 0
		if err != io.EOF && errors.Is(err, io.EOF) {
			// The TCP connection ended without a close frame.
			err = websocket.CloseError{Code: websocket.StatusAbnormalClosure, Reason: "closed without a close frame: " + err.Error()}
		}
		c.readOnce.Do(func() {
			c.readErr = err
			close(c.readEnd)
		})
	}
	return n, err
}

// Write sends p as one binary message, or as several of at most
// Options.MaxMessage bytes: the peer reads a byte stream either way, and a
// peer with the same limit accepts them.
func (c *conn) Write(p []byte) (int, error) {
	sent := 0
	for len(p)-sent > c.max {
		n, err := c.write(p[sent : sent+c.max])
		sent += n
		if err != nil {
			return sent, err
		}
	}
	n, err := c.write(p[sent:])
	return sent + n, err
}

func (c *conn) write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err == nil || c.closing.Load() || !errors.Is(err, net.ErrClosed) {
		return n, err
	}
	// Closed under the writer, not by us: by a close frame the read side
	// is handling. Its verdict decides.
	t := time.NewTimer(peerCloseWait)
	defer t.Stop()
	select {
	case <-c.readEnd:
	case <-t.C:
		return n, err
	}
	if c.readErr == io.EOF {
		return len(p), nil
	}
	return n, fmt.Errorf("ws: write after the peer closed: %w", c.readErr)
}

func (c *conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// Close closes the WebSocket with StatusNormalClosure, the close handshake
// first: the net.Conn's own Close cancels a Read in progress before it
// sends the close frame, which closes the TCP connection under the
// handshake and makes the peer see an end without a close frame.
func (c *conn) Close() error {
	c.closeHandshake()
	err := c.closeErr
	if err2 := c.Conn.Close(); err == nil && !errors.Is(err2, net.ErrClosed) {
		err = err2 // releases the net.Conn's timers; the WebSocket is closed already
	}
	c.released()
	return err
}

// released tells Handler, once, that the connection is closed (its
// request handler returns then).
func (c *conn) released() {
	if c.done != nil {
		c.once.Do(func() { close(c.done) })
	}
}

// closeHandshake closes the WebSocket with StatusNormalClosure, once;
// concurrent calls wait for the first.
func (c *conn) closeHandshake() {
	c.handshake.Do(func() {
		c.closing.Store(true)
		c.closeErr = c.ws.Close(websocket.StatusNormalClosure, "")
	})
}

// SetDeadline sets the deadline of reads and writes. A deadline already
// past is how the reactor wakes a blocked read or write to close the
// connection: the close handshake begins, on a goroutine (the caller is
// the main thread), and ends them. Close waits for it.
func (c *conn) SetDeadline(t time.Time) error {
	if !t.IsZero() && !t.After(time.Now()) {
		c.closing.Store(true)
		go c.closeHandshake()
		return nil
	}
	return c.Conn.SetDeadline(t)
}

// CloseNow closes the WebSocket without its close handshake, as the
// reactor does for AbortConnection: the peer sees an abnormal closure, not
// a normal one.
func (c *conn) CloseNow() error {
	c.closing.Store(true)
	err := c.ws.CloseNow()
	c.Conn.Close() // releases the net.Conn's timers; the WebSocket is closed already
	c.released()
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
