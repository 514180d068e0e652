package session

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
)

// ServerConfig configures a Server. Zero fields take their defaults.
type ServerConfig struct {
	// Addr is the TCP address to listen on, "host:port"; port 0 picks one
	// (see Server.Addr). Required.
	Addr string
	// App names the application protocol and its version; a client with
	// another is refused (ReasonVersion). At most 64 bytes.
	App string
	// UDP opens the UDP fast path on the same host and port number as TCP
	// (if that port cannot be had, the server logs it and runs without).
	UDP bool

	// MaxSessions bounds the sessions, connected or waiting to be resumed;
	// one more is refused with ReasonFull. Default 64.
	MaxSessions int
	// MaxConns bounds the TCP connections open at once, in session or
	// not; beyond it a connection is closed as soon as it is accepted.
	// Default 4×MaxSessions+16.
	MaxConns int
	// MaxConnsPerAddr and MaxSessionsPerAddr bound the connections and the
	// sessions of one address (an IPv4 address, or an IPv6 /64); beyond
	// them the client is refused with ReasonAddrLimit, and beyond twice
	// MaxConnsPerAddr a connection is closed as soon as it is accepted.
	// 0 means no limit: set both on a public server.
	MaxConnsPerAddr, MaxSessionsPerAddr int
	// AddrLimitExempt lists the addresses the per-address limits do not
	// apply to (say netip.MustParsePrefix("127.0.0.0/8") for local bots).
	AddrLimitExempt []netip.Prefix

	HandshakeTimeout time.Duration // from accepted to Hello; default 5s
	// IdleTimeout: a connection that sends nothing (its pings included)
	// for this long is dropped (ErrIdleTimeout). Default 10s. Clients are
	// told it and ping at least three times within it.
	IdleTimeout  time.Duration
	PingInterval time.Duration // how often the server pings each client, for its RTT; default 1s
	// PongTimeout: a client that has not answered a ping sent this long
	// ago is dropped (ErrNotReading), even if it sends: a client that
	// writes but never reads can hide behind a kernel that acknowledges
	// everything into a growing receive buffer. Default IdleTimeout;
	// negative: off.
	PongTimeout time.Duration
	// Grace is how long a session whose connection was lost (not one
	// that quit or was kicked) is kept for its client to resume it; default
	// 10s, negative: none.
	Grace time.Duration
	// UDPTimeout: a bound client whose datagrams stop for this long is
	// sent its unreliable messages over TCP again. Default 3s.
	UDPTimeout time.Duration
	// MaxMessage is the largest payload a client may send over TCP
	// (a longer one drops it); default framing.DefaultMaxMessage.
	// MaxDatagram is the largest payload sent over UDP (a larger
	// SendUnreliable goes over TCP); default 1200.
	MaxMessage, MaxDatagram int
	// Linger bounds how long closing a connection waits for the client to
	// take what is queued; default 2s.
	Linger time.Duration
	// WelcomeData is sent to every client in its welcome (Welcome.Data):
	// the tick rate, the map, whatever a client needs before the first
	// message.
	WelcomeData []byte
	// ShutdownReason is the text LoseAll sends when the reactor shuts down;
	// default "server shutting down".
	ShutdownReason string
	// LogRate bounds the log lines clients can cause, per second, with a
	// burst of five times as many; suppressed lines are counted
	// (ServerStats.LogSuppressed). Default 20; negative: no bound.
	LogRate float64
	// Logger receives the server's log lines; default the reactor's
	// (core.WithLogger).
	Logger *slog.Logger
	// TLS, if set, makes the server listen with TLS (core's ListenTLS)
	// instead of plain TCP; clients then connect with ClientConfig.Dial.
	// UDP stays plain.
	TLS *tls.Config
	// ListenOptions are passed to core's ListenTCP, after the server's own
	// (core.WithLinger(Linger)).
	ListenOptions []core.ListenOption

	// Accept, if set, decides on each new session (not on a resumed one):
	// p has its id, hello is ClientConfig.Hello (valid during the call).
	// Set p.Data here; p cannot send yet (it is welcomed after Accept
	// returns). A non-nil error refuses the client with its text
	// (ReasonRefused); p is then forgotten.
	Accept func(p *Peer, hello []byte) error
	// OnJoin is called once a new session is welcomed: messages sent to p
	// from here on follow the welcome.
	OnJoin func(p *Peer)
	// OnResume is called when a client resumed its session (p is the same
	// Peer, with its Data) on a new connection.
	OnResume func(p *Peer)
	// OnDetach is called when a session loses its connection and waits
	// Grace to be resumed; err says how it was lost.
	OnDetach func(p *Peer, err error)
	// OnLeave is called once when a session ends for good; err says why:
	// ErrQuit, ErrGraceExpired, a *ByeError for kicks and shutdown
	// (errors.Is(err, ErrKicked), ErrServerShutdown), or how the
	// connection was lost when there is no grace.
	OnLeave func(p *Peer, err error)
}

