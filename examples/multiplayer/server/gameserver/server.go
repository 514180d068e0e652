package gameserver

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// Reasons a client is disconnected. Each matches core.ErrBadInput, so
// errors.Is works with either.
var (
	// ErrProtocol: a message that is malformed, or an input for another
	// player.
	ErrProtocol = fmt.Errorf("%w: protocol violation", core.ErrBadInput)
	// ErrFlood: inputs beyond the rate limit (see Config).
	ErrFlood = fmt.Errorf("%w: flood", core.ErrBadInput)
	// ErrSlowClient: the client did not read what it was sent for
	// Config.SlowClientTimeout, or let far too much pile up.
	ErrSlowClient = errors.New("gameserver: client not reading")
)

// The leave reasons of the msg=leave log line.
const (
	ReasonQuit     = "quit"
	ReasonClosed   = "closed" // the connection ended cleanly without a goodbye: the client's process exited
	ReasonTimeout  = "timeout"
	ReasonError    = "error"
	ReasonShutdown = "shutdown"
	// ReasonSlow (in slowclient.go): the player did not read.
)

// maxCatchUp is how many ticks one late tick callback runs at most; beyond
// that the backlog is forgotten (counted in Stats.TicksSkipped) rather than
// letting a slow server spiral into ever longer catch-ups.
const maxCatchUp = 3

// Stats are the server's counters. Counters only grow.
type Stats struct {
	Players, Conns, UDPClients int // now

	Ticks        uint64 // simulation ticks run
	TicksLate    uint64 // ticks run late, to catch up, in the same callback as another
	TicksSkipped uint64 // ticks given up on because the server fell too far behind

	SnapshotsTCP     uint64 // snapshot messages sent over TCP
	SnapshotsUDP     uint64 // snapshot datagrams sent
	SnapshotsSkipped uint64 // snapshots not sent to clients whose TCP data was backed up
	UDPDropped       uint64 // datagrams the kernel would not take

	InputsApplied uint64 // inputs queued in the world
	InputsDropped uint64 // inputs over the rate or burst applied, or the world's queue
	InputsStale   uint64 // inputs with an old sequence number

	UDPRejected uint64 // datagrams ignored (session.ServerStats.BadDatagrams)

	Joins, Leaves, Rejects, Drops uint64
	SlowDrops                     uint64 // players dropped with reason=slow
	LogsSuppressed                uint64 // peer log lines not logged (Config.PeerLogRate), the session package's included
}

// player is the game's state of one session (session.Peer.Data).
type player struct {
	p        *session.Peer
	id       uint16
	name     string
	nameKey  string // see names.go
	addr     string
	inputs   inputLimit
	backedUp time.Time // since when its unsent data is above the bound; zero: not
	slow     bool      // kicked for not reading
	lost     error     // how its connection ended, while it waits to be resumed
	closed   bool      // its client closed the connection without a goodbye
}

// Server is the authoritative game server: it owns a game.World, ticks it at
// a fixed rate, and talks to clients through package core/session (TCP, and
// UDP for snapshots). See the package documentation for the protocol and
// the limits.
type Server struct {
	r     *core.Reactor
	cfg   Config
	log   *slog.Logger
	world *game.World
	dt    time.Duration
	sess  *session.Server

	players []*player          // joined players, by increasing id
	names   map[string]*player // players by name key (names.go)

	started    bool
	closing    bool
	closedCh   <-chan struct{}
	nextTick   time.Time
	tickTimer  *core.DelayedCall
	statsTimer *core.DelayedCall
	tickFn     func()
	statsFn    func()

	// Buffers reused on every tick (one main thread, so one set is enough).
	states []game.PlayerState
	snap   []byte
	kicks  []slowKick

	plog peerLog

	stats      Stats
	tickTimes  []time.Duration // tick durations since the last stats line
	sorted     []time.Duration
	lastCore   core.Stats
	lastStatAt time.Time
}

// maxUnread bounds what core reads from one connection ahead of the main
// thread (its default is 1 MiB): a client sends a few hundred bytes a
// second, so 64 KiB is plenty, and a flooding client is pushed back by TCP
// instead of costing the server memory.
const maxUnread = 64 << 10

