package netclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// Status is where a session is.
type Status uint8

// The statuses, in the order a session goes through them. StatusFailed and
// StatusDisconnected are final.
const (
	StatusConnecting   Status = iota // connecting, or waiting for Welcome
	StatusConnected                  // welcomed: playing
	StatusFailed                     // never got in; see State.Cause
	StatusDisconnected               // was in, is out; see State.Cause
)

var statusNames = [...]string{"connecting", "connected", "connection failed", "disconnected"}

// String returns e.g. "connection failed".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", s)
}

// Cause says why a session failed or was disconnected.
type Cause uint8

// The causes.
const (
	CauseNone           Cause = iota
	CauseUnreachable          // the connection could not be made (State.Err: refused, timeout, ...)
	CauseRejected             // the server refused the Hello (State.Reason: "server full", version)
	CauseKicked               // the server sent Reject after Welcome (State.Reason says why)
	CauseServerShutdown       // the server said it is shutting down
	CauseLost                 // the connection broke or the server went silent (State.Err)
	CauseProtocol             // the server sent something this client does not understand (State.Err)
	CauseQuit                 // Goodbye or Abort was called
)

var causeNames = [...]string{"", "unreachable", "rejected", "kicked", "server shutdown", "connection lost", "protocol error", "quit"}

// String returns e.g. "server shutdown".
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("Cause(%d)", c)
}

// UDPStatus is how snapshots reach the session.
type UDPStatus uint8

// The UDP statuses.
const (
	UDPOff     UDPStatus = iota // not asked for (Config.UDP false), or not yet welcomed
	UDPBinding                  // UDPBind sent, waiting for the first snapshot over UDP
	UDPBound                    // snapshots arrive over UDP
	UDPFailed                   // no confirmation (or refused): snapshots stay on TCP
)

var udpNames = [...]string{"off", "binding", "bound", "failed"}

// String returns e.g. "bound".
func (u UDPStatus) String() string {
	if int(u) < len(udpNames) {
		return udpNames[u]
	}
	return fmt.Sprintf("UDPStatus(%d)", u)
}

// Errors in State.Err. Reasons from the reactor (core.ErrConnectionRefused,
// core.ErrTimeout, ...) are wrapped, so errors.Is works with them too.
var (
	// ErrServerTimeout: the server sent nothing for Config.ServerTimeout.
	ErrServerTimeout = fmt.Errorf("%w: server silent", core.ErrTimeout)
	// ErrNoWelcome: no Welcome within Config.HandshakeTimeout.
	ErrNoWelcome = fmt.Errorf("%w: no welcome from the server", core.ErrTimeout)
	// ErrProtocol: the server sent a message this client cannot use.
	ErrProtocol = fmt.Errorf("%w: protocol error", core.ErrBadInput)
	// ErrAborted: Abort was called.
	ErrAborted = fmt.Errorf("%w: aborted by the client", core.ErrAborted)
)

// State is what a game shows about the session. Session.State returns a
// copy; it is cheap (no allocation) to read every frame.
type State struct {
	Status Status
	Cause  Cause  // for StatusFailed and StatusDisconnected
	Reason string // the server's words, for CauseRejected and CauseKicked
	Err    error  // the underlying error, for the other causes

	// From Welcome.
	PlayerID       uint16
	TickRate       uint8
	ArenaW, ArenaH int

	UDP UDPStatus

	// RTT is the smoothed round-trip time (RFC 6298's 1/8 gain), as the
	// game sees it: in a frame-driven host the pong waits in the reactor's
	// queue until the next Update drains it, so it includes up to one tick.
	RTT        time.Duration
	LastRTT    time.Duration // the last sample
	RTTSamples uint64

	Snapshots    uint64    // snapshot messages received, over TCP and UDP
	SnapshotsUDP uint64    // of which over UDP
	BadDatagrams uint64    // UDP datagrams ignored (malformed, or not a snapshot)
	LastTick     uint32    // server tick of the newest snapshot
	LastSnapshot time.Time // when it arrived, by the reactor's clock

	InputsSent  uint64
	Corrections uint64  // reconciliations that moved the predicted player
	Correction  float64 // how far the last one moved it, in px
}

