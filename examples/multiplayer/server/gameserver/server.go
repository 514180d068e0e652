package gameserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// Reasons a client is disconnected. Each matches core.ErrBadInput or
// core.ErrTimeout as well, so errors.Is works with either.
var (
	// ErrProtocol: a message that is malformed, of an unknown type, or not
	// expected in the connection's state (say an Input before Hello).
	ErrProtocol = fmt.Errorf("%w: protocol violation", core.ErrBadInput)
	// ErrFlood: inputs or pings beyond the rate limit (see Config).
	ErrFlood = fmt.Errorf("%w: flood", core.ErrBadInput)
	// ErrHandshakeTimeout: no Hello within Config.HandshakeTimeout.
	ErrHandshakeTimeout = fmt.Errorf("%w: no hello", core.ErrTimeout)
	// ErrIdleTimeout: nothing received within Config.IdleTimeout.
	ErrIdleTimeout = fmt.Errorf("%w: idle", core.ErrTimeout)
	// ErrSlowClient: the client did not read what it was sent for
	// Config.SlowClientTimeout, or let far too much pile up.
	ErrSlowClient = errors.New("gameserver: client not reading")
	// ErrTooManyConns: refused at accept, Config.MaxConns are open.
	ErrTooManyConns = errors.New("gameserver: too many connections")
	// ErrShuttingDown: refused at accept, the server is shutting down.
	ErrShuttingDown = errors.New("gameserver: shutting down")
)

// The leave reasons of the msg=leave log line.
const (
	ReasonQuit     = "quit"
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

	UDPBinds    uint64 // valid UDPBinds that bound a new address
	UDPRejected uint64 // datagrams ignored: not a valid UDPBind

	Joins, Leaves, Rejects, Drops uint64
	SlowDrops                     uint64 // players dropped with reason=slow
	LogsSuppressed                uint64 // peer log lines not logged (Config.PeerLogRate)
}

// Server is the authoritative game server: it owns a game.World, ticks it at
// a fixed rate, and talks to clients over TCP and UDP. See the package
// documentation for the protocol and the limits.
type Server struct {
	r     *core.Reactor
	cfg   Config
	log   *slog.Logger
	world *game.World
	dt    time.Duration

	port *core.Port
	udp  *core.UDPPort

	conns   map[*conn]struct{}        // every open connection
	players []*conn                   // joined players, by increasing id
	addrs   map[netip.Prefix]*addrUse // per-address counts (addrlimit.go)
	names   map[string]*conn          // players by name key (names.go)

	started    bool
	closing    bool
	closedCh   chan struct{} // closed when Shutdown has closed every connection
	nextTick   time.Time
	tickTimer  *core.DelayedCall
	sweepTimer *core.DelayedCall
	statsTimer *core.DelayedCall
	tickFn     func()
	sweepFn    func()
	statsFn    func()

	// Buffers reused on every tick and message (one main thread, so one
	// set is enough).
	states []game.PlayerState
	snap   []byte // snapshot frame: payload at snapHead, prefix just before
	msg    []byte // payload of a control message
	frame  []byte // framed control message(s)
	kicks  []slowKick

	plog peerLog

	stats      Stats
	tickTimes  []time.Duration // tick durations since the last stats line
	sorted     []time.Duration
	lastCore   core.Stats
	lastStatAt time.Time

	epoch      time.Time // the server's Pings carry the time since then
	lastPingAt time.Time // when the players were last pinged
}

// maxUnread bounds what core reads from one connection ahead of the main
// thread (its default is 1 MiB): a client sends a few hundred bytes a
// second, so 64 KiB is plenty, and a flooding client is pushed back by TCP
// instead of costing the server memory.
const maxUnread = 64 << 10

// snapHead is where a snapshot payload starts in Server.snap: room for its
// length prefix (at most 2 bytes for MaxSnapshotBytes) in front.
const snapHead = binary.MaxVarintLen16