// New makes a server on r and starts listening: TCP on cfg.Addr and, unless
// disabled, UDP on the same host and port number (if that UDP port cannot be
// had, the server logs it and runs without UDP). The simulation starts when
// the reactor runs, and the server registers a Before-shutdown trigger that
// calls Shutdown, so stopping the reactor says goodbye to every client.
// Call it on r's main thread, or before r starts.
func New(r *core.Reactor, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		r:     r,
		cfg:   cfg,
		log:   cfg.Logger,
		world: game.NewWorld(game.WorldConfig{TickRate: uint8(cfg.TickRate), MaxPlayers: cfg.MaxPlayers}),
		dt:    time.Duration(float64(time.Second) / float64(cfg.TickRate)),
		names: make(map[string]*player),
		plog:  newPeerLog(cfg.PeerLogRate),
		snap:  make([]byte, 0, game.MaxSnapshotBytes),
	}
	s.tickFn, s.statsFn = s.tick, s.logStats
	// The session package adds core.WithLinger(cfg.Linger) itself.
	opts := append([]core.ListenOption{core.WithMaxUnread(maxUnread)}, sendBufferOption(cfg.SendBuffer)...)
	opts = append(opts, cfg.ListenOptions...)
	s.sess, err = session.Listen(r, session.ServerConfig{
		Addr:               cfg.Addr,
		App:                game.App,
		UDP:                !cfg.DisableUDP,
		TLS:                cfg.TLS,
		MaxSessions:        cfg.MaxPlayers,
		MaxConns:           cfg.MaxConns,
		MaxConnsPerAddr:    cfg.MaxConnsPerAddr,
		MaxSessionsPerAddr: cfg.MaxPlayersPerAddr,
		AddrLimitExempt:    cfg.AddrLimitExempt,
		HandshakeTimeout:   cfg.HandshakeTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		PongTimeout:        cfg.SlowClientTimeout + serverPingInterval,
		Grace:              cfg.Grace,
		MaxMessage:         cfg.MaxMessage,
		MaxDatagram:        game.MaxSnapshotBytes,
		Linger:             cfg.Linger,
		WelcomeData:        game.AppendWelcomeData(nil, uint8(cfg.TickRate)),
		LogRate:            cfg.PeerLogRate,
		Logger:             slog.New(onceHandler{cfg.Logger.Handler()}),
		ListenOptions:      opts,
		Accept:             s.accept,
		OnJoin:             s.joined,
		OnResume:           s.resumed,
		OnDetach:           s.detached,
		OnLeave:            s.left,
	})
	if err != nil {
		return nil, fmt.Errorf("gameserver: listen: %w", err)
	}
	if err := s.sess.Handle(byte(game.MsgInput), s.input); err != nil {
		return nil, fmt.Errorf("gameserver: %w", err)
	}
	fail := func(err error) (*Server, error) {
		<-s.sess.LoseAll("server failed to start") // no connection yet: closed at once
		return nil, fmt.Errorf("gameserver: %w", err)
	}
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, s.Shutdown); err != nil {
		return fail(err)
	}
	r.CallWhenRunning(s.start)
	attrs := []any{"addr", s.sess.Addr().String(), "tick", cfg.TickRate, "max_players", cfg.MaxPlayers}
	if u := s.sess.UDPAddr(); u.IsValid() {
		attrs = append(attrs, "udp", u.String())
	}
	s.log.Info("listening", attrs...)
	return s, nil
}

// Addr is the TCP address the server listens on (with the port picked when
// Config.Addr asked for port 0).
func (s *Server) Addr() net.Addr { return s.sess.Addr() }

// UDPAddr is the address of the UDP port, or the zero AddrPort when the
// server runs without UDP.
func (s *Server) UDPAddr() netip.AddrPort { return s.sess.UDPAddr() }

// TickRate is the server's simulation rate in ticks per second.
func (s *Server) TickRate() int { return s.cfg.TickRate }

// Stats returns the server's counters. Main thread.
func (s *Server) Stats() Stats {
	st := s.stats
	ss := s.sess.Stats()
	st.Players, st.Conns, st.UDPClients = len(s.players), ss.Conns, ss.UDPBound
	st.UDPRejected, st.Rejects, st.Drops = ss.BadDatagrams, ss.Refused, ss.Drops
	st.LogsSuppressed += ss.LogSuppressed
	return st
}

// Players appends the state of every player to dst, by increasing id, and
// returns it. Main thread.
func (s *Server) Players(dst []game.PlayerState) []game.PlayerState {
	return s.world.Players(dst)
}

// Tick returns the number of simulation ticks run so far. Main thread.
func (s *Server) Tick() uint32 { return s.world.CurrentTick() }

// start runs when the reactor runs: it arms the tick and the stats line.
func (s *Server) start() {
	if s.started || s.closing {
		return
	}
	s.started = true
	now := s.r.Now()
	s.nextTick = now.Add(s.dt)
	s.lastStatAt, s.lastCore = now, s.r.Stats()
	s.tickTimer, _ = s.r.CallLater(s.dt, s.tickFn)
	if s.cfg.StatsInterval > 0 {
		s.statsTimer, _ = s.r.CallLater(s.cfg.StatsInterval, s.statsFn)
	}
}

