package gameserver

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// Defaults of Config.
const (
	DefaultMaxConns          = 512
	DefaultMaxConnsPerAddr   = 16
	DefaultMaxPlayersPerAddr = 8
	DefaultMaxMessage        = 128 // bytes; the largest client message (the session's Hello) is about 100
	DefaultHandshakeTimeout  = 3 * time.Second
	DefaultIdleTimeout       = 10 * time.Second
	DefaultGrace             = 5 * time.Second
	DefaultSlowClientQueue   = 32 << 10
	DefaultSlowClientTimeout = 5 * time.Second
	DefaultSendBuffer        = 64 << 10
	DefaultLinger            = 2 * time.Second
	DefaultStatsInterval     = time.Second
	DefaultPeerLogRate       = 20 // lines per second, with a burst of 5 times that
)

// DefaultAddrLimitExempt are the addresses the per-address limits do not
// apply to by default: loopback, which no remote peer can send from (a
// server behind a proxy on the same host sees every player there, and
// per-address limits would be wrong for it anyway).
var DefaultAddrLimitExempt = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// Config configures a Server. The zero value of every field means its
// default.
type Config struct {
	// Addr is the TCP address to listen on, "host:port"; port 0 picks a free
	// one (see Server.Addr). Default "127.0.0.1:7777". The UDP port for
	// snapshots is opened on the same host and port number.
	Addr string
	// TickRate is the simulation rate, 1..255 ticks per second; default
	// game.DefaultTickRate.
	TickRate int
	// MaxPlayers is how many players may play at once; default
	// game.MaxPlayers. Beyond 148 a world snapshot no longer fits in one
	// message and goes out in several with the same tick.
	MaxPlayers int
	// MaxConns bounds the TCP connections open at once, joined or not;
	// connections beyond it are closed as soon as they are accepted.
	// Default DefaultMaxConns.
	MaxConns int
	// MaxConnsPerAddr bounds the connections open at once from one address
	// (an IPv4 address, or an IPv6 /64, which one host usually has whole);
	// default DefaultMaxConnsPerAddr. A client beyond it is refused (the
	// session package's Bye, saying so); beyond twice as many a connection
	// is closed as soon as it is accepted. MaxPlayersPerAddr bounds the
	// players from one address; a Hello beyond is refused too. Default
	// DefaultMaxPlayersPerAddr. Both keep room for everybody else when one
	// address takes all it can.
	MaxConnsPerAddr   int
	MaxPlayersPerAddr int
	// AddrLimitExempt lists the addresses MaxConnsPerAddr and
	// MaxPlayersPerAddr do not apply to. nil means DefaultAddrLimitExempt;
	// an empty, non-nil slice exempts nobody.
	AddrLimitExempt []netip.Prefix
	// MaxMessage is the largest message payload, in bytes, a client may
	// send; a longer frame disconnects it. Default DefaultMaxMessage.
	MaxMessage int
	// HandshakeTimeout is how long a new connection has to send Hello.
	HandshakeTimeout time.Duration
	// IdleTimeout is how long a player may send nothing (not even its
	// client's keepalive Ping) before its connection is dropped; the
	// player then waits Grace to be resumed, and leaves with
	// reason=timeout if it is not.
	IdleTimeout time.Duration
	// InputRate is how many inputs per second of a client the world
	// applies (default 1.1 × TickRate: an honest client sends one per tick,
	// and its clock may run a little fast) and InputBurst how many more it
	// applies at once (default game.MaxQueuedInputs). Inputs beyond are
	// dropped, not applied; the client stays. See FloodTolerance for when a
	// client is disconnected.
	InputRate  float64
	InputBurst int
	// FloodTolerance is how far ahead of the server's clock a client's
	// inputs may claim to be before it is disconnected for a flood. Inputs
	// are numbered from 1 and an honest client sends at most one per tick,
	// so an input's sequence number can never exceed InputRate × the time
	// since the client joined; the tolerance is added to that bound.
	// Default TickRate (a second's worth). Inputs that arrive late in a
	// burst (the network or the server stalled) claim nothing they could
	// not have, so they never count against a client. Besides, a client may
	// send no more than InputRate inputs a second on average with a burst
	// of InputRate × IdleTimeout, enough for a stall as long as the idle
	// timeout (past that the client is dropped as idle anyway).
	FloodTolerance int
	// Grace is how long a player whose connection broke (reset, or silent
	// for IdleTimeout) keeps its id and its place in the world for its
	// client to come back to (session.ServerConfig.Grace): a client that
	// reconnects within it resumes the player (msg=resume), one that comes
	// later joins as a new player. A player that quit, was kicked, or whose
	// client closed its connection without a goodbye (a process that
	// exited, a browser tab closed) leaves at once. Default DefaultGrace;
	// negative: none, every player leaves as soon as its connection ends.
	Grace time.Duration
	// SlowClientQueue is how many bytes sent to a client over TCP may wait
	// unsent (the connection's queue in the process and, where the platform
	// tells, in the kernel) before its snapshots are skipped, and
	// SlowClientTimeout how long that may last before the client is
	// disconnected with reason=slow. It applies to every player, bound to
	// UDP or not: players joining and leaving, and pongs, go over TCP. A
	// queue in the process above 4 × SlowClientQueue disconnects at once, so
	// a client that never reads costs a bounded amount of memory whatever
	// happens around it. Defaults DefaultSlowClientQueue and
	// DefaultSlowClientTimeout.
	SlowClientQueue   int
	SlowClientTimeout time.Duration
	// SendBuffer is the kernel's send buffer of each connection (SO_SNDBUF),
	// which bounds what the kernel holds for a client that does not read;
	// default DefaultSendBuffer; negative: the system's default (on Linux
	// it grows up to several MiB per connection).
	SendBuffer int
	// Linger bounds how long closing a connection waits for the client to
	// close its side; default DefaultLinger. Shutdown aborts connections
	// still open after it.
	Linger time.Duration
	// DisableUDP turns the UDP port off: snapshots all go over TCP.
	DisableUDP bool
	// TLS, if set, makes the game port speak TLS (core.ListenTLS): clients
	// connect with netclient.TLS. The UDP port, if any, stays plain: its
	// snapshots hold what every player sees anyway, but whoever watches
	// the path can read a Bind's session token and take that player's
	// snapshots away from it (set DisableUDP where that matters).
	TLS *tls.Config
	// StatsInterval is how often the stats line is logged; negative: never.
	StatsInterval time.Duration
	// PeerLogRate bounds the log lines that remote peers can cause (join,
	// leave, reject, drop) to that many per second, with a burst of five
	// times as many; lines over it are counted, and a msg=suppressed line
	// says how many at most once a second. Negative: no bound. Default
	// DefaultPeerLogRate.
	PeerLogRate float64
	// Logger receives the server's logs; default slog.Default().
	Logger *slog.Logger
	// TickObserver, if set, is called on the main thread after every tick
	// callback with the time the simulation and the sending of snapshots
	// took (benchmarks collect these).
	TickObserver func(time.Duration)
	// ListenOptions are passed to core's ListenTCP, after the server's own
	// (core.WithLinger(Linger), core.WithMaxUnread(64 KiB) and the send
	// buffer).
	ListenOptions []core.ListenOption
}