// Config configures a Session. Zero durations take their defaults.
type Config struct {
	Addr string // the server's TCP address, "host:port"
	Name string // the player's name; see game.ValidateName
	// UDP asks for snapshots over UDP (port number same as TCP); without
	// it, or when binding fails, they come over TCP.
	UDP bool
	// Dial, if set, makes the connection instead of TCP to Addr (which
	// then only names the server in messages): WebSocket, TLS, or a
	// program's own. See Dialer.
	Dial Dialer

	ConnectTimeout   time.Duration // default 5s
	HandshakeTimeout time.Duration // Welcome must come this soon after connecting; default 5s
	PingInterval     time.Duration // default 1s
	// ServerTimeout: a server that sends nothing (no snapshot, no pong) for
	// this long is taken as lost. Default 5s.
	ServerTimeout    time.Duration
	InterpDelay      time.Duration // default game.DefaultInterpDelay
	MaxExtrapolation time.Duration // default game.DefaultMaxExtrapolation; negative: none
	UDPBindInterval  time.Duration // default 200ms
	UDPBindAttempts  int           // default 10

	// Net, if set, is what the session connects and keeps time through
	// instead of the reactor itself: a netsim.Conditions (a simulated
	// network), a replay.Recorder or replay.Player (record and replay),
	// or a stack of them. Default: netio.Reactor(r).
	Net netio.Net

	// OnStatus, if set, is called after every change of State.Status.
	OnStatus func(*Session)
	// OnTick, if set, is called once per client tick just before the
	// buttons are sampled, so a program can decide them there (the bots
	// do). A game that reads its keys each frame calls SetButtons instead.
	OnTick func(*Session)
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ConnectTimeout, 5*time.Second)
	def(&c.HandshakeTimeout, 5*time.Second)
	def(&c.PingInterval, time.Second)
	def(&c.ServerTimeout, 5*time.Second)
	def(&c.InterpDelay, game.DefaultInterpDelay)
	def(&c.MaxExtrapolation, game.DefaultMaxExtrapolation)
	def(&c.UDPBindInterval, 200*time.Millisecond)
	if c.UDPBindAttempts <= 0 {
		c.UDPBindAttempts = 10
	}
}

// maxServerMessage bounds a message from the server: a snapshot and its
// length prefix, with room to spare.
const maxServerMessage = 2048

// Session is one client's connection to the game server. Its methods must
// be called on the reactor's main thread.
type Session struct {
	r   *core.Reactor // for a Config.Dial
	net netio.Net     // cfg.Net, or the reactor
	cfg Config
	st  State

	connector netio.Dialing
	t         core.Transport
	udp       netio.PacketPort
	welcomed  bool
	finished  bool  // the connection is gone (or never came)
	cause     Cause // decided before the connection goes (Goodbye, Shutdown, Reject)
	reason    string

	pred   *game.Predictor
	interp *game.Interpolator
	names  map[uint16]string

	buttons  uint8
	dt       time.Duration
	epoch    time.Time // pings carry the time since epoch
	lastRecv time.Time
	token    [16]byte
	binds    int

	tickTimer, pingTimer, bindTimer, helloTimer netio.Timer
	tickFn, pingFn, bindFn                      func()

	snapPlayers []game.PlayerState // reused by DecodeSnapshot
	hashRemote  []game.PlayerState // reused by StateHash
	hashIDs     []uint16           // reused by StateHash
	msg, out    []byte             // reused payload and frame buffers
	goodbye     chan struct{}
}