// accept is session.ServerConfig.Accept: it refuses a bad name, a name in
// use, or a full world, else adds the player to the world.
func (s *Server) accept(p *session.Peer, hello []byte) error {
	name := string(hello)
	reason, key := checkName(name)
	if reason != "" {
		return errors.New(reason)
	}
	if s.names[key] != nil {
		return errors.New("name in use: too like a connected player's name")
	}
	id := uint16(p.ID())
	if err := s.world.Join(id); err != nil {
		return errors.New("server full")
	}
	pl := &player{p: p, id: id, name: name, nameKey: key}
	p.Data = pl
	s.names[key] = pl
	i, _ := slices.BinarySearchFunc(s.players, id, func(q *player, id uint16) int { return int(q.id) - int(id) })
	s.players = slices.Insert(s.players, i, pl)
	return nil
}

// joined is session.ServerConfig.OnJoin: the newcomer learns everybody's
// name, and everybody the newcomer's.
func (s *Server) joined(p *session.Peer) {
	pl := p.Data.(*player)
	pl.addr = p.Addr().String() // set once welcomed
	pl.inputs = newInputLimit(&s.cfg, s.r.Now())
	s.stats.Joins++
	s.sendNames(p)
	info := game.AppendPlayerInfo(s.sess.Begin(byte(game.MsgPlayerInfo))[:0], game.PlayerInfo{ID: pl.id, Name: pl.name})
	for _, q := range s.players {
		if q != pl {
			_ = q.p.Send(info)
		}
	}
	s.peerLog(slog.LevelInfo, "join", "player", pl.id, "name", pl.name, "addr", pl.addr)
}

// detached is session.ServerConfig.OnDetach: the player's connection
// ended without a goodbye. A connection the client closed (a process that
// exited, a tab closed: nothing to come back) ends the player at once, as
// if it had quit; one that broke (reset, silence) keeps the player, still
// in the world, for Config.Grace.
func (s *Server) detached(p *session.Peer, err error) {
	pl := p.Data.(*player)
	pl.lost = err
	if errors.Is(err, core.ErrConnectionDone) || errors.Is(err, io.EOF) {
		pl.closed = true
		p.Kick("connection closed without a goodbye") // OnLeave: left
		return
	}
	s.peerLog(slog.LevelInfo, "detach", "player", pl.id, "name", pl.name, "addr", pl.addr, "grace", s.cfg.Grace, "detail", err.Error())
}

// resumed is session.ServerConfig.OnResume: the client is back within the
// grace period, with the same player; it is told everybody's name again
// (it may have missed changes while away).
func (s *Server) resumed(p *session.Peer) {
	pl := p.Data.(*player)
	pl.addr, pl.backedUp, pl.lost = p.Addr().String(), time.Time{}, nil
	s.sendNames(p)
	s.peerLog(slog.LevelInfo, "resume", "player", pl.id, "name", pl.name, "addr", pl.addr, "resumes", p.Resumes())
}

// sendNames sends p a PlayerInfo for every player, p's own included.
func (s *Server) sendNames(p *session.Peer) {
	for _, q := range s.players {
		_ = p.Send(game.AppendPlayerInfo(s.sess.Begin(byte(game.MsgPlayerInfo))[:0], game.PlayerInfo{ID: q.id, Name: q.name}))
	}
}

// left is session.ServerConfig.OnLeave: the player leaves the world, the
// others are told, and the leave is logged with its reason.
func (s *Server) left(p *session.Peer, err error) {
	pl, ok := p.Data.(*player)
	if !ok {
		return
	}
	if s.names[pl.nameKey] == pl {
		delete(s.names, pl.nameKey)
	}
	s.world.Remove(pl.id)
	if i := slices.Index(s.players, pl); i >= 0 {
		s.players = slices.Delete(s.players, i, i+1)
	}
	s.stats.Leaves++
	if !s.closing {
		left := game.AppendPlayerLeft(s.sess.Begin(byte(game.MsgPlayerLeft))[:0], game.PlayerLeft{ID: pl.id})
		for _, q := range s.players {
			_ = q.p.Send(left)
		}
	}
	switch {
	case pl.closed:
		err = pl.lost
	case pl.lost != nil && errors.Is(err, session.ErrGraceExpired):
		err = fmt.Errorf("%w, not resumed within %v", pl.lost, s.cfg.Grace)
	}
	reason := classify(pl, err)
	if reason == ReasonSlow && !pl.slow {
		s.stats.SlowDrops++ // not reading (session.ErrNotReading); checkBackpressure counts its own
	}
	attrs := []any{"player", pl.id, "name", pl.name, "addr", pl.addr, "reason", reason}
	level := slog.LevelInfo
	if reason == ReasonTimeout || reason == ReasonError || reason == ReasonSlow {
		attrs = append(attrs, "detail", detail(err))
	}
	if reason == ReasonError || reason == ReasonSlow {
		level = slog.LevelWarn
	}
	s.peerLog(level, "leave", attrs...)
}