// New makes a server on r and starts listening: TCP on cfg.Addr and, unless
// disabled, UDP on the same host and port number (if that UDP port cannot be
// had, the server logs it and runs without UDP). The simulation starts when
// the reactor runs, and the server registers a Before-shutdown trigger that
// calls Shutdown, so stopping the reactor says goodbye to every client.
// Call it on r's main thread, or before r starts.
func New(r *core.Reactor, cfg Config) (*Server, error) {
	s, err := newServer(r, cfg)
	if err != nil {
		return nil, err
	}
	opts := s.connOptions()
	if s.cfg.TLS != nil {
		s.port, err = r.ListenTLS(s.cfg.Addr, s.cfg.TLS, core.FactoryFunc(s.buildProtocol), opts...)
	} else {
		s.port, err = r.ListenTCP(s.cfg.Addr, core.FactoryFunc(s.buildProtocol), opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("gameserver: listen: %w", err)
	}
	if !s.cfg.DisableUDP {
		udpAddr := s.port.Addr().String()
		s.udp, err = r.ListenUDP(udpAddr, udpProtocol{s})
		if err != nil {
			s.log.Warn("udp unavailable, snapshots go over tcp", "addr", udpAddr, "err", err)
			s.udp = nil
		}
	}
	fail := func(err error) (*Server, error) {
		_ = s.port.StopListening()
		s.closeUDP()
		return nil, fmt.Errorf("gameserver: %w", err)
	}
	if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, s.Shutdown); err != nil {
		return fail(err)
	}
	if _, err := r.CallWhenRunning(s.start); err != nil {
		return fail(err)
	}
	attrs := []any{"addr", s.port.Addr().String(), "tick", s.cfg.TickRate, "max_players", s.cfg.MaxPlayers}
	if s.udp != nil {
		attrs = append(attrs, "udp", s.udp.LocalAddr().String())
	}
	s.log.Info("listening", attrs...)
	return s, nil
}

// newServer makes a server that is not listening yet (unit tests feed it
// connections themselves).
func newServer(r *core.Reactor, cfg Config) (*Server, error) {
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
		conns: make(map[*conn]struct{}),
		addrs: make(map[netip.Prefix]*addrUse),
		names: make(map[string]*conn),
		plog:  newPeerLog(cfg.PeerLogRate),
		snap:  make([]byte, snapHead+game.MaxSnapshotBytes),
		msg:   make([]byte, 0, 256),
		frame: make([]byte, 0, 1024),
	}
	s.tickFn, s.sweepFn, s.statsFn = s.tick, s.sweep, s.logStats
	s.epoch = r.Now()
	return s, nil
}

// Addr is the TCP address the server listens on (with the port picked when
// Config.Addr asked for port 0). Safe from any goroutine.
func (s *Server) Addr() net.Addr { return s.port.Addr() }

// UDPAddr is the address of the UDP port, or the zero AddrPort when the
// server runs without UDP.
func (s *Server) UDPAddr() netip.AddrPort {
	if s.udp == nil {
		return netip.AddrPort{}
	}
	return s.udp.LocalAddr()
}

// TickRate is the server's simulation rate in ticks per second.
func (s *Server) TickRate() int { return s.cfg.TickRate }

// Stats returns the server's counters. Main thread.
func (s *Server) Stats() Stats {
	st := s.stats
	st.Players, st.Conns = len(s.players), len(s.conns)
	for _, c := range s.players {
		if c.udpAddr.IsValid() {
			st.UDPClients++
		}
	}
	return st
}

// Players appends the state of every player to dst, by increasing id, and
// returns it. Main thread.
func (s *Server) Players(dst []game.PlayerState) []game.PlayerState {
	return s.world.Players(dst)
}

// Tick returns the number of simulation ticks run so far. Main thread.
func (s *Server) Tick() uint32 { return s.world.CurrentTick() }

// start runs when the reactor runs: it arms the tick, the sweep of
// deadlines and the stats line.
func (s *Server) start() {
	if s.started || s.closing {
		return
	}
	s.started = true
	now := s.r.Now()
	s.nextTick = now.Add(s.dt)
	s.lastStatAt, s.lastCore = now, s.r.Stats()
	s.tickTimer, _ = s.r.CallLater(s.dt, s.tickFn)
	s.sweepTimer, _ = s.r.CallLater(s.sweepInterval(), s.sweepFn)
	if s.cfg.StatsInterval > 0 {
		s.statsTimer, _ = s.r.CallLater(s.cfg.StatsInterval, s.statsFn)
	}
}