// Dial starts a session: it connects to cfg.Addr and says Hello. It returns
// at once, with the session in StatusConnecting; failures come later
// through State. It returns an error only for an unusable Config (a bad
// name, an address ConnectTCP refuses). Main thread.
func Dial(r *core.Reactor, cfg Config) (*Session, error) {
	if err := game.ValidateName(cfg.Name); err != nil {
		return nil, fmt.Errorf("netclient: %w", err)
	}
	cfg.setDefaults()
	n := cfg.Net
	if n == nil {
		n = netio.Reactor(r)
	}
	s := &Session{
		r:      r,
		net:    n,
		cfg:    cfg,
		names:  make(map[uint16]string),
		interp: game.NewInterpolator(cfg.InterpDelay, max(cfg.MaxExtrapolation, 0)),
		msg:    make([]byte, 0, 64),
		out:    make([]byte, 0, 64),
		epoch:  n.Now(),
	}
	s.tickFn, s.pingFn, s.bindFn = s.clientTick, s.ping, s.sendBind
	c, err := s.connect()
	if err != nil {
		return nil, fmt.Errorf("netclient: %w", err)
	}
	s.connector = c
	return s, nil
}

// State returns the session's state. It does not allocate.
func (s *Session) State() State { return s.st }

// SetButtons sets the buttons held (game.ButtonUp | ...), sampled at the
// next client tick. Call it every frame with the keys pressed.
func (s *Session) SetButtons(b uint8) { s.buttons = b & game.ButtonMask }

// Buttons returns the buttons last set.
func (s *Session) Buttons() uint8 { return s.buttons }

// Self returns the own player as predicted, and false until the first
// snapshot tells where it is.
func (s *Session) Self() (game.PlayerState, bool) {
	if s.pred == nil {
		return game.PlayerState{}, false
	}
	return s.pred.State()
}

// PendingInputs returns how many inputs were sent that the server has not
// acknowledged in a snapshot yet (about RTT × tick rate while moving).
func (s *Session) PendingInputs() int {
	if s.pred == nil {
		return 0
	}
	return s.pred.Pending()
}

// Remote appends the other players, interpolated for now (by the
// session's clock: the reactor's, or Config.Net's), to dst in increasing id order, and returns it. It allocates only
// if dst lacks room.
func (s *Session) Remote(dst []game.PlayerState) []game.PlayerState {
	n := len(dst)
	dst = s.interp.Sample(s.net.Now(), dst)
	if s.welcomed {
		for i := n; i < len(dst); i++ {
			if dst[i].ID == s.st.PlayerID {
				dst = slices.Delete(dst, i, i+1)
				break
			}
		}
	}
	return dst
}

// Name returns the name of player id, as announced by the server.
func (s *Session) Name(id uint16) (string, bool) {
	n, ok := s.names[id]
	return n, ok
}

// PlayerIDs appends the ids of every player the server announced, the own
// one included, in increasing order.
func (s *Session) PlayerIDs(dst []uint16) []uint16 {
	n := len(dst)
	for id := range s.names {
		dst = append(dst, id)
	}
	slices.Sort(dst[n:])
	return dst
}

// Goodbye quits cleanly: it sends Goodbye and closes the connection once
// everything queued is sent (an attempt still connecting is cancelled). The
// channel is closed when the connection is gone, at once if it already is;
// calling Goodbye again returns the same channel. The session ends in
// StatusDisconnected (or StatusFailed, if it never got in) with CauseQuit.
func (s *Session) Goodbye() <-chan struct{} {
	if s.goodbye != nil {
		return s.goodbye
	}
	s.goodbye = make(chan struct{})
	if s.finished {
		close(s.goodbye)
		return s.goodbye
	}
	if s.cause == CauseNone {
		s.cause = CauseQuit
	}
	if s.t == nil {
		s.connector.Cancel() // connectFailed closes the channel
		return s.goodbye
	}
	if !s.welcomed {
		// Nothing worth flushing yet, and the server may never answer.
		_ = s.t.AbortWithError(ErrAborted)
		return s.goodbye
	}
	s.send(game.AppendGoodbye(s.msg[:0], game.Goodbye{}))
	_ = s.t.LoseConnection()
	return s.goodbye
}

