package netclient

import (
	"fmt"
	"slices"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// Status is where a session is.
type Status uint8

// The statuses. StatusFailed and StatusDisconnected are final.
const (
	StatusConnecting   Status = iota // connecting for the first time, or waiting for the welcome
	StatusConnected                  // welcomed: playing
	StatusFailed                     // never got in, and gave up; see State.Cause
	StatusDisconnected               // was in, is out for good; see State.Cause
	StatusReconnecting               // was in, lost it, and is connecting again (session.Reconnecting)
)

var statusNames = [...]string{"connecting", "connected", "connection failed", "disconnected", "reconnecting"}

// String returns e.g. "connection failed".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", s)
}

// Cause says why a session failed, was disconnected, or is reconnecting.
type Cause uint8

// The causes (session.Cause, with the game's names).
const (
	CauseNone           Cause = iota
	CauseUnreachable          // the connection could not be made (State.Err: refused, timeout, ...)
	CauseRejected             // the server refused the session (State.Reason: "server full", a name, a version)
	CauseKicked               // the server ended the session (State.Reason says why)
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
	UDPOff     UDPStatus = iota // not asked for (Config.UDP false), or not connected
	UDPBinding                  // binding sent, waiting for the server's confirmation
	UDPBound                    // snapshots arrive over UDP
	UDPFailed                   // no confirmation, or UDP stopped: snapshots come over TCP (retried later)
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
	ErrServerTimeout = session.ErrIdleTimeout
	// ErrNoWelcome: no welcome within Config.HandshakeTimeout.
	ErrNoWelcome = session.ErrHandshakeTimeout
	// ErrProtocol: the server sent a message this client cannot use.
	ErrProtocol = session.ErrProtocol
)

// State is what a game shows about the session. Session.State returns a
// copy; it is cheap (no allocation) to read every frame.
type State struct {
	Status Status
	Cause  Cause  // for StatusFailed, StatusDisconnected and StatusReconnecting
	Reason string // the server's words, for CauseRejected, CauseKicked, CauseServerShutdown
	Err    error  // the underlying error

	// Connects counts the welcomes: 1 after the first connection, more
	// after each reconnection. Resumed says the newest one gave back the
	// player the session had (within the server's grace period).
	Connects uint64
	Resumed  bool
	// NextAttempt is when the next connection attempt starts, while
	// waiting to reconnect.
	NextAttempt time.Time

	// From the welcome.
	PlayerID       uint16
	TickRate       uint8
	ArenaW, ArenaH int

	UDP UDPStatus

	// RTT is the smoothed round-trip time (RFC 6298's 1/8 gain), as the
	// game sees it: in a frame-driven host the pong waits in the reactor's
	// queue until the next Update drains it, so it includes up to one tick.
	RTT        time.Duration
	LastRTT    time.Duration // the last sample
	RTTJitter  time.Duration // the smoothed variation between samples
	RTTSamples uint64

	Snapshots    uint64    // snapshot messages received, over TCP and UDP
	SnapshotsUDP uint64    // of which while UDP was bound (the server then sends them over UDP)
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
	HandshakeTimeout time.Duration // the welcome must come this soon after connecting; default 5s
	PingInterval     time.Duration // default 1s
	// ServerTimeout: a server that sends nothing (no snapshot, no pong) for
	// this long is taken as lost. Default 5s.
	ServerTimeout    time.Duration
	InterpDelay      time.Duration // default game.DefaultInterpDelay
	MaxExtrapolation time.Duration // default game.DefaultMaxExtrapolation; negative: none
	UDPBindInterval  time.Duration // default 200ms
	UDPBindAttempts  int           // default 10

	// NoReconnect gives up at the first failure or loss (StatusFailed,
	// StatusDisconnected) instead of connecting again; by default a lost
	// connection, a server that shuts down or is full is retried with
	// Backoff, forever unless MaxAttempts bounds the failures in a row.
	NoReconnect bool
	MaxAttempts int
	Backoff     session.Backoff

	// Net, if set, is what the session connects and keeps time through
	// instead of the reactor itself: a netsim.Conditions (a simulated
	// network), a replay.Recorder or replay.Player (record and replay),
	// or a stack of them. Default: netio.Reactor(r).
	Net netio.Net

	// OnStatus, if set, is called after every change of State.Status.
	OnStatus func(*Session)
	// OnTick, if set, is called once per client tick while connected, just
	// before the buttons are sampled, so a program can decide them there
	// (the bots do). A game that reads its keys each frame calls
	// SetButtons instead.
	OnTick func(*Session)
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.InterpDelay, game.DefaultInterpDelay)
	def(&c.MaxExtrapolation, game.DefaultMaxExtrapolation)
}