// sweepInterval is how often deadlines are checked: a tenth of the shorter
// one, between 10 and 250 ms.
func (s *Server) sweepInterval() time.Duration {
	d := min(s.cfg.HandshakeTimeout, s.cfg.IdleTimeout, s.cfg.SlowClientTimeout) / 10
	return min(max(d, 10*time.Millisecond), 250*time.Millisecond)
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
		s.sendSnapshots(now)
		took := time.Since(began)
		if len(s.tickTimes) < 4096 {
			s.tickTimes = append(s.tickTimes, took)
		}
		if s.cfg.TickObserver != nil {
			s.cfg.TickObserver(took)
		}
	}
	s.tickTimer, _ = s.r.CallLater(s.nextTick.Sub(s.r.Now()), s.tickFn)
}

// sendSnapshots sends the current world to every player: over UDP to those
// bound, over TCP to the others (skipping clients that are backed up, see
// checkBackpressure). The players are gathered once; only LastInput differs
// per client.
func (s *Server) sendSnapshots(now time.Time) {
	s.states = s.world.Players(s.states[:0])
	tick := s.world.CurrentTick()
	for _, c := range s.players {
		if c.state != statePlaying {
			continue
		}
		viaUDP := s.udp != nil && c.udpAddr.IsValid()
		if !viaUDP && !c.backedUp.IsZero() {
			s.stats.SnapshotsSkipped++ // superseded next tick anyway
			continue
		}
		snap := game.Snapshot{Tick: tick, LastInput: s.world.LastInput(c.id), Players: s.states}
		for first := true; first || len(snap.Players) > 0; first = false {
			frame, n := s.frameSnapshot(snap)
			if viaUDP {
				if err := s.udp.WriteTo(frame, c.udpAddr); err != nil {
					s.stats.UDPDropped++
				} else {
					s.stats.SnapshotsUDP++
				}
			} else {
				_, _ = c.t.Write(frame)
				s.stats.SnapshotsTCP++
			}
			if n == 0 {
				break // cannot happen: at least 148 players fit
			}
			snap.Players = snap.Players[n:]
		}
	}
}

// frameSnapshot encodes as many players of m as fit into s.snap, with the
// length prefix written just before the payload so that nothing is copied,
// and returns the frame and how many players it holds.
func (s *Server) frameSnapshot(m game.Snapshot) ([]byte, int) {
	payload, n := game.AppendSnapshot(s.snap[snapHead:snapHead], m)
	var pre [binary.MaxVarintLen16]byte
	k := binary.PutUvarint(pre[:], uint64(len(payload)))
	start := snapHead - k
	copy(s.snap[start:], pre[:k])
	return s.snap[start : snapHead+len(payload)], n
}