// Abort drops the connection at once, without a goodbye (the server will
// log an error for it). The session ends with CauseQuit.
func (s *Session) Abort() {
	if s.finished {
		return
	}
	if s.cause == CauseNone {
		s.cause = CauseQuit
	}
	if s.t == nil {
		s.connector.Cancel()
		return
	}
	_ = s.t.AbortWithError(ErrAborted)
}

// setStatus changes the status and tells OnStatus.
func (s *Session) setStatus(st Status) {
	if s.st.Status == st {
		return
	}
	s.st.Status = st
	if s.cfg.OnStatus != nil {
		s.cfg.OnStatus(s)
	}
}

// build is the ClientFactory's BuildProtocol.
func (s *Session) build(net.Addr) (core.Protocol, error) {
	return framing.NewProtocol(tcpHandler{s}, maxServerMessage), nil
}

// connectFailed is the ClientFactory's ConnectionFailed.
func (s *Session) connectFailed(err error) {
	cause := CauseUnreachable
	if s.cause == CauseQuit {
		cause = CauseQuit
	}
	s.finish(StatusFailed, cause, fmt.Errorf("netclient: connecting to %s: %w", s.cfg.Addr, err))
}

// finish ends the session: timers stopped, UDP closed, final status set,
// the goodbye channel closed.
func (s *Session) finish(st Status, cause Cause, err error) {
	if s.finished {
		return
	}
	s.finished = true
	for _, t := range []*netio.Timer{&s.tickTimer, &s.pingTimer, &s.bindTimer, &s.helloTimer} {
		if *t != nil {
			_ = (*t).Cancel()
			*t = nil
		}
	}
	if s.udp != nil {
		_ = s.udp.Close()
		s.udp = nil
		if s.st.UDP == UDPBinding {
			s.st.UDP = UDPFailed
		}
	}
	s.st.Cause, s.st.Reason = cause, s.reason
	if cause == CauseRejected || cause == CauseKicked || cause == CauseServerShutdown || cause == CauseQuit {
		err = nil // the cause says it all; a clean close follows those
	}
	s.st.Err = err
	s.setStatus(st)
	if s.goodbye != nil {
		close(s.goodbye)
	}
}

// send frames one payload and writes it to the TCP connection.
func (s *Session) send(payload []byte) {
	if s.t == nil {
		return
	}
	s.out, _ = framing.Send(s.t, s.out, payload)
}

// tcpHandler is the framing.Handler of the TCP connection.
type tcpHandler struct{ s *Session }

// ConnectionMade implements framing.Handler: it says Hello.
func (h tcpHandler) ConnectionMade(t core.Transport) {
	s := h.s
	s.t = t
	s.lastRecv = s.net.Now()
	s.send(game.AppendHello(s.msg[:0], game.Hello{Version: game.ProtocolVersion, Name: s.cfg.Name}))
	s.helloTimer, _ = s.net.CallLater(s.cfg.HandshakeTimeout, func() {
		s.helloTimer = nil
		if !s.welcomed && s.t != nil {
			_ = s.t.AbortWithError(ErrNoWelcome)
		}
	})
}

