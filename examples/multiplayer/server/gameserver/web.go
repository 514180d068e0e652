package gameserver

import (
	"net/http"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/ws"
)

// WebSocketHandler returns an http.Handler that takes players over
// WebSocket (package core/ws): each connection carries the same byte
// stream as a TCP connection, and is counted, limited and logged like one
// (its address is the HTTP peer's; behind a proxy, the proxy's). Such
// players have no UDP: their snapshots go over the WebSocket. Browsers
// connect this way. Mount it on any HTTP server, on any path; the
// server's shutdown closes these connections too. Safe from any goroutine.
// o may be nil; o.Conn is appended to the server's own connection
// options.
func (s *Server) WebSocketHandler(o *ws.Options) http.Handler {
	var opts ws.Options
	if o != nil {
		opts = *o
	}
	opts.Conn = append(s.connOptions(), opts.Conn...)
	if opts.MaxMessage <= 0 {
		// A client sends small messages; its reactor splits nothing larger
		// than what it wrote at once.
		opts.MaxMessage = 16 << 10
	}
	return ws.Handler(s.r, s.sess.Factory(), &opts)
}

// connOptions are the options of every connection: the linger, how much
// is read ahead of the server, the kernel's send buffer (TCP, TLS),
// Config.ListenOptions.
func (s *Server) connOptions() []core.ListenOption {
	opts := append([]core.ListenOption{core.WithLinger(s.cfg.Linger), core.WithMaxUnread(maxUnread)}, sendBufferOption(s.cfg.SendBuffer)...)
	return append(opts, s.cfg.ListenOptions...)
}