func (c ServerConfig) withDefaults() (ServerConfig, error) {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, fmt.Errorf("%w: session: address %q: %v", core.ErrInvalidArgument, c.Addr, err)
	}
	if len(c.App) > maxAppLen {
		return c, fmt.Errorf("%w: session: App longer than %d bytes", core.ErrInvalidArgument, maxAppLen)
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 64
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 4*c.MaxSessions + 16
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HandshakeTimeout, 5*time.Second)
	def(&c.IdleTimeout, 10*time.Second)
	def(&c.PingInterval, time.Second)
	def(&c.PongTimeout, c.IdleTimeout)
	def(&c.Grace, 10*time.Second)
	def(&c.UDPTimeout, 3*time.Second)
	def(&c.Linger, 2*time.Second)
	if c.HandshakeTimeout < 0 || c.IdleTimeout < 0 || c.PingInterval < 0 || c.UDPTimeout < 0 || c.Linger < 0 {
		return c, fmt.Errorf("%w: session: negative timeout", core.ErrInvalidArgument)
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = framing.DefaultMaxMessage
	}
	if c.MaxDatagram <= 0 {
		c.MaxDatagram = 1200
	}
	if c.ShutdownReason == "" {
		c.ShutdownReason = "server shutting down"
	}
	if c.LogRate == 0 {
		c.LogRate = 20
	}
	return c, nil
}

// ServerStats are a server's counters; the first four are now, the rest
// only grow.
type ServerStats struct {
	Sessions int // connected or waiting to be resumed
	Detached int // of which waiting to be resumed
	Conns    int // TCP connections open
	UDPBound int // sessions whose unreliable messages go over UDP

	Joins, Resumes, Detaches, Leaves uint64
	Refused                          uint64 // hellos refused (full, address limit, version, Accept)
	Drops                            uint64 // connections closed before a session: handshake timeout, bad input, MaxConns
	BadDatagrams                     uint64 // UDP datagrams ignored
	LogSuppressed                    uint64 // log lines not written (ServerConfig.LogRate)
}

// Server is the server end of sessions: it listens, hands each client a
// session (an id and a secret token) and keeps it through a lost
// connection for the grace period, enforces the limits and timeouts, and
// routes application messages to handlers. Its methods must be called on
// the reactor's main thread (or before the reactor starts).
type Server struct {
	r   *core.Reactor
	cfg ServerConfig
	log *slog.Logger

	port *core.Port
	udp  *core.UDPPort

	handlers [FirstReserved]func(p *Peer, payload []byte) error

	conns   map[*serverConn]struct{}
	peers   []*Peer // by increasing id
	byUDP   map[netip.AddrPort]*Peer
	perAddr map[netip.Prefix]*addrCount

	closing  bool
	closedCh chan struct{}
	tick     *core.DelayedCall
	epoch    time.Time
	logs     tokenBucket
	stats    ServerStats

	user, ctl encoder
	scratch   []*Peer
}

type addrCount struct{ conns, sessions int }

// Listen makes a server on r and starts listening on cfg.Addr (TCP, and
// UDP if cfg.UDP). It registers a before-shutdown trigger that calls
// LoseAll(cfg.ShutdownReason), so stopping the reactor says goodbye to
// every client. Main thread, or before the reactor starts.
func Listen(r *core.Reactor, cfg ServerConfig) (*Server, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: session: nil reactor", core.ErrInvalidArgument)
	}
	if cfg.Logger == nil {
		cfg.Logger = r.Logger()
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		r: r, cfg: cfg, log: cfg.Logger,
		conns:   make(map[*serverConn]struct{}),
		byUDP:   make(map[netip.AddrPort]*Peer),
		perAddr: make(map[netip.Prefix]*addrCount),
		epoch:   r.Now(),
		logs:    tokenBucket{rate: cfg.LogRate, burst: 5 * cfg.LogRate},
	}
	opts := append([]core.ListenOption{core.WithLinger(cfg.Linger)}, cfg.ListenOptions...)
	if cfg.TLS != nil {
		s.port, err = r.ListenTLS(cfg.Addr, cfg.TLS, core.FactoryFunc(s.buildProtocol), opts...)
	} else {
		s.port, err = r.ListenTCP(cfg.Addr, core.FactoryFunc(s.buildProtocol), opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("session: listen: %w", err)
	}
	if cfg.UDP {
		s.udp, err = r.ListenUDP(s.port.Addr().String(), serverUDP{s})
		if err != nil {
			s.log.Warn("session: udp unavailable, unreliable messages go over tcp", "addr", s.port.Addr().String(), "err", err)
			s.udp = nil
		}
	}
	fail := func(err error) (*Server, error) {
		_ = s.port.StopListening()
		if s.udp != nil {
			_ = s.udp.Close()
		}
		return nil, fmt.Errorf("session: %w", err)
	}
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} {
		return s.LoseAll(s.cfg.ShutdownReason)
	}); err != nil {
		return fail(err)
	}
	r.CallWhenRunning(s.start)
	attrs := []any{"addr", s.port.Addr().String(), "app", cfg.App, "max_sessions", cfg.MaxSessions}
	if s.udp != nil {
		attrs = append(attrs, "udp", s.udp.LocalAddr().String())
	}
	s.log.Info("session: listening", attrs...)
	return s, nil
}

