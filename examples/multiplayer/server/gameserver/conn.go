package gameserver

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// connState is where a connection is in its life.
type connState uint8

const (
	stateHandshake connState = iota // waiting for Hello
	statePlaying                    // joined: has a player in the world
	stateClosing                    // leaving: every further message is ignored
)

// conn is one client connection: a framing.Handler on the main thread.
type conn struct {
	s     *Server
	t     core.Transport
	addr  string     // remote address, for logs
	ip    netip.Addr // remote IP, which a UDPBind must come from
	state connState

	since    time.Time // accepted
	lastRecv time.Time // last message received

	// Set once joined.
	id     uint16
	name   string
	token  [16]byte
	joined bool
	left   bool

	udpAddr netip.AddrPort // bound by a valid UDPBind; invalid: none

	inputs     *game.TokenBucket
	pings      *game.TokenBucket
	floodStart time.Time // start of the current one-second flood window
	floodDrops int       // inputs dropped in it
	backedUp   time.Time // since when snapshots are skipped; zero: not

	leaveReason string // why we are closing it, when we decided to
	rejected    bool   // a Reject was sent and logged
	closed      bool   // ConnectionLost was called
}

// ConnectionMade implements framing.Handler.
func (c *conn) ConnectionMade(t core.Transport) {
	c.t = t
	c.since = c.s.r.Now()
	c.lastRecv = c.since
	c.s.conns[c] = struct{}{}
}

// MessageReceived implements framing.Handler. A connection that has not
// joined is aborted on bad input (the error returned makes framing.Protocol
// do that; ConnectionLost logs it); a player is dismissed with a Reject
// saying why.
func (c *conn) MessageReceived(payload []byte) error {
	err := c.message(payload)
	if err != nil && c.joined {
		c.dismiss(ReasonError, err)
		return nil
	}
	return err
}

// message handles one message; an error means the client must go.
func (c *conn) message(payload []byte) error {
	s := c.s
	now := s.r.Now()
	c.lastRecv = now
	if c.state == stateClosing {
		return nil
	}
	t, err := game.PeekType(payload)
	if err != nil {
		return badMessage(err)
	}
	if c.state == stateHandshake {
		if t != game.MsgHello {
			if _, err := game.Decode(payload); err != nil {
				return badMessage(err) // say what is wrong with it
			}
			return fmt.Errorf("%w: %v before Hello", ErrProtocol, t)
		}
		m, err := game.Decode(payload)
		if err != nil {
			return badMessage(err)
		}
		s.join(c, m.(game.Hello))
		return nil
	}
	switch t {
	case game.MsgInput:
		in, err := game.DecodeInput(payload)
		if err != nil {
			return badMessage(err)
		}
		return c.input(in, now)
	case game.MsgPing:
		m, err := game.Decode(payload)
		if err != nil {
			return badMessage(err)
		}
		if !c.pings.Allow(now) {
			return fmt.Errorf("%w: pings above %v per second", ErrFlood, s.cfg.PingRate)
		}
		_, _ = c.t.Write(s.frameMsg(game.AppendPong(s.msg[:0], game.Pong(m.(game.Ping)))))
		return nil
	case game.MsgGoodbye:
		if _, err := game.Decode(payload); err != nil {
			return badMessage(err)
		}
		c.leaveReason = ReasonQuit
		s.leave(c, ReasonQuit, nil)
		c.closeAfterFlush()
		return nil
	}
	if _, err := game.Decode(payload); err != nil {
		return badMessage(err) // unknown type, or a known one that is malformed
	}
	return fmt.Errorf("%w: unexpected %v", ErrProtocol, t)
}

// badMessage wraps a decoding error (which matches game.ErrMalformed) as a
// protocol violation.
func badMessage(err error) error {
	return fmt.Errorf("%w: %w", ErrProtocol, err)
}