// classify turns the reason a session ended into a leave reason.
func classify(pl *player, err error) string {
	switch {
	case pl.slow, errors.Is(err, session.ErrNotReading):
		return ReasonSlow
	case errors.Is(err, session.ErrQuit):
		return ReasonQuit
	case errors.Is(err, session.ErrServerShutdown), errors.Is(err, core.ErrShutdown):
		return ReasonShutdown
	case errors.Is(err, core.ErrTimeout), errors.Is(err, session.ErrGraceExpired):
		return ReasonTimeout
	case errors.Is(err, core.ErrConnectionDone):
		return ReasonClosed
	}
	return ReasonError
}

// detail is the detail attribute of a leave line.
func detail(err error) string {
	var bye *session.ByeError
	if errors.As(err, &bye) && bye.Text != "" {
		return bye.Reason.String() + ": " + bye.Text
	}
	return err.Error()
}

// input handles an Input message (see handleInput); an error kicks the
// client, with the error's text without core's prefix.
func (s *Server) input(p *session.Peer, payload []byte) error {
	if err := s.handleInput(p, payload); err != nil {
		return kickError{err}
	}
	return nil
}

// kickError is an error whose text is what a kicked client is told: its
// cause's, without core's "bad input from peer" prefix. It unwraps to its
// cause, so errors.Is(err, ErrFlood) and errors.Is(err, core.ErrBadInput)
// hold.
type kickError struct{ err error }

func (e kickError) Error() string { return kickText(e.err) }
func (e kickError) Unwrap() error { return e.err }

