package session

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/core/netio"
)

// Status is where a client is, for the UI to show.
type Status uint8

// The statuses. Disconnected is final.
const (
	Connecting   Status = iota // the first connection is under way (or being retried)
	Connected                  // welcomed: messages flow
	Reconnecting               // was connected, lost it, and is connecting again
	Disconnected               // gave up, or quit; State.Cause says why
)

var statusNames = [...]string{"connecting", "connected", "reconnecting", "disconnected"}

// String returns e.g. "reconnecting".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", s)
}

// Cause says why the client's last connection ended or attempt failed. It
// is kept while Connecting or Reconnecting (the UI shows "reconnecting:
// server shutdown") and cleared when the client is welcomed.
type Cause uint8

// The causes.
const (
	CauseNone           Cause = iota
	CauseUnreachable          // no connection could be made (State.Err: core.ErrConnectionRefused, core.ErrTimeout, ...)
	CauseRefused              // the server refused the session (State.Reason; State.Err matches ErrServerFull, ErrAddrLimit, ErrVersion or ErrRefused)
	CauseKicked               // the server ended the session (ErrKicked, ErrReplaced)
	CauseServerShutdown       // the server said it is shutting down
	CauseLost                 // the connection broke, or the server went silent (ErrIdleTimeout, ErrHandshakeTimeout, core.ErrConnectionReset, ...)
	CauseProtocol             // a message this client cannot use, or a handler's error (ErrProtocol)
	CauseQuit                 // Goodbye or Close was called
)

var causeNames = [...]string{"", "unreachable", "refused", "kicked", "server shutdown", "connection lost", "protocol error", "quit"}

// String returns e.g. "server shutdown".
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("Cause(%d)", c)
}

// UDPStatus says how SendUnreliable traffic travels.
type UDPStatus uint8

// The UDP statuses.
const (
	UDPOff      UDPStatus = iota // not asked for, not connected, or the server has no UDP: all over TCP
	UDPBinding                   // binding sent, waiting for the server's confirmation
	UDPBound                     // confirmed: unreliable messages go over UDP both ways
	UDPFallback                  // no confirmation, refused, or UDP stopped arriving: over TCP (retried after ClientConfig.UDPRetry)
)

var udpNames = [...]string{"off", "binding", "bound", "fallback"}

// String returns e.g. "bound".
func (u UDPStatus) String() string {
	if int(u) < len(udpNames) {
		return udpNames[u]
	}
	return fmt.Sprintf("UDPStatus(%d)", u)
}

// State is what a UI shows about a client. Client.State returns a copy,
// cheap to read every frame (no allocation).
type State struct {
	Status Status
	Cause  Cause  // why the last connection ended; CauseNone while Connected
	Reason string // the server's words, when it said why (refused, kicked, shutdown)
	Err    error  // the error behind Cause (a *ByeError when the server said why)

	ID       uint32 // the session's id (the player id), from the newest welcome
	Resumed  bool   // the newest welcome resumed the session the client had
	Connects uint64 // welcomes received: 1 after the first connection
	Attempts int    // connections lost and attempts failed in a row (0 while Connected)
	// NextAttempt is when the next attempt starts, while waiting to
	// reconnect; zero otherwise.
	NextAttempt time.Time

	UDP UDPStatus
	// RTT is the keepalive round trips over TCP, of every connection so
	// far, as the game sees them: in a frame-driven host (Ebiten) a pong
	// waits in the reactor's queue until the next drain, so a sample
	// includes up to one frame.
	RTT          RTT
	LastReceived time.Time // when the server was last heard from, by the reactor's clock

	MessagesIn, MessagesOut uint64 // application messages, both paths
	BadDatagrams            uint64 // UDP datagrams ignored: malformed, unknown, or refused by a handler
}