// Addr is the TCP address the server listens on.
func (s *Server) Addr() net.Addr { return s.port.Addr() }

// UDPAddr is the address of the UDP port, or the zero AddrPort without one.
func (s *Server) UDPAddr() netip.AddrPort {
	if s.udp == nil {
		return netip.AddrPort{}
	}
	return s.udp.LocalAddr()
}

// Handle registers h for the application messages of type typ (their
// first payload byte, below FirstReserved), over TCP and UDP alike; nil
// removes it. The payload (type byte included) is valid only during the
// call. Over TCP, a message of a type with no handler, or a handler's
// error, kicks the client (ReasonProtocol, with the error's text); over
// UDP it is counted (ServerStats.BadDatagrams) and ignored.
func (s *Server) Handle(typ byte, h func(p *Peer, payload []byte) error) error {
	if typ >= FirstReserved {
		return fmt.Errorf("%w: session: message type %#x is reserved", core.ErrInvalidArgument, typ)
	}
	s.handlers[typ] = h
	return nil
}

// Begin returns an empty payload of type typ in the server's reused
// buffer: append the message's fields and pass it to Peer.Send,
// Peer.SendUnreliable, Broadcast or BroadcastUnreliable, which then copy
// nothing. It is valid until the next Begin on this server (or any of its
// peers).
func (s *Server) Begin(typ byte) []byte { return s.user.begin(typ) }

// Broadcast sends payload over TCP to every connected session. It frames
// the payload once and does not allocate.
func (s *Server) Broadcast(payload []byte) error {
	if err := checkPayload(payload); err != nil {
		return err
	}
	frame := s.user.frame(payload)
	for _, p := range s.peers {
		if p.conn != nil && !p.conn.closing {
			p.sent++
			_, _ = p.conn.t.Write(frame)
		}
	}
	return nil
}

// BroadcastUnreliable sends payload to every connected session: over UDP
// to those bound, over TCP to the others.
func (s *Server) BroadcastUnreliable(payload []byte) error {
	if err := checkPayload(payload); err != nil {
		return err
	}
	frame := s.user.frame(payload)
	payload = frame[len(frame)-len(payload):]
	for _, p := range s.peers {
		if p.conn == nil || p.conn.closing {
			continue
		}
		p.sent++
		if p.udpAddr.IsValid() && s.udp != nil && len(payload) <= s.cfg.MaxDatagram {
			_ = s.udp.WriteTo(payload, p.udpAddr)
		} else {
			_, _ = p.conn.t.Write(frame)
		}
	}
	return nil
}

// Peers appends every session (connected or waiting to be resumed) to
// dst, by increasing id, and returns it.
func (s *Server) Peers(dst []*Peer) []*Peer { return append(dst, s.peers...) }

// Peer returns the session with that id, or nil.
func (s *Server) Peer(id uint32) *Peer {
	i, ok := slices.BinarySearchFunc(s.peers, id, func(p *Peer, id uint32) int { return cmpU32(p.id, id) })
	if !ok {
		return nil
	}
	return s.peers[i]
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	st := s.stats
	st.Sessions, st.Conns = len(s.peers), len(s.conns)
	for _, p := range s.peers {
		if p.conn == nil {
			st.Detached++
		}
		if p.udpAddr.IsValid() {
			st.UDPBound++
		}
	}
	return st
}

// LoseAll ends every session with reason: it stops listening, sends each
// client a Bye (ReasonShutdown, with reason as its text), closes every
// connection once what is queued is sent, and calls OnLeave for every
// session. The channel it returns is closed when every connection is gone;
// core bounds each close by ServerConfig.Linger, so it always is. Calling
// it again returns the same channel. The before-shutdown trigger that
// Listen registers calls it.
func (s *Server) LoseAll(reason string) <-chan struct{} {
	if s.closing {
		return s.closedCh
	}
	s.closing = true
	s.closedCh = make(chan struct{})
	_ = s.port.StopListening()
	if s.udp != nil {
		_ = s.udp.Close()
	}
	if s.tick != nil {
		_ = s.tick.Cancel()
		s.tick = nil
	}
	s.log.Info("session: losing all", "reason", reason, "sessions", len(s.peers), "conns", len(s.conns))
	bye := s.ctl.frame(appendBye(s.ctl.start(), ReasonShutdown, reason))
	err := &ByeError{Reason: ReasonShutdown, Text: reason}
	for sc := range s.conns {
		if !sc.closing {
			_, _ = sc.t.Write(bye)
			sc.closing = true
			_ = sc.t.LoseConnection()
		}
	}
	for _, p := range slices.Clone(s.peers) { // OnLeave may call anything, this included
		s.leave(p, err)
	}
	s.checkClosed()
	return s.closedCh
}