// handleInput judges an Input message (see inputLimit) and queues it in
// the world.
func (s *Server) handleInput(p *session.Peer, payload []byte) error {
	pl := p.Data.(*player)
	in, err := game.DecodeInput(payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if in.PlayerID != pl.id {
		return fmt.Errorf("%w: input for player %d from player %d: %w", ErrProtocol, in.PlayerID, pl.id, game.ErrWrongPlayer)
	}
	apply, err := pl.inputs.check(&s.cfg, in, s.r.Now())
	if err != nil {
		return err
	}
	if !apply {
		s.stats.InputsDropped++
		return nil
	}
	switch err := s.world.Apply(pl.id, in); err {
	case nil:
		s.stats.InputsApplied++
	case game.ErrInputQueueFull:
		s.stats.InputsDropped++
	case game.ErrStaleInput:
		s.stats.InputsStale++
	default:
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return nil
}

// tick runs the simulation on the reactor's clock: every tick due since the
// last callback (at most maxCatchUp), then one snapshot per client, then it
// schedules itself for the next tick boundary, so ticks do not drift.
func (s *Server) tick() {
	s.tickTimer = nil
	if s.closing {
		return
	}
	began := time.Now()
	now := s.r.Now()
	ran := 0
	for !s.nextTick.After(now) {
		if ran == maxCatchUp {
			behind := now.Sub(s.nextTick)/s.dt + 1
			s.stats.TicksSkipped += uint64(behind)
			s.nextTick = s.nextTick.Add(behind * s.dt)
			break
		}
		s.world.Tick()
		s.nextTick = s.nextTick.Add(s.dt)
		ran++
	}
	if ran > 0 {
		s.stats.Ticks += uint64(ran)
		s.stats.TicksLate += uint64(ran - 1)
		s.checkBackpressure(now)
		s.sendSnapshots()
		took := time.Since(began)
		if len(s.tickTimes) < 4096 {
			s.tickTimes = append(s.tickTimes, took)
		}
		if s.cfg.TickObserver != nil {
			s.cfg.TickObserver(took)
		}
	}
	s.reportSuppressed(now, false)
	s.tickTimer, _ = s.r.CallLater(s.nextTick.Sub(s.r.Now()), s.tickFn)
}

// sendSnapshots sends the current world to every connected player: over UDP
// to those bound, over TCP to the others (skipping clients that are backed
// up, see checkBackpressure). The players are gathered once; only LastInput
// differs per client.
func (s *Server) sendSnapshots() {
	s.states = s.world.Players(s.states[:0])
	tick := s.world.CurrentTick()
	for _, pl := range s.players {
		p := pl.p
		if !p.Connected() {
			continue
		}
		viaUDP := p.UDPBound()
		if !viaUDP && !pl.backedUp.IsZero() {
			s.stats.SnapshotsSkipped++ // superseded next tick anyway
			continue
		}
		snap := game.Snapshot{Tick: tick, LastInput: s.world.LastInput(pl.id), Players: s.states}
		for first := true; first || len(snap.Players) > 0; first = false {
			var n int
			s.snap, n = game.AppendSnapshot(s.snap[:0], snap)
			switch {
			case viaUDP:
				if p.SendUnreliable(s.snap) != nil {
					s.stats.UDPDropped++
				} else {
					s.stats.SnapshotsUDP++
				}
			default:
				_ = p.Send(s.snap)
				s.stats.SnapshotsTCP++
			}
			if n == 0 {
				break // cannot happen: at least 148 players fit
			}
			snap.Players = snap.Players[n:]
		}
	}
}

// logStats logs the stats line and re-arms itself.
func (s *Server) logStats() {
	s.statsTimer = nil
	if s.closing {
		return
	}
	now := s.r.Now()
	cs := s.r.Stats()
	secs := now.Sub(s.lastStatAt).Seconds()
	var inBps, outBps float64
	if secs > 0 {
		inBps = float64(cs.BytesIn-s.lastCore.BytesIn) / secs
		outBps = float64(cs.BytesOut-s.lastCore.BytesOut) / secs
	}
	p50, p99 := s.tickPercentiles()
	st := s.Stats()
	s.log.Info("stats",
		"players", st.Players,
		"conns", st.Conns,
		"tick_p50_ms", ms(p50),
		"tick_p99_ms", ms(p99),
		"in_bps", math.Round(inBps),
		"out_bps", math.Round(outBps),
		"udp_clients", st.UDPClients,
		"inputs_dropped", st.InputsDropped,
		"snapshots_skipped", st.SnapshotsSkipped,
		"slow_drops", st.SlowDrops,
		"logs_suppressed", st.LogsSuppressed,
	)
	s.lastStatAt, s.lastCore = now, cs
	s.tickTimes = s.tickTimes[:0]
	s.statsTimer, _ = s.r.CallLater(s.cfg.StatsInterval, s.statsFn)
}

// tickPercentiles returns the 50th and 99th percentiles of the tick
// durations since the last stats line.
func (s *Server) tickPercentiles() (p50, p99 time.Duration) {
	if len(s.tickTimes) == 0 {
		return 0, 0
	}
	s.sorted = append(s.sorted[:0], s.tickTimes...)
	slices.Sort(s.sorted)
	return Percentile(s.sorted, 0.50), Percentile(s.sorted, 0.99)
}

// Percentile returns the p-quantile (0 ≤ p ≤ 1) of sorted durations, by the
// nearest-rank method; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}

// Shutdown stops the server: it stops listening and ticking, and ends
// every session (session.Server.LoseAll: a Bye saying the server shuts
// down, then the connection closes once what is queued is sent), and
// returns a channel closed when every connection is gone. Connections still
// open Config.Linger later are aborted, so the channel is always closed in
// bounded time. Calling it again returns the same channel.
// The server's Before-shutdown trigger calls it. Main thread.
func (s *Server) Shutdown() <-chan struct{} {
	if s.closing {
		return s.closedCh
	}
	s.closing = true
	for _, t := range []**core.DelayedCall{&s.tickTimer, &s.statsTimer} {
		if *t != nil {
			_ = (*t).Cancel()
			*t = nil
		}
	}
	s.reportSuppressed(s.r.Now(), true)
	st := s.sess.Stats()
	s.log.Info("shutting down", "players", len(s.players), "conns", st.Conns)
	s.closedCh = s.sess.LoseAll(shutdownReason)
	return s.closedCh
}

// shutdownReason is what clients are told when the server stops.
const shutdownReason = "server shutting down"

// kickText is the text of a kick for err, without core's prefix.
func kickText(err error) string {
	return strings.TrimPrefix(err.Error(), core.ErrBadInput.Error()+": ")
}

// Kick ends player id's session: its client is told reason (and does not
// reconnect), and the leave is logged with reason=error. It reports whether
// there was such a player. Main thread.
func (s *Server) Kick(id uint16, reason string) bool {
	p := s.sess.Peer(uint32(id))
	if p == nil {
		return false
	}
	p.Kick(reason)
	return true
}