// Welcome is what a client learns when the server grants it a session.
type Welcome struct {
	ID      uint32 // the session's id
	Resumed bool   // the session the client had, kept through the grace period
	// Data is ServerConfig.WelcomeData; valid only during the call.
	Data []byte
}

// ClientConfig configures a Client. Zero fields take their defaults.
type ClientConfig struct {
	Addr string // the server's TCP address, "host:port"
	// App names the application protocol and its version, e.g.
	// "paddles/1"; a server configured with another App refuses the
	// session (CauseRefused, ErrVersion). At most 64 bytes.
	App string
	// Hello is the application's part of the handshake (a player's name,
	// say), handed to ServerConfig.Accept. Sent on every connection.
	Hello []byte
	// UDP asks for the UDP fast path: SendUnreliable then travels over UDP
	// once the server confirms the binding, and over TCP otherwise.
	UDP bool

	ConnectTimeout   time.Duration // one TCP connection attempt; default 5s
	HandshakeTimeout time.Duration // from connected to welcomed; default 5s
	// PingInterval is how often the client pings (keepalive and RTT);
	// default 1s, and never more than a third of the server's idle timeout.
	PingInterval time.Duration
	// IdleTimeout: a server that sends nothing for this long is taken as
	// lost (CauseLost, ErrIdleTimeout). Default 5s.
	IdleTimeout time.Duration

	// NoReconnect: give up at the first failure (Disconnected) instead of
	// connecting again with Backoff.
	NoReconnect bool
	// MaxAttempts bounds the connection attempts that may fail in a row
	// before the client gives up; 0 means no bound.
	MaxAttempts int
	Backoff     Backoff
	// Seed seeds the backoff's jitter; 0 takes a random seed.
	Seed uint64

	UDPBindInterval time.Duration // how often a binding is sent until confirmed; default 200ms
	UDPBindAttempts int           // bindings sent before falling back to TCP; default 10
	// UDPTimeout: a bound client that receives nothing over UDP for this
	// long falls back to TCP (and tells the server). Default 3s.
	UDPTimeout time.Duration
	// UDPRetry is how long after a fallback the client tries UDP again;
	// default 10s, negative: never.
	UDPRetry time.Duration
	// MaxMessage is the largest payload the client accepts over TCP;
	// default framing.DefaultMaxMessage. MaxDatagram is the largest it
	// sends over UDP (a larger SendUnreliable goes over TCP); default 1200.
	MaxMessage, MaxDatagram int

	// OnConnect, if set, is called on every welcome, before the status
	// changes to Connected: resend what the server must know (after a
	// reconnect that did not resume, the server has forgotten it all).
	OnConnect func(c *Client, w Welcome)
	// OnStatus, if set, is called after every change of State.Status.
	OnStatus func(c *Client)
	// Logger receives the client's debug lines; default the reactor's
	// (core.WithLogger).
	Logger *slog.Logger
	// ConnectOptions are passed to core's ConnectTCP.
	ConnectOptions []core.ListenOption
	// Dial, if set, makes each connection instead of TCP to Addr (which
	// then only names the server in messages and logs): TLS, WebSocket
	// (package core/ws), or a program's own. It starts connecting and
	// returns at once; later, on the main thread, f.BuildProtocol gets the
	// connection, or f.ConnectionFailed why there is none. cancel gives
	// the attempt up (f.ConnectionFailed follows); it is called at most
	// once. ConnectOptions and Net's ConnectTCP are then unused (Net still
	// keeps the time and opens the UDP port).
	Dial func(r *core.Reactor, f core.ClientFactory, timeout time.Duration) (cancel func(), err error)
	// Net, if set, is what the client connects, opens its UDP port and
	// keeps time through instead of the reactor itself: a simulated
	// network (netsim.Conditions), a recorder or player of the traffic
	// (package replay), or a stack of them, built on the same reactor.
	// Default netio.Reactor(r). The before-shutdown trigger is still
	// registered on the reactor.
	Net netio.Net
}