// sweep enforces the handshake and idle deadlines, and pings the players
// to see that they read (checkReading).
func (s *Server) sweep() {
	s.sweepTimer = nil
	if s.closing {
		return
	}
	now := s.r.Now()
	pingNow := now.Sub(s.lastPingAt) >= serverPingInterval
	for c := range s.conns { // deleting from a map while ranging is allowed
		switch c.state {
		case stateHandshake:
			if now.Sub(c.since) >= s.cfg.HandshakeTimeout {
				c.kick(ReasonTimeout, fmt.Errorf("%w within %v", ErrHandshakeTimeout, s.cfg.HandshakeTimeout))
			}
		case statePlaying:
			if now.Sub(c.lastRecv) >= s.cfg.IdleTimeout {
				c.dismiss(ReasonTimeout, fmt.Errorf("%w: nothing received for %v", ErrIdleTimeout, s.cfg.IdleTimeout))
			} else {
				s.checkReading(c, now, pingNow)
			}
		}
	}
	if pingNow {
		s.lastPingAt = now
	}
	s.reportSuppressed(now, false)
	s.sweepTimer, _ = s.r.CallLater(s.sweepInterval(), s.sweepFn)
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

// Shutdown stops the server: it stops listening and ticking, sends Shutdown
// to every player, closes every connection once what is queued is sent, and
// returns a channel closed when every connection is gone. Connections still
// open Config.Linger later are aborted, so the channel is always closed in
// bounded time. Calling it again returns the same channel.
// The server's Before-shutdown trigger calls it. Main thread.
func (s *Server) Shutdown() <-chan struct{} {
	if s.closing {
		return s.closedCh
	}
	s.closing = true
	s.closedCh = make(chan struct{})
	if s.port != nil {
		_ = s.port.StopListening()
	}
	s.closeUDP()
	for _, t := range []**core.DelayedCall{&s.tickTimer, &s.sweepTimer, &s.statsTimer} {
		if *t != nil {
			_ = (*t).Cancel()
			*t = nil
		}
	}
	s.reportSuppressed(s.r.Now(), true)
	s.log.Info("shutting down", "players", len(s.players), "conns", len(s.conns))
	shutdown := s.frameMsg(game.AppendShutdown(s.msg[:0], game.Shutdown{}))
	// Copy: losing a connection can call ConnectionLost right away, which
	// changes s.conns and s.players.
	all := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	for _, c := range all {
		if c.state == statePlaying {
			_, _ = c.t.Write(shutdown)
		}
		if c.leaveReason == "" {
			c.leaveReason = ReasonShutdown
		}
		c.closeAfterFlush()
	}
	s.checkClosed()
	return s.closedCh
}

// checkClosed closes the Shutdown channel once the last connection is gone.
func (s *Server) checkClosed() {
	if !s.closing || len(s.conns) > 0 || s.closedCh == nil {
		return
	}
	select {
	case <-s.closedCh:
		return
	default:
	}
	close(s.closedCh)
}

func (s *Server) closeUDP() {
	if s.udp != nil {
		_ = s.udp.Close()
	}
}

// frameMsg frames a control payload into s.frame and returns the frame,
// valid until the next call.
func (s *Server) frameMsg(payload []byte) []byte {
	s.frame = framing.Append(s.frame[:0], payload)
	return s.frame
}

// playerByID returns the joined player with that id, or nil.
func (s *Server) playerByID(id uint16) *conn {
	i, ok := slices.BinarySearchFunc(s.players, id, func(c *conn, id uint16) int { return int(c.id) - int(id) })
	if !ok {
		return nil
	}
	return s.players[i]
}

// logDrop logs the end of a connection that never joined, within the
// peer-log budget.
func (s *Server) logDrop(addr, reason string, err error) {
	s.stats.Drops++
	s.peerLog(slog.LevelWarn, "drop", "addr", addr, "reason", reason, "detail", err.Error())
}

// buildProtocol is the TCP factory: it refuses connections beyond MaxConns,
// beyond twice MaxConnsPerAddr from one address, or during shutdown, and
// frames the others for a conn (which refuses with a Reject those beyond
// MaxConnsPerAddr).
func (s *Server) buildProtocol(remote net.Addr) (core.Protocol, error) {
	addr := fmt.Sprint(remote)
	if s.closing {
		return nil, ErrShuttingDown
	}
	if len(s.conns) >= s.cfg.MaxConns {
		s.logDrop(addr, ReasonError, fmt.Errorf("%w: %d open", ErrTooManyConns, len(s.conns)))
		return nil, ErrTooManyConns
	}
	c := &conn{s: s, addr: addr}
	if ta, ok := remote.(*net.TCPAddr); ok {
		c.ip = ta.AddrPort().Addr().Unmap()
	}
	c.key, c.limited = addrKey(c.ip), s.limited(c.ip)
	refuse, err := s.admitConn(c)
	if err != nil {
		s.logDrop(addr, ReasonError, err)
		return nil, err
	}
	c.refuse = refuse
	return framing.NewProtocol(c, s.cfg.MaxMessage), nil
}