// maxServerMessage bounds a message from the server: a snapshot, with room
// to spare.
const maxServerMessage = 2048

// Session is one client's session with the game server: the game's layer
// (prediction, interpolation, names, the input tick) over a session.Client,
// which connects, reconnects, keeps alive and binds UDP. Its methods must be
// called on the reactor's main thread.
type Session struct {
	c   *session.Client
	net netio.Net // cfg.Net, or the reactor
	cfg Config
	st  State // the game's part; State adds the session's

	status Status // the status last reported to OnStatus

	pred   *game.Predictor
	interp *game.Interpolator
	names  map[uint16]string

	buttons   uint8
	dt        time.Duration
	tickTimer netio.Timer
	tickFn    func()

	snapPlayers []game.PlayerState // reused by DecodeSnapshot
	hashRemote  []game.PlayerState // reused by StateHash
	hashIDs     []uint16           // reused by StateHash
}

// Dial starts a session: it connects to cfg.Addr and presents the player's
// name. It returns at once, with the session in StatusConnecting; failures
// come later through State. It returns an error only for an unusable
// Config (a bad name, an address ConnectTCP refuses). Main thread.
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
		net:    n,
		cfg:    cfg,
		names:  make(map[uint16]string),
		interp: game.NewInterpolator(cfg.InterpDelay, max(cfg.MaxExtrapolation, 0)),
	}
	s.tickFn = s.clientTick
	c, err := session.Dial(r, session.ClientConfig{
		Addr:             cfg.Addr,
		App:              game.App,
		Hello:            []byte(cfg.Name),
		UDP:              cfg.UDP,
		ConnectTimeout:   cfg.ConnectTimeout,
		HandshakeTimeout: cfg.HandshakeTimeout,
		PingInterval:     cfg.PingInterval,
		IdleTimeout:      cfg.ServerTimeout,
		NoReconnect:      cfg.NoReconnect,
		MaxAttempts:      cfg.MaxAttempts,
		Backoff:          cfg.Backoff,
		UDPBindInterval:  cfg.UDPBindInterval,
		UDPBindAttempts:  cfg.UDPBindAttempts,
		MaxMessage:       maxServerMessage,
		MaxDatagram:      game.MaxSnapshotBytes,
		Net:              n,
		OnConnect:        s.connected,
		OnStatus:         s.statusChanged,
		Dial:             cfg.Dial,
	})
	if err != nil {
		return nil, fmt.Errorf("netclient: %w", err)
	}
	s.c = c
	for t, h := range map[game.MsgType]func([]byte) error{
		game.MsgSnapshot:   s.snapshot,
		game.MsgPlayerInfo: s.playerInfo,
		game.MsgPlayerLeft: s.playerLeft,
	} {
		if err := c.Handle(byte(t), h); err != nil {
			c.Close()
			return nil, fmt.Errorf("netclient: %w", err)
		}
	}
	return s, nil
}

// Client is the session.Client underneath, for what the game layer does
// not show (State().RTT.Jitter, say).
func (s *Session) Client() *session.Client { return s.c }

// State returns the session's state. It does not allocate.
func (s *Session) State() State {
	st := s.st
	cs := s.c.State()
	st.Status = mapStatus(cs)
	st.Cause, st.Reason, st.Err = mapCause(cs.Cause), cs.Reason, cs.Err
	st.Connects, st.Resumed, st.NextAttempt = cs.Connects, cs.Resumed, cs.NextAttempt
	st.UDP = mapUDP(cs.UDP)
	st.RTT, st.LastRTT, st.RTTJitter, st.RTTSamples = cs.RTT.Smoothed, cs.RTT.Last, cs.RTT.Jitter, cs.RTT.Samples
	st.BadDatagrams = cs.BadDatagrams
	return st
}

func mapStatus(cs session.State) Status {
	switch cs.Status {
	case session.Connected:
		return StatusConnected
	case session.Reconnecting:
		return StatusReconnecting
	case session.Disconnected:
		if cs.Connects == 0 {
			return StatusFailed
		}
		return StatusDisconnected
	}
	return StatusConnecting
}

func mapCause(c session.Cause) Cause {
	switch c {
	case session.CauseUnreachable:
		return CauseUnreachable
	case session.CauseRefused:
		return CauseRejected
	case session.CauseKicked:
		return CauseKicked
	case session.CauseServerShutdown:
		return CauseServerShutdown
	case session.CauseLost:
		return CauseLost
	case session.CauseProtocol:
		return CauseProtocol
	case session.CauseQuit:
		return CauseQuit
	}
	return CauseNone
}