// withDefaults returns c with every zero field set to its default, or an
// error wrapping core.ErrInvalidArgument for a value out of range.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:7777"
	}
	if c.TickRate == 0 {
		c.TickRate = game.DefaultTickRate
	}
	if c.TickRate < 1 || c.TickRate > 255 {
		return c, fmt.Errorf("%w: tick rate %d, want 1..255", core.ErrInvalidArgument, c.TickRate)
	}
	if c.MaxPlayers == 0 {
		c.MaxPlayers = game.MaxPlayers
	}
	if c.MaxPlayers < 1 || c.MaxPlayers > 65534 {
		return c, fmt.Errorf("%w: max players %d, want 1..65534", core.ErrInvalidArgument, c.MaxPlayers)
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConns < 1 {
		return c, fmt.Errorf("%w: max connections %d", core.ErrInvalidArgument, c.MaxConns)
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if c.MaxPlayersPerAddr == 0 {
		c.MaxPlayersPerAddr = DefaultMaxPlayersPerAddr
	}
	if c.MaxConnsPerAddr < 1 || c.MaxPlayersPerAddr < 1 {
		return c, fmt.Errorf("%w: per-address limits %d connections, %d players", core.ErrInvalidArgument, c.MaxConnsPerAddr, c.MaxPlayersPerAddr)
	}
	if c.AddrLimitExempt == nil {
		c.AddrLimitExempt = DefaultAddrLimitExempt
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if c.MaxMessage < 100 {
		return c, fmt.Errorf("%w: max message %d bytes is too small for a Hello", core.ErrInvalidArgument, c.MaxMessage)
	}
	setDur(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.SlowClientTimeout, DefaultSlowClientTimeout)
	setDur(&c.Linger, DefaultLinger)
	if c.InputRate == 0 {
		c.InputRate = 1.1 * float64(c.TickRate)
	}
	if c.InputBurst == 0 {
		c.InputBurst = game.MaxQueuedInputs
	}
	if !(c.InputRate > 0) || c.InputBurst < 1 {
		return c, fmt.Errorf("%w: input rate %v burst %d", core.ErrInvalidArgument, c.InputRate, c.InputBurst)
	}
	if c.FloodTolerance == 0 {
		c.FloodTolerance = c.TickRate
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.Grace < 0 {
		c.Grace = -1
	}
	if c.SlowClientQueue == 0 {
		c.SlowClientQueue = DefaultSlowClientQueue
	}
	if c.SlowClientQueue < 1 {
		return c, fmt.Errorf("%w: slow-client queue %d", core.ErrInvalidArgument, c.SlowClientQueue)
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	if c.StatsInterval == 0 {
		c.StatsInterval = DefaultStatsInterval
	}
	if c.PeerLogRate == 0 {
		c.PeerLogRate = DefaultPeerLogRate
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}