func (s *Server) checkClosed() {
	if s.closing && len(s.conns) == 0 {
		closeOnce(s.closedCh)
	}
}

// start arms the server's timer once the reactor runs.
func (s *Server) start() {
	if s.closing || s.tick != nil {
		return
	}
	d := min(s.cfg.PingInterval, s.cfg.HandshakeTimeout/4, s.cfg.IdleTimeout/4, s.cfg.UDPTimeout/4)
	if s.cfg.Grace > 0 {
		d = min(d, s.cfg.Grace/4)
	}
	if s.cfg.PongTimeout > 0 {
		d = min(d, s.cfg.PongTimeout/4)
	}
	d = min(max(d, 5*time.Millisecond), 250*time.Millisecond)
	s.tick = s.r.CallEvery(d, s.onTick)
}

// onTick enforces the deadlines and sends the pings.
func (s *Server) onTick() {
	now := s.r.Now()
	for sc := range s.conns {
		if sc.peer == nil && !sc.closing && now.Sub(sc.since) >= s.cfg.HandshakeTimeout {
			sc.closing = true
			_ = sc.t.AbortWithError(fmt.Errorf("%w: no hello within %v", ErrHandshakeTimeout, s.cfg.HandshakeTimeout))
		}
	}
	s.scratch = append(s.scratch[:0], s.peers...)
	for _, p := range s.scratch {
		sc := p.conn
		if sc == nil {
			if s.cfg.Grace > 0 && now.Sub(p.detachedAt) >= s.cfg.Grace {
				s.leave(p, ErrGraceExpired)
			}
			continue
		}
		if sc.closing {
			continue
		}
		if now.Sub(p.lastRecv) >= s.cfg.IdleTimeout {
			sc.closing = true
			_ = sc.t.AbortWithError(fmt.Errorf("%w: nothing from the client for %v", ErrIdleTimeout, s.cfg.IdleTimeout))
			continue
		}
		if s.cfg.PongTimeout > 0 && !p.pingWait.IsZero() && now.Sub(p.pingWait) >= s.cfg.PongTimeout {
			sc.closing = true
			_ = sc.t.AbortWithError(fmt.Errorf("%w: no answer to a ping for %v", ErrNotReading, s.cfg.PongTimeout))
			continue
		}
		if now.Sub(p.lastPing) >= s.cfg.PingInterval {
			p.lastPing = now
			if p.pingWait.IsZero() {
				p.pingWait = now
			}
			_, _ = sc.t.Write(s.ctl.frame(appendPing(s.ctl.start(), msgPing, int64(now.Sub(s.epoch)))))
		}
		if p.udpAddr.IsValid() && now.Sub(p.lastUDP) >= s.cfg.UDPTimeout {
			s.unbind(p)
		}
	}
	clear(s.scratch)
}

// buildProtocol is the TCP factory.
// Factory returns the factory of the server's connections, for a
// transport the server does not listen on itself: mount it on a WebSocket
// handler (package core/ws), say. Those connections are sessions like the
// TCP ones: counted, limited (by their remote address: an HTTP peer's),
// timed out and logged alike; a client on one binds UDP only if its IP
// address is one the server's UDP port hears from. Main thread, or any
// thread for handing it to a transport that calls it on the main thread.
func (s *Server) Factory() core.Factory { return core.FactoryFunc(s.buildProtocol) }

// remoteAddrPort returns the IP address and port of a connection's remote
// address: a *net.TCPAddr, or any other whose String is "host:port".
func remoteAddrPort(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case nil:
		return netip.AddrPort{}, false
	case *net.TCPAddr:
		return a.AddrPort(), true
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap, err == nil
}

