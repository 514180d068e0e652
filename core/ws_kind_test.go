//go:build unix

package core_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/ws"
)

// The WebSocket kind of the stream suite (conn_kinds_test.go): the reactor
// dials with ws.Dial or serves with ws.Handler, and the peer is a plain
// coder/websocket connection seen as a net.Conn carrying binary messages.
// It lives in the external test package because core/ws imports core.
func init() {
	// A WebSocket has no half-close (its close is a message that ends
	// both directions), no reset the peer can make (coder/websocket keeps
	// its socket) and no receive buffer the peer can size. An abort closes
	// the socket without a close message (an abnormal closure: AbortSeen),
	// but what the kernels hold by then still arrives (no AbortDrops).
	core.AddConnKind("ws", core.ConnCaps{Sides: true, AbortSeen: true, GoBacked: true}, 8, openWS)
}

// openWS makes one WebSocket connection between r and a peer.
func openWS(r *core.Reactor, l core.ConnLink) (<-chan struct{}, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	url := "ws://" + ln.Addr().String() + "/"
	opts := &ws.Options{Conn: l.Opts}
	done := make(chan struct{})
	if l.Dial {
		// The peer serves; the reactor dials.
		accepted := make(chan net.Conn, 1)
		failed := make(chan error, 1)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			c, err := websocket.Accept(w, req, nil)
			if err != nil {
				return // Accept answered the request
			}
			nc := peerConn(c)
			select {
			case accepted <- nc:
			default:
				nc.Close() // one connection only
			}
		})}
		served := make(chan struct{})
		go func() { defer close(served); _ = srv.Serve(ln) }()
		go func() {
			defer close(done)
			timer := time.NewTimer(time.Until(l.Deadline))
			defer timer.Stop()
			select {
			case c := <-accepted:
				l.Peer(c, nil)
			case err := <-failed:
				l.Peer(nil, err)
			case <-timer.C:
				l.Peer(nil, errors.New("ws: nobody connected"))
			}
			srv.Close()
			<-served
			select {
			case c := <-accepted:
				c.Close()
			default:
			}
		}()
		ctx, cancel := context.WithDeadline(context.Background(), l.Deadline)
		ws.Dial(ctx, r, url, core.ClientFuncs{
			Build: func(a net.Addr) (core.Protocol, error) { cancel(); return l.Build(a) },
			Failed: func(err error) {
				cancel()
				failed <- err
				l.Failed(err)
			},
		}, opts)
		return done, nil
	}
	// The reactor serves with ws.Handler; the peer dials.
	srv := &http.Server{Handler: ws.Handler(r, core.FactoryFunc(l.Build), opts)}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	go func() {
		defer close(done)
		ctx, cancel := context.WithDeadline(context.Background(), l.Deadline)
		c, _, err := websocket.Dial(ctx, url, nil)
		cancel()
		if err != nil {
			l.Peer(nil, err)
		} else {
			l.Peer(peerConn(c), nil)
		}
		srv.Close()
		<-served
	}()
	return done, nil
}

// peerConn is the peer's end: the WebSocket as a net.Conn, whose Read
// drops bytes that come with an error. coder/websocket returns a frame's
// bytes still masked when a client's connection ends inside the frame
// (msgReader.read); core/ws does the same for the reactor's end.
func peerConn(c *websocket.Conn) net.Conn {
	return dropOnError{websocket.NetConn(context.Background(), c, websocket.MessageBinary)}
}

type dropOnError struct{ net.Conn }

func (d dropOnError) Read(p []byte) (int, error) {
	n, err := d.Conn.Read(p)
	if err != nil {
		return 0, err
	}
	return n, nil
}