// input applies the rate limit and queues in in the world.
func (c *conn) input(in game.Input, now time.Time) error {
	s := c.s
	if in.PlayerID != c.id {
		return fmt.Errorf("%w: input for player %d from player %d: %w", ErrProtocol, in.PlayerID, c.id, game.ErrWrongPlayer)
	}
	if !c.inputs.Allow(now) {
		return c.dropInput(now)
	}
	switch err := s.world.Apply(c.id, in); err {
	case nil:
		s.stats.InputsApplied++
	case game.ErrInputQueueFull:
		return c.dropInput(now)
	case game.ErrStaleInput:
		s.stats.InputsStale++
	default:
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return nil
}

// dropInput counts an input over the limit and reports a flood when the
// client has more than FloodTolerance dropped within a second.
func (c *conn) dropInput(now time.Time) error {
	s := c.s
	s.stats.InputsDropped++
	if now.Sub(c.floodStart) >= time.Second {
		c.floodStart, c.floodDrops = now, 0
	}
	c.floodDrops++
	if c.floodDrops > s.cfg.FloodTolerance {
		return fmt.Errorf("%w: more than %d inputs over the limit of %v per second within 1s", ErrFlood, s.cfg.FloodTolerance, s.cfg.InputRate)
	}
	return nil
}

// dismiss disconnects a player politely: it leaves the world at once (and
// the leave is logged with reason and err), gets a Reject whose reason is
// err's text, and the connection closes once that is sent. A client that
// does not close its side within Config.Linger is aborted.
func (c *conn) dismiss(reason string, err error) {
	s := c.s
	if c.state == stateClosing {
		return
	}
	c.leaveReason = reason
	s.leave(c, reason, err)
	c.state = stateClosing
	why := strings.TrimPrefix(err.Error(), core.ErrBadInput.Error()+": ")
	_, _ = c.t.Write(s.frameMsg(game.AppendReject(s.msg[:0], game.Reject{Reason: "kicked: " + why})))
	c.closeAfterFlush()
}

// closeAfterFlush closes the connection once what is queued is sent, and
// ignores whatever the client sends meanwhile. core bounds the whole close
// by the linger time (WithLinger: Config.Linger): a client that stops
// reading is aborted with core.ErrTimeout.
func (c *conn) closeAfterFlush() {
	c.state = stateClosing
	_ = c.t.LoseConnection()
}

// kick disconnects the client at once (the connection is aborted) and
// records why; ConnectionLost logs it.
func (c *conn) kick(reason string, err error) {
	if c.leaveReason == "" {
		c.leaveReason = reason
	}
	c.state = stateClosing
	_ = c.t.AbortWithError(err)
}

// ConnectionLost implements framing.Handler.
func (c *conn) ConnectionLost(reason error) {
	s := c.s
	c.closed = true
	delete(s.conns, c)
	defer s.checkClosed()
	why := c.leaveReason
	if why == "" {
		why = classify(reason)
	}
	if c.joined {
		s.leave(c, why, reason)
		return
	}
	if c.rejected || why == ReasonShutdown {
		return
	}
	if errors.Is(reason, core.ErrConnectionDone) {
		reason = fmt.Errorf("closed before Hello: %w", reason)
	}
	s.logDrop(c.addr, why, reason)
}

// classify turns the reason a connection was lost into a leave reason.
func classify(reason error) string {
	switch {
	case errors.Is(reason, core.ErrShutdown):
		return ReasonShutdown
	case errors.Is(reason, core.ErrTimeout):
		return ReasonTimeout
	}
	return ReasonError
}

// join handles a Hello: it rejects a wrong version or a full server, else
// adds the player, welcomes it and introduces everybody.
func (s *Server) join(c *conn, h game.Hello) {
	if h.Version != game.ProtocolVersion {
		s.reject(c, fmt.Sprintf("protocol version %d, server speaks %d", h.Version, game.ProtocolVersion))
		return
	}
	id, err := s.world.Add()
	if err != nil {
		s.reject(c, "server full")
		return
	}
	c.id, c.name, c.joined, c.state = id, h.Name, true, statePlaying
	_, _ = rand.Read(c.token[:]) // never fails (crypto/rand)
	c.inputs = game.NewTokenBucket(s.cfg.InputRate, s.cfg.InputBurst)
	c.pings = game.NewTokenBucket(s.cfg.PingRate, 8)
	i, _ := slices.BinarySearchFunc(s.players, id, func(p *conn, id uint16) int { return int(p.id) - int(id) })
	s.players = slices.Insert(s.players, i, c)
	s.stats.Joins++

	// Welcome and everybody's PlayerInfo, in one write.
	out := s.frame[:0]
	out = appendFrame(out, game.AppendWelcome(s.msg[:0], game.Welcome{
		PlayerID: id, Token: c.token, TickRate: uint8(s.cfg.TickRate),
		ArenaW: game.ArenaW, ArenaH: game.ArenaH,
	}))
	for _, p := range s.players {
		out = appendFrame(out, game.AppendPlayerInfo(s.msg[:0], game.PlayerInfo{ID: p.id, Name: p.name}))
	}
	_, _ = c.t.Write(out)
	s.frame = out[:0]
	// The newcomer to everybody else.
	info := s.frameMsg(game.AppendPlayerInfo(s.msg[:0], game.PlayerInfo{ID: id, Name: h.Name}))
	for _, p := range s.players {
		if p != c && p.state == statePlaying {
			_, _ = p.t.Write(info)
		}
	}
	s.log.Info("join", "player", id, "name", h.Name, "addr", c.addr)
}

// appendFrame appends payload to dst as one frame.
func appendFrame(dst, payload []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	return append(dst, payload...)
}

// reject refuses a Hello with a Reject message and closes the connection
// once it is sent.
func (s *Server) reject(c *conn, reason string) {
	s.stats.Rejects++
	c.rejected = true
	_, _ = c.t.Write(s.frameMsg(game.AppendReject(s.msg[:0], game.Reject{Reason: reason})))
	c.closeAfterFlush()
	s.log.Info("reject", "addr", c.addr, "reason", reason)
}

// leave removes a joined player from the world, tells the others and logs
// it, once.
func (s *Server) leave(c *conn, reason string, err error) {
	if !c.joined || c.left {
		return
	}
	c.left = true
	c.udpAddr = netip.AddrPort{}
	s.world.Remove(c.id)
	if i := slices.Index(s.players, c); i >= 0 {
		s.players = slices.Delete(s.players, i, i+1)
	}
	s.stats.Leaves++
	if !s.closing {
		left := s.frameMsg(game.AppendPlayerLeft(s.msg[:0], game.PlayerLeft{ID: c.id}))
		for _, p := range s.players {
			if p.state == statePlaying {
				_, _ = p.t.Write(left)
			}
		}
	}
	attrs := []any{"player", c.id, "name", c.name, "addr", c.addr, "reason", reason}
	level := slog.LevelInfo
	if (reason == ReasonTimeout || reason == ReasonError) && err != nil {
		attrs = append(attrs, "detail", err.Error())
	}
	if reason == ReasonError {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "leave", attrs...)
}

// udpProtocol receives the server's datagrams: only UDPBinds are expected.
type udpProtocol struct{ s *Server }

// DatagramReceived implements core.DatagramProtocol. It binds the source
// address to a player when the datagram is one valid framed UDPBind with
// that player's token, from that player's IP address, and ignores anything
// else without answering.
func (u udpProtocol) DatagramReceived(data []byte, from netip.AddrPort) {
	s := u.s
	n, k := binary.Uvarint(data)
	if k <= 0 || n != uint64(len(data)-k) {
		s.stats.UDPRejected++
		return
	}
	payload := data[k:]
	if t, err := game.PeekType(payload); err != nil || t != game.MsgUDPBind {
		s.stats.UDPRejected++
		return
	}
	m, err := game.Decode(payload)
	if err != nil {
		s.stats.UDPRejected++
		return
	}
	b := m.(game.UDPBind)
	c := s.playerByID(b.PlayerID)
	if c == nil || c.state != statePlaying ||
		subtle.ConstantTimeCompare(c.token[:], b.Token[:]) != 1 ||
		c.ip != from.Addr().Unmap() {
		s.stats.UDPRejected++
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if c.udpAddr != from {
		c.udpAddr = from
		s.stats.UDPBinds++
		s.log.Debug("udp bound", "player", c.id, "udp", from.String())
	}
}