func (s *Server) buildProtocol(remote net.Addr) (core.Protocol, error) {
	if s.closing {
		return nil, ErrServerShutdown
	}
	if len(s.conns) >= s.cfg.MaxConns {
		s.stats.Drops++
		s.logf(slog.LevelWarn, "session: drop", "addr", fmt.Sprint(remote), "err", "too many connections", "max_conns", s.cfg.MaxConns)
		return nil, fmt.Errorf("session: %d connections open", len(s.conns))
	}
	sc := &serverConn{s: s}
	if ap, ok := remoteAddrPort(remote); ok {
		sc.addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if lim := s.cfg.MaxConnsPerAddr; lim > 0 && s.limited(sc.addr.Addr()) {
		if n := s.perAddr[addrKey(sc.addr.Addr())]; n != nil && n.conns >= 2*lim {
			s.stats.Drops++
			s.logf(slog.LevelWarn, "session: drop", "addr", sc.addr.String(), "err", "too many connections from the address", "open", n.conns)
			return nil, fmt.Errorf("session: %d connections from %v", n.conns, sc.addr.Addr())
		}
	}
	return framing.NewProtocol(sc, s.cfg.MaxMessage), nil
}

// addrKey is what the per-address limits count under: an IPv4 address, or
// the /64 of an IPv6 one (a host or a customer usually has a whole /64, so
// counting single IPv6 addresses would limit nothing).
func addrKey(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64) // the zero Prefix for the zero Addr
	return p
}

// limited reports whether the per-address limits apply to ip.
func (s *Server) limited(ip netip.Addr) bool {
	for _, p := range s.cfg.AddrLimitExempt {
		if p.Contains(ip.Unmap()) {
			return false
		}
	}
	return ip.IsValid()
}

func (s *Server) count(ip netip.Addr) *addrCount {
	k := addrKey(ip)
	n := s.perAddr[k]
	if n == nil {
		n = &addrCount{}
		s.perAddr[k] = n
	}
	return n
}

func (s *Server) uncount(ip netip.Addr, conns, sessions int) {
	k := addrKey(ip)
	n := s.perAddr[k]
	if n == nil {
		return
	}
	n.conns -= conns
	n.sessions -= sessions
	if n.conns <= 0 && n.sessions <= 0 {
		delete(s.perAddr, k)
	}
}

// logf writes a log line a client caused, within the log budget.
func (s *Server) logf(level slog.Level, msg string, attrs ...any) {
	if !s.logs.allow(s.r.Now()) {
		s.stats.LogSuppressed++
		return
	}
	s.log.Log(context.Background(), level, msg, attrs...)
}

// serverConn is one client connection.
type serverConn struct {
	s       *Server
	t       core.Transport
	addr    netip.AddrPort
	since   time.Time
	peer    *Peer // the session, once welcomed
	closing bool  // a Bye was sent or the connection is being dropped: ignore the rest
	done    bool  // the connection ended cleanly by the protocol (refused, quit, replaced)
}

// ConnectionMade implements framing.Handler.
func (sc *serverConn) ConnectionMade(t core.Transport) {
	s := sc.s
	sc.t, sc.since = t, s.r.Now()
	s.conns[sc] = struct{}{}
	n := s.count(sc.addr.Addr())
	n.conns++
	if s.cfg.MaxConnsPerAddr > 0 && n.conns > s.cfg.MaxConnsPerAddr && s.limited(sc.addr.Addr()) {
		s.refuse(sc, ReasonAddrLimit, fmt.Sprintf("too many connections from %v (limit %d)", sc.addr.Addr(), s.cfg.MaxConnsPerAddr))
	}
}

// MessageReceived implements framing.Handler.
func (sc *serverConn) MessageReceived(pl []byte) error {
	s := sc.s
	if sc.closing || len(pl) == 0 {
		return nil
	}
	p := sc.peer
	typ := pl[0]
	if p == nil {
		switch typ {
		case msgHello:
			if len(pl) >= 2 && pl[1] != wireVersion { // the rest may be laid out otherwise
				s.refuse(sc, ReasonVersion, fmt.Sprintf("wire version %d, server speaks %d", pl[1], wireVersion))
				return nil
			}
			h, err := decodeHello(pl)
			if err != nil { // every hello gets an answer
				s.refuse(sc, ReasonProtocol, "malformed hello")
				return nil
			}
			s.hello(sc, h)
			return nil
		case msgBye:
			sc.closing, sc.done = true, true
			_ = sc.t.LoseConnection()
			return nil
		}
		return fmt.Errorf("%w: message type %#x before hello", ErrProtocol, typ)
	}
	p.lastRecv = s.r.Now()
	if typ < FirstReserved {
		h := s.handlers[typ]
		if h == nil {
			s.kick(p, ReasonProtocol, fmt.Sprintf("no handler for message type %d", typ))
			return nil
		}
		p.received++
		if err := h(p, pl); err != nil {
			s.kick(p, ReasonProtocol, fmt.Sprintf("message type %d: %v", typ, err))
		}
		return nil
	}
	switch typ {
	case msgPing:
		t, ok := decodePing(pl)
		if !ok {
			s.kick(p, ReasonProtocol, "malformed ping")
			return nil
		}
		_, _ = sc.t.Write(s.ctl.frame(appendPing(s.ctl.start(), msgPong, t)))
	case msgPong:
		if t, ok := decodePing(pl); ok && t >= 0 {
			p.rtt.Add(s.r.Now().Sub(s.epoch) - time.Duration(t))
			p.pingWait = time.Time{}
		}
	case msgUnbind:
		s.unbind(p)
	case msgBye:
		sc.closing, sc.done = true, true
		s.leave(p, ErrQuit)
		_ = sc.t.LoseConnection()
	default:
		s.kick(p, ReasonProtocol, fmt.Sprintf("unexpected message type %#x", typ))
	}
	return nil
}

