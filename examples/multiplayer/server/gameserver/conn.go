package gameserver

import (
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

	key     netip.Prefix // the address, as the per-address limits count it
	limited bool         // the per-address limits apply
	refuse  string       // refused at accept: the Reject's reason

	since    time.Time // accepted
	lastRecv time.Time // last message received

	// Set once joined.
	id      uint16
	name    string
	nameKey string // see names.go
	token   [16]byte
	joined  bool
	left    bool

	udpAddr netip.AddrPort // bound by a valid UDPBind; invalid: none

	inputs   inputLimit
	pings    *game.TokenBucket
	backedUp time.Time // since when its unsent data is above the bound; zero: not

	// The server's Pings (slowclient.go): T of the newest sent and of the
	// newest answered, and when the latter was sent (or the join).
	pingedT, answeredT int64
	answeredAt         time.Time

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
	c.s.connOpened(c)
	if c.refuse != "" {
		c.s.reject(c, c.refuse)
	}
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
		s.hello(c, payload)
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
	case game.MsgPong:
		m, err := game.Decode(payload)
		if err != nil {
			return badMessage(err)
		}
		return c.pong(m.(game.Pong))
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

// input judges in (see inputLimit) and queues it in the world.
func (c *conn) input(in game.Input, now time.Time) error {
	s := c.s
	if in.PlayerID != c.id {
		return fmt.Errorf("%w: input for player %d from player %d: %w", ErrProtocol, in.PlayerID, c.id, game.ErrWrongPlayer)
	}
	apply, err := c.inputs.check(&s.cfg, in, now)
	if err != nil {
		return err
	}
	if !apply {
		s.stats.InputsDropped++
		return nil
	}
	switch err := s.world.Apply(c.id, in); err {
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
	s.connClosed(c)
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

// hello handles a Hello payload: every Hello gets an answer, a Reject that
// says why (another protocol version, a malformed Hello, a refused name, a
// full server, too many players from the address) or a Welcome.
func (s *Server) hello(c *conn, payload []byte) {
	// The version first: another version's Hello may be laid out
	// differently, or carry a version too big for this one's.
	v, err := game.HelloVersion(payload)
	switch {
	case err != nil:
		s.reject(c, "malformed hello: "+err.Error())
		return
	case v != game.ProtocolVersion:
		s.reject(c, fmt.Sprintf("protocol version %d, server speaks %d", v, game.ProtocolVersion))
		return
	}
	m, err := game.Decode(payload)
	if de := (*game.DecodeError)(nil); errors.As(err, &de) && de.Field == "name" {
		if name, ok := helloName(payload); ok {
			if reason, _ := checkName(name); reason != "" {
				s.reject(c, reason)
				return
			}
		}
	}
	if err != nil {
		s.reject(c, "malformed hello: "+err.Error())
		return
	}
	s.join(c, m.(game.Hello))
}

// helloName returns the name of a Hello that Decode refused for its name,
// if the name is all there, for checkName to say what is wrong with it.
func helloName(payload []byte) (string, bool) {
	b := payload[1:]
	if _, k := binary.Uvarint(b); k > 0 {
		b = b[k:]
		if n, k := binary.Uvarint(b); k > 0 && n == uint64(len(b)-k) {
			return string(b[k:]), true
		}
	}
	return "", false
}

// join handles a valid Hello: it refuses a name (names.go), a full server
// or an address with too many players, else adds the player, welcomes it
// and introduces everybody.
func (s *Server) join(c *conn, h game.Hello) {
	reason, key := checkName(h.Name)
	if reason != "" {
		s.reject(c, reason)
		return
	}
	if other := s.names[key]; other != nil {
		s.reject(c, "name in use: too like a connected player's name")
		return
	}
	if reason := s.admitPlayer(c); reason != "" {
		s.reject(c, reason)
		return
	}
	id, err := s.world.Add()
	if err != nil {
		s.reject(c, "server full")
		return
	}
	c.id, c.name, c.nameKey, c.joined, c.state = id, h.Name, key, true, statePlaying
	s.names[key] = c
	s.playerJoined(c)
	_, _ = rand.Read(c.token[:]) // never fails (crypto/rand)
	c.inputs = newInputLimit(&s.cfg, s.r.Now())
	c.answeredAt = s.r.Now()
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
	s.peerLog(slog.LevelInfo, "join", "player", id, "name", h.Name, "addr", c.addr)
}

// appendFrame appends payload to dst as one frame.
func appendFrame(dst, payload []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	return append(dst, payload...)
}

// reject refuses a connection (at accept or at Hello) with a Reject
// message and closes the connection once it is sent.
func (s *Server) reject(c *conn, reason string) {
	s.stats.Rejects++
	c.rejected = true
	_, _ = c.t.Write(s.frameMsg(game.AppendReject(s.msg[:0], game.Reject{Reason: reason})))
	c.closeAfterFlush()
	s.peerLog(slog.LevelInfo, "reject", "addr", c.addr, "reason", reason)
}

// leave removes a joined player from the world, tells the others and logs
// it, once.
func (s *Server) leave(c *conn, reason string, err error) {
	if !c.joined || c.left {
		return
	}
	c.left = true
	c.udpAddr = netip.AddrPort{}
	if s.names[c.nameKey] == c {
		delete(s.names, c.nameKey)
	}
	s.playerLeft(c)
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
	if (reason == ReasonTimeout || reason == ReasonError || reason == ReasonSlow) && err != nil {
		attrs = append(attrs, "detail", err.Error())
	}
	if reason == ReasonError || reason == ReasonSlow {
		level = slog.LevelWarn
	}
	s.peerLog(level, "leave", attrs...)
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
		s.peerLog(slog.LevelDebug, "udp bound", "player", c.id, "udp", from.String())
	}
}