func mapUDP(u session.UDPStatus) UDPStatus {
	switch u {
	case session.UDPBinding:
		return UDPBinding
	case session.UDPBound:
		return UDPBound
	case session.UDPFallback:
		return UDPFailed
	}
	return UDPOff
}

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
// session's clock: the reactor's, or Config.Net's), to dst in increasing id
// order, and returns it. It allocates only if dst lacks room.
func (s *Session) Remote(dst []game.PlayerState) []game.PlayerState {
	n := len(dst)
	dst = s.interp.Sample(s.net.Now(), dst)
	if s.pred != nil {
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

// Goodbye quits cleanly: it says goodbye to the server and closes the
// connection once everything queued is sent (an attempt still connecting,
// or a wait to reconnect, is cancelled). The channel is closed when the
// connection is gone, at once if there is none; calling Goodbye again
// returns the same channel. The session ends in StatusDisconnected (or
// StatusFailed, if it never got in) with CauseQuit.
func (s *Session) Goodbye() <-chan struct{} { return s.c.Goodbye() }

// Abort drops the connection at once, without a goodbye. The session ends
// with CauseQuit.
func (s *Session) Abort() { s.c.Close() }

// statusChanged is session.ClientConfig.OnStatus.
func (s *Session) statusChanged(*session.Client) {
	st := mapStatus(s.c.State())
	if st == StatusFailed || st == StatusDisconnected {
		s.stopTick()
	}
	if st == s.status {
		return
	}
	s.status = st
	if s.cfg.OnStatus != nil {
		s.cfg.OnStatus(s)
	}
}

func (s *Session) stopTick() {
	if s.tickTimer != nil {
		_ = s.tickTimer.Cancel()
		s.tickTimer = nil
	}
}

// connected is session.ClientConfig.OnConnect: on every welcome it reads
// the game's part, and unless the session was resumed (the server kept the
// player), starts the game's state afresh: prediction, interpolation,
// names.
func (s *Session) connected(_ *session.Client, w session.Welcome) {
	tick, aw, ah, err := game.DecodeWelcomeData(w.Data)
	if err != nil {
		s.c.Close() // not this game's server
		return
	}
	s.st.PlayerID, s.st.TickRate, s.st.ArenaW, s.st.ArenaH = uint16(w.ID), tick, aw, ah
	if !w.Resumed || s.pred == nil {
		s.pred = game.NewPredictor(uint16(w.ID), tick)
		s.interp = game.NewInterpolator(s.cfg.InterpDelay, max(s.cfg.MaxExtrapolation, 0))
		clear(s.names)
		s.st.LastTick = 0
	}
	if dt := time.Duration(float64(time.Second) / float64(tick)); dt != s.dt || s.tickTimer == nil {
		s.stopTick()
		s.dt = dt
		s.tickTimer, _ = s.net.CallEvery(dt, s.tickFn)
	}
}

// clientTick samples the buttons once per server tick and sends them as an
// Input. It runs on a repeating timer (no allocation per tick); late by
// several ticks (a long frame), it runs once and the missed ticks are
// skipped, which the server's rate limit would refuse anyway. While not
// connected it sends nothing.
func (s *Session) clientTick() {
	if s.c.State().Status != session.Connected {
		return
	}
	if s.cfg.OnTick != nil {
		s.cfg.OnTick(s)
		if s.c.State().Status != session.Connected {
			return
		}
	}
	if s.buttons != 0 { // idle ticks move nothing: skip them
		in := s.pred.Input(s.buttons)
		if s.c.Send(game.AppendInput(s.c.Begin(byte(game.MsgInput))[:0], in)) == nil {
			s.st.InputsSent++
		}
	}
}

// snapshot handles a Snapshot payload from TCP or UDP.
func (s *Session) snapshot(payload []byte) error {
	if s.pred == nil {
		return fmt.Errorf("%w: snapshot before the welcome", ErrProtocol)
	}
	snap, err := game.DecodeSnapshot(payload, s.snapPlayers)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	s.snapPlayers = snap.Players
	now := s.net.Now()
	s.st.Snapshots++
	if s.c != nil && s.c.State().UDP == session.UDPBound {
		s.st.SnapshotsUDP++
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

func (s *Session) playerInfo(payload []byte) error {
	m, err := game.Decode(payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	info, ok := m.(game.PlayerInfo)
	if !ok {
		return fmt.Errorf("%w: not a PlayerInfo", ErrProtocol)
	}
	s.names[info.ID] = info.Name
	return nil
}

func (s *Session) playerLeft(payload []byte) error {
	m, err := game.Decode(payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	left, ok := m.(game.PlayerLeft)
	if !ok {
		return fmt.Errorf("%w: not a PlayerLeft", ErrProtocol)
	}
	delete(s.names, left.ID)
	return nil
}