func (c ClientConfig) withDefaults() (ClientConfig, error) {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil && c.Dial == nil {
		return c, fmt.Errorf("%w: session: address %q: %v", core.ErrInvalidArgument, c.Addr, err)
	}
	if len(c.App) > maxAppLen {
		return c, fmt.Errorf("%w: session: App longer than %d bytes", core.ErrInvalidArgument, maxAppLen)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ConnectTimeout, 5*time.Second)
	def(&c.HandshakeTimeout, 5*time.Second)
	def(&c.PingInterval, time.Second)
	def(&c.IdleTimeout, 5*time.Second)
	def(&c.UDPBindInterval, 200*time.Millisecond)
	def(&c.UDPTimeout, 3*time.Second)
	if c.UDPRetry == 0 {
		c.UDPRetry = 10 * time.Second
	}
	if c.UDPBindAttempts <= 0 {
		c.UDPBindAttempts = 10
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = framing.DefaultMaxMessage
	}
	if c.MaxDatagram <= 0 {
		c.MaxDatagram = 1200
	}
	c.Backoff = c.Backoff.withDefaults()
	return c, nil
}

// Client is the client end of a session: one TCP connection to a server
// at a time, reconnecting and resuming by itself, with an optional UDP
// path. Its methods must be called on the reactor's main thread.
type Client struct {
	r    *core.Reactor
	cfg  ClientConfig
	log  *slog.Logger
	st   State
	rand *mrand.Rand

	handlers [FirstReserved]func(payload []byte) error

	conn      *clientConn   // the current connection, once made
	net       netio.Net     // ClientConfig.Net, or the reactor itself
	connector netio.Dialing // the attempt under way
	retry     netio.Timer   // the wait before the next attempt
	tick      netio.Timer   // deadlines, pings and UDP, while connected
	trigger   core.TriggerID
	hasTrig   bool

	haveToken bool // a session to resume
	token     [tokenLen]byte
	everIn    bool // was welcomed once: statuses say Reconnecting from then on
	epoch     time.Time
	pingEvery time.Duration
	lastPing  time.Time

	udp        netio.PacketPort
	binds      int
	lastBind   time.Time
	lastUDP    time.Time // last datagram from the server
	lastUDPOut time.Time // last UDP ping sent
	udpRetryAt time.Time

	user, ctl encoder
	build     func(net.Addr) (core.Protocol, error)
	failed    func(error)
	attemptFn func()
	tickFn    func()

	quitting bool
	finished bool
	goodbye  chan struct{}
}

// Dial makes a client and starts connecting to cfg.Addr. It returns at
// once, in status Connecting; everything later comes through State and the
// callbacks. It registers a before-shutdown trigger that calls Goodbye, so
// stopping the reactor says goodbye to the server. It returns an error
// only for an unusable cfg or reactor. Main thread, or before the reactor
// starts.
func Dial(r *core.Reactor, cfg ClientConfig) (*Client, error) {
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
	seed := cfg.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	n := cfg.Net
	if n == nil {
		n = netio.Reactor(r)
	}
	c := &Client{r: r, net: n, cfg: cfg, log: cfg.Logger, rand: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), epoch: n.Now()}
	c.build, c.failed, c.attemptFn, c.tickFn = c.buildProtocol, c.connectFailed, c.attempt, c.onTick
	if id, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, c.Goodbye); err == nil {
		c.trigger, c.hasTrig = id, true
	}
	c.connector, err = c.connect()
	if err != nil {
		c.removeTrigger()
		return nil, fmt.Errorf("session: %w", err)
	}
	return c, nil
}

// Handle registers h for the application messages of type typ (their
// first payload byte, below FirstReserved), over TCP and UDP alike; nil
// removes it. The payload (type byte included) is valid only during the
// call. A message of a type with no handler, or a handler's error, ends
// the connection with CauseProtocol (over UDP it is counted in
// State.BadDatagrams and ignored instead). Main thread.
func (c *Client) Handle(typ byte, h func(payload []byte) error) error {
	if typ >= FirstReserved {
		return fmt.Errorf("%w: session: message type %#x is reserved", core.ErrInvalidArgument, typ)
	}
	c.handlers[typ] = h
	return nil
}