// ConnectionLost implements framing.Handler.
func (sc *serverConn) ConnectionLost(reason error) {
	s := sc.s
	delete(s.conns, sc)
	s.uncount(sc.addr.Addr(), 1, 0)
	defer s.checkClosed()
	p := sc.peer
	if p == nil || p.conn != sc {
		if p == nil && !sc.done && !s.closing {
			s.stats.Drops++
			s.logf(slog.LevelWarn, "session: drop", "addr", sc.addr.String(), "err", reason.Error())
		}
		return
	}
	p.conn = nil
	s.unbind(p)
	if s.closing || s.cfg.Grace <= 0 {
		s.leave(p, reason)
		return
	}
	p.detachedAt = s.r.Now()
	s.stats.Detaches++
	s.logf(slog.LevelInfo, "session: detach", "id", p.id, "addr", sc.addr.String(), "err", reason.Error(), "grace", s.cfg.Grace)
	if s.cfg.OnDetach != nil {
		s.cfg.OnDetach(p, reason)
	}
}

// hello handles a client's Hello: a resume, a refusal, or a new session.
func (s *Server) hello(sc *serverConn, h hello) {
	if h.version != wireVersion {
		s.refuse(sc, ReasonVersion, fmt.Sprintf("wire version %d, server speaks %d", h.version, wireVersion))
		return
	}
	if string(h.app) != s.cfg.App {
		s.refuse(sc, ReasonVersion, fmt.Sprintf("application %q, server runs %q", h.app, s.cfg.App))
		return
	}
	if h.resume {
		if p := s.Peer(h.id); p != nil && subtle.ConstantTimeCompare(p.token[:], h.token[:]) == 1 {
			s.resume(sc, p)
			return
		}
	}
	ip := sc.addr.Addr()
	if len(s.peers) >= s.cfg.MaxSessions {
		s.refuse(sc, ReasonFull, fmt.Sprintf("server full (%d sessions)", s.cfg.MaxSessions))
		return
	}
	if lim := s.cfg.MaxSessionsPerAddr; lim > 0 && s.limited(ip) && s.count(ip).sessions >= lim {
		s.refuse(sc, ReasonAddrLimit, fmt.Sprintf("too many sessions from %v (limit %d)", ip, lim))
		return
	}
	p := &Peer{s: s, id: s.freeID(), token: newToken(), ip: ip}
	if s.cfg.Accept != nil {
		if err := s.cfg.Accept(p, h.data); err != nil {
			s.refuse(sc, ReasonRefused, err.Error())
			return
		}
		if sc.closing || s.closing || p.gone {
			return
		}
	}
	i, _ := slices.BinarySearchFunc(s.peers, p.id, func(q *Peer, id uint32) int { return cmpU32(q.id, id) })
	s.peers = slices.Insert(s.peers, i, p)
	s.count(ip).sessions++
	s.stats.Joins++
	s.attach(sc, p, false)
	s.logf(slog.LevelInfo, "session: join", "id", p.id, "addr", sc.addr.String())
	if s.cfg.OnJoin != nil {
		s.cfg.OnJoin(p)
	}
}

// freeID returns the smallest id no session has (ids start at 1).
func (s *Server) freeID() uint32 {
	id := uint32(1)
	for _, p := range s.peers {
		if p.id != id {
			break
		}
		id++
	}
	return id
}

// resume gives a session back to a client on a new connection; an older
// connection that still holds it is closed (ReasonReplaced).
func (s *Server) resume(sc *serverConn, p *Peer) {
	if old := p.conn; old != nil {
		p.conn = nil
		old.closing, old.done = true, true
		_, _ = old.t.Write(s.ctl.frame(appendBye(s.ctl.start(), ReasonReplaced, "resumed from "+sc.addr.String())))
		_ = old.t.LoseConnection()
	}
	s.unbind(p)
	if ip := sc.addr.Addr(); ip != p.ip {
		s.uncount(p.ip, 0, 1)
		s.count(ip).sessions++
		p.ip = ip
	}
	p.token = newToken()
	p.resumes++
	s.stats.Resumes++
	s.attach(sc, p, true)
	s.logf(slog.LevelInfo, "session: resume", "id", p.id, "addr", sc.addr.String())
	if s.cfg.OnResume != nil {
		s.cfg.OnResume(p)
	}
}

