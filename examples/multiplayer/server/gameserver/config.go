package gameserver

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// Defaults of Config.
const (
	DefaultMaxConns          = 512
	DefaultMaxMessage        = 64 // bytes; the largest client message (Hello) is 21
	DefaultHandshakeTimeout  = 3 * time.Second
	DefaultIdleTimeout       = 10 * time.Second
	DefaultPingRate          = 4 // pings per second; clients send one a second
	DefaultSlowClientQueue   = 16 << 10
	DefaultSlowClientTimeout = 5 * time.Second
	DefaultLinger            = 2 * time.Second
	DefaultStatsInterval     = time.Second
	DefaultDropLogRate       = 20 // lines per second, with a burst of 5 times that
)

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
	// MaxMessage is the largest message payload, in bytes, a client may
	// send; a longer frame disconnects it. Default DefaultMaxMessage.
	MaxMessage int
	// HandshakeTimeout is how long a new connection has to send Hello.
	HandshakeTimeout time.Duration
	// IdleTimeout is how long a player may send nothing (not even a Ping)
	// before it is disconnected with reason=timeout.
	IdleTimeout time.Duration
	// InputRate is how many inputs per second a client may send (default
	// 1.1 × TickRate) and InputBurst how many more it may send at once
	// (default game.MaxQueuedInputs).
	InputRate  float64
	InputBurst int
	// FloodTolerance is how many inputs over the limit a client may have
	// dropped within one second before it is disconnected; default
	// TickRate, i.e. about twice the allowed rate sustained for a second.
	FloodTolerance int
	// PingRate is how many pings per second a client may send, with a
	// burst of 8; one more disconnects it. Default DefaultPingRate.
	PingRate float64
	// SlowClientQueue is how many bytes may wait in a client's TCP send
	// queue before its snapshots are skipped, and SlowClientTimeout how long
	// that may last before the client is disconnected.
	SlowClientQueue   int
	SlowClientTimeout time.Duration
	// Linger bounds how long closing a connection waits for the client to
	// close its side; default DefaultLinger. Shutdown aborts connections
	// still open after it.
	Linger time.Duration
	// DisableUDP turns the UDP port off: snapshots all go over TCP.
	DisableUDP bool
	// StatsInterval is how often the stats line is logged; negative: never.
	StatsInterval time.Duration
	// DropLogRate bounds the msg=drop lines logged per second (with a burst
	// of five times as many); negative: no bound.
	DropLogRate float64
	// Logger receives the server's logs; default slog.Default().
	Logger *slog.Logger
	// TickObserver, if set, is called on the main thread after every tick
	// callback with the time the simulation and the sending of snapshots
	// took (benchmarks collect these).
	TickObserver func(time.Duration)
	// ListenOptions are passed to core's ListenTCP, after the server's own
	// (core.WithLinger(Linger), core.WithMaxUnread(64 KiB)).
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
	if c.MaxMessage == 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if c.MaxMessage < 32 {
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
	if c.PingRate == 0 {
		c.PingRate = DefaultPingRate
	}
	if !(c.PingRate > 0) {
		return c, fmt.Errorf("%w: ping rate %v", core.ErrInvalidArgument, c.PingRate)
	}
	if c.SlowClientQueue == 0 {
		c.SlowClientQueue = DefaultSlowClientQueue
	}
	if c.StatsInterval == 0 {
		c.StatsInterval = DefaultStatsInterval
	}
	if c.DropLogRate == 0 {
		c.DropLogRate = DefaultDropLogRate
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