// Begin returns an empty payload of type typ in the client's reused
// buffer: append the message's fields to it and pass it to Send or
// SendUnreliable, which then copy nothing. It is valid until the next
// Begin on this client.
func (c *Client) Begin(typ byte) []byte { return c.user.begin(typ) }

// Send sends payload (its first byte is its type, below FirstReserved) to
// the server over TCP, as one message. It returns ErrNotConnected, and the
// message is dropped, unless the client is Connected. It does not allocate
// when payload came from Begin (or fits the buffer). Main thread.
func (c *Client) Send(payload []byte) error {
	if err := checkPayload(payload); err != nil {
		return err
	}
	cc := c.conn
	if cc == nil || !cc.welcomed {
		return ErrNotConnected
	}
	c.st.MessagesOut++
	_, err := cc.t.Write(c.user.frame(payload))
	return err
}

// SendUnreliable sends payload over UDP while the binding is confirmed
// (State.UDP == UDPBound) and it fits ClientConfig.MaxDatagram; otherwise
// over TCP, like Send. Over UDP it may be lost, duplicated or reordered.
func (c *Client) SendUnreliable(payload []byte) error {
	if c.st.UDP != UDPBound || len(payload) > c.cfg.MaxDatagram || c.udp == nil {
		return c.Send(payload)
	}
	if err := checkPayload(payload); err != nil {
		return err
	}
	c.st.MessagesOut++
	return c.udp.Write(payload)
}

func checkPayload(p []byte) error {
	if len(p) == 0 || p[0] >= FirstReserved {
		return fmt.Errorf("%w: session: a payload must start with a message type below %#x", core.ErrInvalidArgument, FirstReserved)
	}
	return nil
}

// State returns the client's state. It does not allocate.
func (c *Client) State() State { return c.st }

// ID is the session's id from the newest welcome (0 before any).
func (c *Client) ID() uint32 { return c.st.ID }

// Goodbye quits: it sends a Bye to the server and closes the connection
// once everything queued is sent; an attempt under way or a wait to
// reconnect is cancelled. The channel it returns is closed when the
// connection is gone (at once if there is none), so a before-shutdown
// trigger can wait on it; Dial registers one that does. The client ends
// Disconnected with CauseQuit. Calling it again returns the same channel.
func (c *Client) Goodbye() <-chan struct{} {
	if c.goodbye != nil {
		return c.goodbye
	}
	c.goodbye = make(chan struct{})
	c.quit(false)
	return c.goodbye
}

// Close drops the connection at once, without a goodbye (the server keeps
// the session for its grace period). The client ends Disconnected with
// CauseQuit.
func (c *Client) Close() { c.quit(true) }