// attach binds a session to a connection and welcomes it.
func (s *Server) attach(sc *serverConn, p *Peer, resumed bool) {
	now := s.r.Now()
	sc.peer, p.conn = p, sc
	p.addr = sc.addr
	p.detachedAt, p.lastRecv, p.lastPing, p.pingWait = time.Time{}, now, time.Time{}, time.Time{}
	var udpPort uint16
	if s.udp != nil {
		udpPort = s.udp.LocalAddr().Port()
	}
	w := welcome{id: p.id, token: p.token, resumed: resumed, udpPort: udpPort,
		idleMs: uint32(min(s.cfg.IdleTimeout/time.Millisecond, 1<<32-1)), data: s.cfg.WelcomeData}
	_, _ = sc.t.Write(s.ctl.frame(appendWelcome(s.ctl.start(), w)))
}

// refuse sends a client a Bye before it has a session and closes.
func (s *Server) refuse(sc *serverConn, r Reason, text string) {
	s.stats.Refused++
	sc.closing, sc.done = true, true
	_, _ = sc.t.Write(s.ctl.frame(appendBye(s.ctl.start(), r, text)))
	_ = sc.t.LoseConnection()
	s.logf(slog.LevelInfo, "session: refuse", "addr", sc.addr.String(), "reason", r.String(), "detail", text)
}

// kick ends a session now: a Bye with the reason, then the connection
// closes once it is sent.
func (s *Server) kick(p *Peer, r Reason, text string) {
	if p.gone {
		return
	}
	if sc := p.conn; sc != nil && !sc.closing {
		sc.closing, sc.done = true, true
		_, _ = sc.t.Write(s.ctl.frame(appendBye(s.ctl.start(), r, text)))
		_ = sc.t.LoseConnection()
	}
	s.leave(p, &ByeError{Reason: r, Text: text})
}

// leave ends a session for good, once.
func (s *Server) leave(p *Peer, err error) {
	if p.gone {
		return
	}
	p.gone = true
	s.unbind(p)
	if sc := p.conn; sc != nil {
		sc.done = true
		p.conn = nil
	}
	i := slices.Index(s.peers, p)
	if i < 0 {
		return // never joined (kicked inside Accept)
	}
	s.peers = slices.Delete(s.peers, i, i+1)
	s.uncount(p.ip, 0, 1)
	s.stats.Leaves++
	s.logf(slog.LevelInfo, "session: leave", "id", p.id, "addr", p.addr.String(), "reason", leaveReason(err), "err", err.Error())
	if s.cfg.OnLeave != nil {
		s.cfg.OnLeave(p, err)
	}
}

// leaveReason is the short reason of a leave, for the log line.
func leaveReason(err error) string {
	var bye *ByeError
	switch {
	case errors.Is(err, ErrQuit):
		return "quit"
	case errors.As(err, &bye):
		return bye.Reason.String()
	case errors.Is(err, ErrGraceExpired):
		return "expired"
	case errors.Is(err, core.ErrTimeout):
		return "timeout"
	case errors.Is(err, core.ErrBadInput):
		return "error"
	}
	return "lost"
}

// unbind stops sending p's unreliable messages over UDP.
func (s *Server) unbind(p *Peer) {
	if p.udpAddr.IsValid() {
		delete(s.byUDP, p.udpAddr)
		p.udpAddr = netip.AddrPort{}
	}
}

// serverUDP receives the server's datagrams.
type serverUDP struct{ s *Server }