// MessageReceived implements framing.Handler.
func (h tcpHandler) MessageReceived(payload []byte) error {
	s := h.s
	s.lastRecv = s.net.Now()
	t, err := game.PeekType(payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if t == game.MsgSnapshot && s.welcomed {
		return s.snapshot(payload, false)
	}
	m, err := game.Decode(payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if !s.welcomed {
		switch m := m.(type) {
		case game.Welcome:
			s.welcome(m)
			return nil
		case game.Reject:
			s.cause, s.reason = CauseRejected, m.Reason
			return nil // the server closes the connection
		}
		return fmt.Errorf("%w: %v before Welcome", ErrProtocol, t)
	}
	switch m := m.(type) {
	case game.PlayerInfo:
		s.names[m.ID] = m.Name
	case game.PlayerLeft:
		delete(s.names, m.ID)
	case game.Pong:
		s.pong(m)
	case game.Ping:
		s.send(game.AppendPong(s.msg[:0], game.Pong(m)))
	case game.Shutdown:
		if s.cause == CauseNone {
			s.cause = CauseServerShutdown
		}
	case game.Reject:
		if s.cause == CauseNone {
			s.cause, s.reason = CauseKicked, m.Reason
		}
	default:
		return fmt.Errorf("%w: unexpected %v", ErrProtocol, t)
	}
	return nil
}

// ConnectionLost implements framing.Handler.
func (h tcpHandler) ConnectionLost(reason error) {
	s := h.s
	s.t = nil
	cause := s.cause
	if cause == CauseNone {
		switch {
		case errors.Is(reason, ErrProtocol), errors.Is(reason, core.ErrBadInput):
			cause = CauseProtocol
		default:
			cause = CauseLost
		}
	}
	if !s.welcomed {
		s.finish(StatusFailed, cause, reason)
		return
	}
	s.finish(StatusDisconnected, cause, reason)
}

// welcome starts playing: prediction, the input tick, pings, UDP.
func (s *Session) welcome(w game.Welcome) {
	s.welcomed = true
	if s.helloTimer != nil {
		_ = s.helloTimer.Cancel()
		s.helloTimer = nil
	}
	s.st.PlayerID, s.st.TickRate = w.PlayerID, w.TickRate
	s.st.ArenaW, s.st.ArenaH = int(w.ArenaW), int(w.ArenaH)
	s.token = w.Token
	s.pred = game.NewPredictor(w.PlayerID, w.TickRate)
	s.dt = time.Duration(float64(time.Second) / float64(w.TickRate))
	s.tickTimer, _ = s.net.CallEvery(s.dt, s.tickFn)
	s.ping() // the first RTT sample at once
	s.pingTimer, _ = s.net.CallEvery(s.cfg.PingInterval, s.pingFn)
	if s.cfg.UDP {
		s.startUDP()
	}
	s.setStatus(StatusConnected)
}

// clientTick samples the buttons once per server tick and sends them as an
// Input. It runs on a repeating timer (core's CallEvery, no allocation per
// tick); late by several ticks (a long frame), it runs once and the missed
// ticks are skipped, which the server's rate limit would refuse anyway.
func (s *Session) clientTick() {
	if s.cfg.OnTick != nil {
		s.cfg.OnTick(s)
		if s.finished {
			return
		}
	}
	if s.buttons != 0 { // idle ticks move nothing: skip them
		in := s.pred.Input(s.buttons)
		s.send(game.AppendInput(s.msg[:0], in))
		s.st.InputsSent++
	}
}

// ping sends a Ping and checks that the server is alive.
func (s *Session) ping() {
	if s.t == nil {
		return
	}
	now := s.net.Now()
	if now.Sub(s.lastRecv) >= s.cfg.ServerTimeout {
		_ = s.t.AbortWithError(fmt.Errorf("%w for %v", ErrServerTimeout, s.cfg.ServerTimeout))
		return
	}
	s.send(game.AppendPing(s.msg[:0], game.Ping{T: int64(now.Sub(s.epoch))}))
}

// pong takes an RTT sample.
func (s *Session) pong(p game.Pong) {
	rtt := s.net.Now().Sub(s.epoch) - time.Duration(p.T)
	if rtt < 0 || p.T < 0 {
		return // not one of ours
	}
	s.st.LastRTT = rtt
	if s.st.RTTSamples == 0 {
		s.st.RTT = rtt
	} else {
		s.st.RTT += (rtt - s.st.RTT) / 8
	}
	s.st.RTTSamples++
}

// snapshot handles a Snapshot payload from TCP or UDP.
func (s *Session) snapshot(payload []byte, viaUDP bool) error {
	snap, err := game.DecodeSnapshot(payload, s.snapPlayers)
	if err != nil {
		if viaUDP {
			s.st.BadDatagrams++
			return nil
		}
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	s.snapPlayers = snap.Players
	now := s.net.Now()
	s.st.Snapshots++
	if viaUDP {
		s.st.SnapshotsUDP++
		if s.st.UDP == UDPBinding {
			s.st.UDP = UDPBound
			if s.bindTimer != nil {
				_ = s.bindTimer.Cancel()
				s.bindTimer = nil
			}
		}
	}
	if snap.Tick >= s.st.LastTick {
		s.st.LastTick, s.st.LastSnapshot = snap.Tick, now
	}
	s.interp.Push(now, snap)
	if corr, ok := s.pred.Reconcile(snap); ok && corr > 0 {
		s.st.Corrections++
		s.st.Correction = corr
	}
	return nil
}

// startUDP opens a UDP port towards the server's address and starts
// binding it.
func (s *Session) startUDP() {
	local, lok := s.t.LocalAddr().(*net.TCPAddr)
	remote, rok := s.t.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		s.st.UDP = UDPFailed
		return
	}
	laddr := net.JoinHostPort(local.AddrPort().Addr().Unmap().String(), "0")
	u, err := s.net.ListenUDP(laddr, udpHandler{s})
	if err != nil {
		s.st.UDP = UDPFailed
		return
	}
	raddr := netip.AddrPortFrom(remote.AddrPort().Addr().Unmap(), remote.AddrPort().Port())
	if err := u.Connect(raddr); err != nil {
		_ = u.Close()
		s.st.UDP = UDPFailed
		return
	}
	s.udp = u
	s.st.UDP = UDPBinding
	s.sendBind()
}

// sendBind sends one UDPBind and re-arms itself until the first UDP
// snapshot arrives or the attempts run out.
func (s *Session) sendBind() {
	s.bindTimer = nil
	if s.udp == nil || s.st.UDP != UDPBinding {
		return
	}
	if s.binds >= s.cfg.UDPBindAttempts {
		s.udpFailed()
		return
	}
	s.binds++
	payload := game.AppendUDPBind(s.msg[:0], game.UDPBind{PlayerID: s.st.PlayerID, Token: s.token})
	s.out = framing.Append(s.out[:0], payload)
	_ = s.udp.Write(s.out) // a lost datagram is what the retries are for
	s.bindTimer, _ = s.net.CallLater(s.cfg.UDPBindInterval, s.bindFn)
}

// udpFailed gives UDP up; snapshots keep coming over TCP. (If the server
// did bind the port, it goes on sending there; the session closes the port,
// so those datagrams are refused by this host. See the package docs of
// gameserver: binding is confirmed by the first datagram, so this happens
// only when the server's datagrams cannot reach this client.)
func (s *Session) udpFailed() {
	if s.udp != nil {
		_ = s.udp.Close()
		s.udp = nil
	}
	if s.bindTimer != nil {
		_ = s.bindTimer.Cancel()
		s.bindTimer = nil
	}
	s.st.UDP = UDPFailed
}

// udpHandler receives the session's datagrams: snapshots, one frame each.
type udpHandler struct{ s *Session }

// DatagramReceived implements core.DatagramProtocol.
func (h udpHandler) DatagramReceived(data []byte, _ netip.AddrPort) {
	s := h.s
	n, k := binary.Uvarint(data)
	if k <= 0 || n != uint64(len(data)-k) || s.finished || !s.welcomed {
		s.st.BadDatagrams++
		return
	}
	payload := data[k:]
	if t, err := game.PeekType(payload); err != nil || t != game.MsgSnapshot {
		s.st.BadDatagrams++
		return
	}
	s.lastRecv = s.net.Now()
	_ = s.snapshot(payload, true)
}

// ConnectionRefused implements core.ConnectedDatagramProtocol: the server
// has no UDP port. Snapshots stay on TCP.
func (h udpHandler) ConnectionRefused() {
	if h.s.st.UDP == UDPBinding {
		h.s.udpFailed()
	}
}