func (c *Client) quit(abort bool) {
	if c.finished {
		if c.goodbye != nil {
			closeOnce(c.goodbye)
		}
		return
	}
	c.quitting = true
	switch {
	case c.conn != nil:
		if abort {
			_ = c.conn.t.AbortWithError(fmt.Errorf("%w: session: closed by the client", core.ErrAborted))
			return
		}
		_, _ = c.conn.t.Write(c.ctl.frame(appendBye(c.ctl.start(), ReasonQuit, "")))
		_ = c.conn.t.LoseConnection()
	case c.connector != nil:
		c.connector.Cancel() // connectFailed finishes
	default:
		c.finish(CauseQuit, nil)
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// connect starts one connection: ClientConfig.Dial's, or TCP to Addr
// through the client's Net.
func (c *Client) connect() (netio.Dialing, error) {
	f := core.ClientFuncs{Build: c.build, Failed: c.failed}
	if c.cfg.Dial == nil {
		return c.net.ConnectTCP(c.cfg.Addr, f, c.cfg.ConnectTimeout, c.cfg.ConnectOptions...)
	}
	d := &dialCancel{}
	guarded := core.ClientFuncs{
		Build: func(remote net.Addr) (core.Protocol, error) {
			if d.cancelled {
				return nil, errDialCancelled
			}
			return c.build(remote)
		},
		Failed: c.failed,
	}
	cancel, err := c.cfg.Dial(c.r, guarded, c.cfg.ConnectTimeout)
	if err != nil {
		return nil, err
	}
	d.cancel = cancel
	return d, nil
}

// errDialCancelled refuses a connection that a ClientConfig.Dial delivers
// after its attempt was cancelled; its ConnectionFailed follows.
var errDialCancelled = fmt.Errorf("%w: session: connection attempt cancelled", core.ErrAborted)

// dialCancel is the netio.Dialing of a ClientConfig.Dial: its cancel
// function, called at most once. Once cancelled, a connection that arrives
// anyway is refused, so that Goodbye and Close work at any moment of the
// attempt.
type dialCancel struct {
	cancel    func()
	cancelled bool
}

func (d *dialCancel) Cancel() {
	if d.cancelled {
		return
	}
	d.cancelled = true
	if d.cancel != nil {
		d.cancel()
	}
}

// attempt starts one connection attempt.
func (c *Client) attempt() {
	c.retry = nil
	c.st.NextAttempt = time.Time{}
	if c.finished || c.quitting {
		return
	}
	var err error
	c.connector, err = c.connect()
	if err != nil {
		c.connector = nil
		c.lost(CauseUnreachable, fmt.Errorf("session: connecting to %s: %w", c.cfg.Addr, err), true)
	}
}

func (c *Client) buildProtocol(net.Addr) (core.Protocol, error) {
	return framing.NewProtocol(&clientConn{c: c}, c.cfg.MaxMessage), nil
}

func (c *Client) connectFailed(err error) {
	c.connector = nil
	if c.quitting {
		c.finish(CauseQuit, nil)
		return
	}
	c.lost(CauseUnreachable, fmt.Errorf("session: connecting to %s: %w", c.cfg.Addr, err), true)
}

// lost handles the end of a connection or attempt: wait and try again if
// allowed, else give up.
func (c *Client) lost(cause Cause, err error, retry bool) {
	c.st.Cause, c.st.Err, c.st.Reason = cause, err, ""
	var bye *ByeError
	if errors.As(err, &bye) {
		c.st.Reason = bye.Text
	}
	c.st.Attempts++
	if !retry || c.cfg.NoReconnect || (c.cfg.MaxAttempts > 0 && c.st.Attempts >= c.cfg.MaxAttempts) {
		c.finish(cause, err)
		return
	}
	d := c.cfg.Backoff.Delay(c.st.Attempts, c.rand.Float64())
	c.st.NextAttempt = c.net.Now().Add(d)
	c.retry, _ = c.net.CallLater(d, c.attemptFn)
	c.log.Debug("session: waiting to reconnect", "addr", c.cfg.Addr, "cause", cause.String(), "err", err, "in", d, "attempt", c.st.Attempts)
	if c.everIn {
		c.setStatus(Reconnecting)
	} else {
		c.setStatus(Connecting)
	}
}

// finish ends the client for good.
func (c *Client) finish(cause Cause, err error) {
	if c.finished {
		return
	}
	c.finished = true
	if c.retry != nil {
		_ = c.retry.Cancel()
		c.retry = nil
	}
	c.stopTick()
	c.closeUDP(UDPOff)
	c.st.NextAttempt = time.Time{}
	c.st.Cause = cause
	if cause == CauseQuit {
		c.st.Err, c.st.Reason = ErrQuit, ""
	} else {
		c.st.Err = err
	}
	c.removeTrigger()
	c.setStatus(Disconnected)
	if c.goodbye != nil {
		closeOnce(c.goodbye)
	}
}

func (c *Client) removeTrigger() {
	if c.hasTrig {
		c.hasTrig = false
		_ = c.r.RemoveSystemEventTrigger(c.trigger) // fails harmlessly while the shutdown runs it
	}
}

func (c *Client) setStatus(s Status) {
	if c.st.Status == s {
		return
	}
	c.st.Status = s
	if c.cfg.OnStatus != nil {
		c.cfg.OnStatus(c)
	}
}

func (c *Client) stopTick() {
	if c.tick != nil {
		_ = c.tick.Cancel()
		c.tick = nil
	}
}

// tickInterval is how often deadlines, pings and UDP are looked after.
func (c *Client) tickInterval() time.Duration {
	d := min(c.cfg.PingInterval, c.cfg.UDPBindInterval, c.cfg.IdleTimeout/4, c.cfg.HandshakeTimeout/4)
	return min(max(d, 5*time.Millisecond), 250*time.Millisecond)
}

// onTick enforces the deadlines, pings, and drives UDP.
func (c *Client) onTick() {
	cc := c.conn
	if cc == nil {
		return
	}
	now := c.net.Now()
	if !cc.welcomed {
		if now.Sub(cc.since) >= c.cfg.HandshakeTimeout {
			_ = cc.t.AbortWithError(fmt.Errorf("%w: no welcome within %v", ErrHandshakeTimeout, c.cfg.HandshakeTimeout))
		}
		return
	}
	if now.Sub(c.st.LastReceived) >= c.cfg.IdleTimeout {
		_ = cc.t.AbortWithError(fmt.Errorf("%w: nothing from the server for %v", ErrIdleTimeout, c.cfg.IdleTimeout))
		return
	}
	if now.Sub(c.lastPing) >= c.pingEvery {
		c.lastPing = now
		_, _ = cc.t.Write(c.ctl.frame(appendPing(c.ctl.start(), msgPing, int64(now.Sub(c.epoch)))))
	}
	switch c.st.UDP {
	case UDPBinding:
		if now.Sub(c.lastBind) >= c.cfg.UDPBindInterval {
			if c.binds >= c.cfg.UDPBindAttempts {
				c.udpFallback()
			} else {
				c.sendBind(now)
			}
		}
	case UDPBound:
		if now.Sub(c.lastUDP) >= c.cfg.UDPTimeout {
			c.udpFallback()
		} else if now.Sub(c.lastUDPOut) >= c.pingEvery {
			c.lastUDPOut = now
			_ = c.udp.Write(appendPing(c.ctl.start(), msgPing, int64(now.Sub(c.epoch))))
		}
	case UDPFallback:
		if c.cfg.UDPRetry > 0 && !now.Before(c.udpRetryAt) && cc.udpPort != 0 {
			c.startUDP(cc)
		}
	}
}

// clientConn is one TCP connection of a client.
type clientConn struct {
	c        *Client
	t        core.Transport
	since    time.Time
	welcomed bool
	udpPort  uint16
	bye      *ByeError // the server's Bye, if it sent one
}

// ConnectionMade implements framing.Handler: say Hello.
func (cc *clientConn) ConnectionMade(t core.Transport) {
	c := cc.c
	c.connector = nil
	cc.t, cc.since = t, c.net.Now()
	if c.finished || c.quitting {
		_ = t.AbortWithError(fmt.Errorf("%w: session: closed by the client", core.ErrAborted))
		return
	}
	c.conn = cc
	c.stopTick()
	c.tick, _ = c.net.CallEvery(c.tickInterval(), c.tickFn)
	h := hello{version: wireVersion, app: []byte(c.cfg.App), resume: c.haveToken, id: c.st.ID, token: c.token, data: c.cfg.Hello}
	_, _ = t.Write(c.ctl.frame(appendHello(c.ctl.start(), h)))
}

// MessageReceived implements framing.Handler.
func (cc *clientConn) MessageReceived(p []byte) error {
	c := cc.c
	if c.conn != cc || len(p) == 0 {
		return nil
	}
	c.st.LastReceived = c.net.Now()
	typ := p[0]
	if typ < FirstReserved {
		if !cc.welcomed {
			return fmt.Errorf("%w: message type %d before the welcome", ErrProtocol, typ)
		}
		h := c.handlers[typ]
		if h == nil {
			return fmt.Errorf("%w: no handler for message type %d", ErrProtocol, typ)
		}
		c.st.MessagesIn++
		if err := h(p); err != nil {
			return fmt.Errorf("%w: message type %d: %w", ErrProtocol, typ, err)
		}
		return nil
	}
	switch typ {
	case msgWelcome:
		if cc.welcomed {
			return fmt.Errorf("%w: a second welcome", ErrProtocol)
		}
		w, err := decodeWelcome(p)
		if err != nil {
			return err
		}
		c.welcome(cc, w)
	case msgBye:
		cc.bye = decodeBye(p)
		_ = cc.t.LoseConnection()
	case msgPing:
		t, ok := decodePing(p)
		if !ok {
			return fmt.Errorf("%w: malformed ping", ErrProtocol)
		}
		_, _ = cc.t.Write(c.ctl.frame(appendPing(c.ctl.start(), msgPong, t)))
	case msgPong:
		t, ok := decodePing(p)
		if !ok {
			return fmt.Errorf("%w: malformed pong", ErrProtocol)
		}
		if rtt := c.net.Now().Sub(c.epoch) - time.Duration(t); t >= 0 {
			c.st.RTT.Add(rtt)
		}
	default:
		return fmt.Errorf("%w: unexpected message type %#x", ErrProtocol, typ)
	}
	return nil
}

// welcome starts the session (again).
func (c *Client) welcome(cc *clientConn, w welcome) {
	cc.welcomed, cc.udpPort = true, w.udpPort
	c.st.ID, c.st.Resumed = w.id, w.resumed
	c.token, c.haveToken = w.token, true
	c.st.Connects++
	c.st.Attempts = 0
	c.st.Cause, c.st.Err, c.st.Reason = CauseNone, nil, ""
	c.pingEvery = c.cfg.PingInterval
	if w.idleMs > 0 {
		c.pingEvery = min(c.pingEvery, time.Duration(w.idleMs)*time.Millisecond/3)
	}
	c.lastPing = time.Time{} // the first RTT sample at the next tick
	c.everIn = true
	c.log.Debug("session: welcomed", "addr", c.cfg.Addr, "id", w.id, "resumed", w.resumed, "udp_port", w.udpPort)
	if c.cfg.UDP && w.udpPort != 0 {
		c.startUDP(cc)
	}
	if c.cfg.OnConnect != nil {
		c.cfg.OnConnect(c, Welcome{ID: w.id, Resumed: w.resumed, Data: w.data})
	}
	if c.conn == cc && !c.quitting {
		c.setStatus(Connected)
	}
}

// ConnectionLost implements framing.Handler.
func (cc *clientConn) ConnectionLost(reason error) {
	c := cc.c
	if c.conn != cc {
		return
	}
	c.conn = nil
	c.stopTick()
	c.closeUDP(UDPOff)
	if c.quitting {
		c.finish(CauseQuit, nil)
		return
	}
	if cc.bye != nil {
		cause, retry := byeCause(cc.bye.Reason)
		c.lost(cause, cc.bye, retry)
		return
	}
	if errors.Is(reason, core.ErrBadInput) {
		c.lost(CauseProtocol, reason, false)
		return
	}
	c.lost(CauseLost, reason, true)
}

// byeCause maps the server's reason to the client's cause, and says
// whether trying again may help.
func byeCause(r Reason) (Cause, bool) {
	switch r {
	case ReasonShutdown:
		return CauseServerShutdown, true
	case ReasonFull, ReasonAddrLimit:
		return CauseRefused, true
	case ReasonVersion, ReasonRefused:
		return CauseRefused, false
	case ReasonTimeout:
		return CauseLost, true
	case ReasonProtocol:
		return CauseProtocol, false
	}
	return CauseKicked, false // kicked, replaced, or a reason this client does not know
}

// startUDP opens a UDP port towards the server and starts binding it.
func (c *Client) startUDP(cc *clientConn) {
	c.closeUDP(UDPOff)
	local, lok := cc.t.LocalAddr().(*net.TCPAddr)
	remote, rok := cc.t.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		c.st.UDP = UDPFallback
		return
	}
	now := c.net.Now()
	c.udpRetryAt = now.Add(c.cfg.UDPRetry)
	u, err := c.net.ListenUDP(net.JoinHostPort(local.AddrPort().Addr().Unmap().String(), "0"), clientUDP{c})
	if err != nil {
		c.st.UDP = UDPFallback
		return
	}
	if err := u.Connect(netip.AddrPortFrom(remote.AddrPort().Addr().Unmap(), cc.udpPort)); err != nil {
		_ = u.Close()
		c.st.UDP = UDPFallback
		return
	}
	c.udp, c.binds, c.st.UDP = u, 0, UDPBinding
	c.sendBind(now)
}

func (c *Client) sendBind(now time.Time) {
	c.binds++
	c.lastBind = now
	_ = c.udp.Write(appendBind(c.ctl.start(), c.st.ID, c.token)) // a lost datagram is what the retries are for
}

// udpFallback gives UDP up for now: unreliable messages go over TCP, and
// the server is told to send them there too.
func (c *Client) udpFallback() {
	c.closeUDP(UDPFallback)
	c.udpRetryAt = c.net.Now().Add(c.cfg.UDPRetry)
	if cc := c.conn; cc != nil && cc.welcomed {
		_, _ = cc.t.Write(c.ctl.frame(append(c.ctl.start(), msgUnbind)))
	}
	c.log.Debug("session: udp fallback to tcp", "addr", c.cfg.Addr)
}

func (c *Client) closeUDP(s UDPStatus) {
	if c.udp != nil {
		_ = c.udp.Close()
		c.udp = nil
	}
	c.st.UDP = s
}

// clientUDP receives the client's datagrams.
type clientUDP struct{ c *Client }

// DatagramReceived implements core.DatagramProtocol.
func (u clientUDP) DatagramReceived(data []byte, _ netip.AddrPort) {
	c := u.c
	if c.udp == nil || c.conn == nil || len(data) == 0 {
		c.st.BadDatagrams++
		return
	}
	now := c.net.Now()
	typ := data[0]
	switch {
	case typ == msgBound:
		if c.st.UDP == UDPBinding {
			c.st.UDP = UDPBound
			c.lastUDPOut = now
			c.log.Debug("session: udp bound", "addr", c.cfg.Addr)
		}
	case typ == msgPong:
	case typ < FirstReserved && c.handlers[typ] != nil:
		c.st.MessagesIn++
		if c.handlers[typ](data) != nil {
			c.st.BadDatagrams++
		}
	default:
		c.st.BadDatagrams++
		return
	}
	c.lastUDP, c.st.LastReceived = now, now
}

// ConnectionRefused implements core.ConnectedDatagramProtocol: nothing
// listens on the server's UDP port.
func (u clientUDP) ConnectionRefused() {
	if u.c.st.UDP == UDPBinding || u.c.st.UDP == UDPBound {
		u.c.udpFallback()
	}
}

// newToken returns a random session token.
func newToken() (t [tokenLen]byte) {
	_, _ = rand.Read(t[:]) // never fails (crypto/rand)
	return t
}