// DatagramReceived implements core.DatagramProtocol. A datagram from an
// address no session has bound is ignored unless it is a valid binding:
// the session's id and token, from the IP address of its TCP connection.
// The server answers nothing else from unknown addresses, so it cannot be
// used to reflect traffic.
func (u serverUDP) DatagramReceived(data []byte, from netip.AddrPort) {
	s := u.s
	if len(data) == 0 || s.closing {
		s.stats.BadDatagrams++
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	now := s.r.Now()
	typ := data[0]
	if typ == msgBind {
		id, token, ok := decodeBind(data)
		p := s.Peer(id)
		if !ok || p == nil || !p.Connected() || p.conn.addr.Addr() != from.Addr() ||
			subtle.ConstantTimeCompare(p.token[:], token[:]) != 1 {
			s.stats.BadDatagrams++
			return
		}
		if p.udpAddr != from {
			if old := s.byUDP[from]; old != nil {
				s.unbind(old) // another session had this address: a NAT reused it
			}
			s.unbind(p)
			p.udpAddr = from
			s.byUDP[from] = p
			s.logf(slog.LevelDebug, "session: udp bound", "id", p.id, "udp", from.String())
		}
		p.lastUDP, p.lastRecv = now, now
		_ = s.udp.WriteTo(append(s.ctl.start(), msgBound), from) // every valid bind is confirmed: a confirmation may be lost
		return
	}
	p := s.byUDP[from]
	if p == nil {
		s.stats.BadDatagrams++
		return
	}
	p.lastUDP, p.lastRecv = now, now
	switch {
	case typ == msgPing:
		if t, ok := decodePing(data); ok {
			_ = s.udp.WriteTo(appendPing(s.ctl.start(), msgPong, t), from)
		}
	case typ < FirstReserved && s.handlers[typ] != nil:
		p.received++
		if s.handlers[typ](p, data) != nil {
			s.stats.BadDatagrams++
		}
	default:
		s.stats.BadDatagrams++
	}
}

// Peer is one session on a server: a client that was welcomed, with an
// id, a connection (none while it waits to be resumed) and, optionally, a
// bound UDP address. Its methods must be called on the main thread.
type Peer struct {
	// Data is the application's own, untouched by the package: set it in
	// ServerConfig.Accept (a player's state, say). It survives a resume.
	Data any

	s          *Server
	id         uint32
	token      [tokenLen]byte
	conn       *serverConn // nil while detached
	ip         netip.Addr  // the address the session is counted under
	addr       netip.AddrPort
	detachedAt time.Time
	lastRecv   time.Time
	lastPing   time.Time
	pingWait   time.Time // when the oldest unanswered ping was sent; zero: none
	lastUDP    time.Time
	udpAddr    netip.AddrPort
	rtt        RTT
	gone       bool
	resumes    uint64
	sent       uint64
	received   uint64
}

// ID is the session's id: the smallest free one (from 1) when it began,
// kept through resumes.
func (p *Peer) ID() uint32 { return p.id }

// Addr is the client's TCP address, the newest one.
func (p *Peer) Addr() netip.AddrPort { return p.addr }

// Connected reports whether the session has a connection now (false
// while it waits to be resumed, and once it is over).
func (p *Peer) Connected() bool { return p.conn != nil && !p.conn.closing }

// Gone reports whether the session is over (OnLeave was called).
func (p *Peer) Gone() bool { return p.gone }

// UDPBound reports whether unreliable messages to p go over UDP.
func (p *Peer) UDPBound() bool { return p.udpAddr.IsValid() }

// RTT returns the round trips of the server's pings to p.
func (p *Peer) RTT() RTT { return p.rtt }

// Resumes is how many times the session was resumed.
func (p *Peer) Resumes() uint64 { return p.resumes }

// ConnStats returns the counters of p's connection (core.ConnStats: bytes
// in and out, bytes queued unsent), and false while p has none. A server
// that sends a lot reads Queued to skip a client that does not keep up.
func (p *Peer) ConnStats() (core.ConnStats, bool) {
	if p.conn == nil {
		return core.ConnStats{}, false
	}
	return p.conn.t.Stats(), true
}

// Messages returns how many application messages p sent to the server
// and the server sent to p, over both paths.
func (p *Peer) Messages() (in, out uint64) { return p.received, p.sent }

// LastReceived is when p last sent anything, by the reactor's clock.
func (p *Peer) LastReceived() time.Time { return p.lastRecv }

// Begin is Server.Begin: the server's reused payload buffer.
func (p *Peer) Begin(typ byte) []byte { return p.s.user.begin(typ) }

// Send sends payload (its first byte is its type, below FirstReserved) to
// p over TCP. It returns ErrNotConnected, and the message is dropped, while
// p has no connection. It does not allocate when payload came from Begin.
func (p *Peer) Send(payload []byte) error {
	if err := checkPayload(payload); err != nil {
		return err
	}
	if !p.Connected() {
		return ErrNotConnected
	}
	p.sent++
	_, err := p.conn.t.Write(p.s.user.frame(payload))
	return err
}

// SendUnreliable sends payload over UDP if p is bound and it fits
// ServerConfig.MaxDatagram, else over TCP like Send.
func (p *Peer) SendUnreliable(payload []byte) error {
	s := p.s
	if !p.udpAddr.IsValid() || s.udp == nil || len(payload) > s.cfg.MaxDatagram {
		return p.Send(payload)
	}
	if err := checkPayload(payload); err != nil {
		return err
	}
	p.sent++
	return s.udp.WriteTo(payload, p.udpAddr)
}

// Kick ends the session now: the client gets a Bye with ReasonKicked and
// reason as its text (it shows "kicked: reason" and does not reconnect),
// the connection closes once that is sent, and OnLeave is called with a
// *ByeError matching ErrKicked.
func (p *Peer) Kick(reason string) { p.s.kick(p, ReasonKicked, reason) }
