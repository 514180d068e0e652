package core

import (
	"errors"
	"net"
	"strings"
	"time"
)

// Protocol is what a program writes to handle one stream connection
// (Twisted's IProtocol). Every method runs on the main thread.
type Protocol interface {
	// ConnectionMade is called once the connection is up, with the
	// transport to write through.
	ConnectionMade(t Transport)
	// DataReceived is called with bytes the peer sent, in order. The slice
	// is valid only during the call: the reactor reuses its memory, so copy
	// what you keep.
	DataReceived(data []byte)
	// ConnectionLost is called exactly once, when the connection is gone,
	// after every byte the peer sent before closing has been delivered.
	// errors.Is(reason, ErrConnectionDone) for a clean close; see the other
	// Err* values for resets, timeouts, aborts and bad input.
	ConnectionLost(reason error)
}

// HalfCloseProtocol is implemented by a Protocol that wants to go on
// writing after the peer has finished sending: when the peer shuts down its
// side, ReadConnectionLost is called instead of ConnectionLost, and the
// connection stays open for writing until LoseConnection (Twisted's
// IHalfCloseableProtocol).
type HalfCloseProtocol interface {
	Protocol
	ReadConnectionLost()
}

// PartialProtocol is implemented by a Protocol that handles its bytes in
// small units of work (messages) and can stop between two of them when the
// frame's budget is spent, so that a flood of small messages cannot blow a
// frame: the budget is checked between messages, not only between
// DataReceived calls. framing.Protocol implements it, so every framed
// handler gets this without change.
//
// The reactor calls DataReceivedPartial instead of DataReceived. It handles
// data from the start and returns how many bytes it consumed; the rest
// stays queued, in order, and is handed over first in the connection's
// next turn (later in the same Drain if the budget allows, else the next
// frame). spent reports whether the running Drain's budget is spent; it is
// always false when the reactor runs without a budget (Run, Interleave),
// and costs one read of the monotonic clock. A PartialProtocol should
// handle at least one unit before asking; returning 0 while spent is false
// only delays the bytes to the connection's next turn. When the reactor
// must deliver everything at once (a connection being closed), it calls
// DataReceived.
type PartialProtocol interface {
	Protocol
	DataReceivedPartial(data []byte, spent func() bool) (consumed int)
}

// Producer is implemented by a Protocol that wants to be told when its
// transport's write buffer fills up (Twisted's push producer registered
// with its transport): PauseProducing when the queued bytes exceed the
// high-water mark, ResumeProducing when they fall to the low-water mark.
type Producer interface {
	PauseProducing()
	ResumeProducing()
}

// Factory builds a Protocol for each new connection (Twisted's Factory).
// Returning an error refuses the connection: it is closed at once.
type Factory interface {
	BuildProtocol(remote net.Addr) (Protocol, error)
}

// FactoryFunc adapts a function to Factory.
type FactoryFunc func(remote net.Addr) (Protocol, error)

// BuildProtocol calls f.
func (f FactoryFunc) BuildProtocol(remote net.Addr) (Protocol, error) { return f(remote) }

// ClientFactory is a Factory for an outgoing connection: it is also told
// when the connection could not be made (Twisted's ClientFactory).
type ClientFactory interface {
	Factory
	// ConnectionFailed is called on the main thread if the connection
	// could not be made: errors.Is(err, ErrConnectionRefused),
	// ErrUnreachable, ErrTimeout, ErrResolve, ErrShutdown.
	ConnectionFailed(err error)
}

// ClientFuncs adapts two functions to ClientFactory.
type ClientFuncs struct {
	Build  func(remote net.Addr) (Protocol, error)
	Failed func(err error)
}

// BuildProtocol calls c.Build.
func (c ClientFuncs) BuildProtocol(remote net.Addr) (Protocol, error) { return c.Build(remote) }

// ConnectionFailed calls c.Failed, if set.
func (c ClientFuncs) ConnectionFailed(err error) {
	if c.Failed != nil {
		c.Failed(err)
	}
}

// Transport is a connection as its Protocol sees it (Twisted's
// ITCPTransport). Its methods must be called on the main thread; from
// another goroutine, hold the connection's ID and use CallFromThread with
// (*Reactor).Conn.
type Transport interface {
	// Write sends p, or queues what the socket does not take at once. It
	// never blocks. It copies p: the caller may reuse it.
	//
	// It returns len(p), nil when p was sent or queued. Otherwise it returns
	// how much of p was sent and an error for which errors.Is(err,
	// ErrClosed) holds: after LoseConnection or AbortConnection, and on every
	// backend alike as soon as the main thread knows the connection is
	// broken (a write failed, the peer reset it, or queueing p would pass the
	// limit on unsent bytes, see WithMaxQueued). Then the error is a
	// *ClosedError carrying the reason, which ConnectionLost also gets,
	// after the running callback returns (never inside Write).
	Write(p []byte) (int, error)
	// Writev sends several buffers as one vectored write, with Write's
	// contract for their total length.
	Writev(bufs ...[]byte) (int, error)
	// LoseConnection closes the connection once everything queued has been
	// sent: the peer receives every byte, then end of stream.
	LoseConnection() error
	// AbortConnection closes the connection now (a reset) and drops what is
	// queued; ConnectionLost gets ErrAborted after the running callback
	// returns, never inside this call.
	AbortConnection() error
	// AbortWithError closes the connection now with reason as the reason
	// given to ConnectionLost (for instance a wrapped ErrBadInput).
	AbortWithError(reason error) error
	// PauseProducing stops reading from the peer (TCP then pushes back on
	// it); ResumeProducing starts again. Bytes already read stay queued and
	// are delivered after ResumeProducing, in the connection's next turn
	// (not inside the call).
	PauseProducing()
	ResumeProducing()
	// SetWriteBufferLimits sets the high- and low-water marks of the write
	// queue for Producer notifications (defaults 256 KiB and 64 KiB).
	SetWriteBufferLimits(high, low int)
	// SetNoDelay turns Nagle's algorithm off (true, the default for new
	// connections) or on.
	SetNoDelay(noDelay bool) error
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// ID names the connection across goroutines; see (*Reactor).Conn.
	ID() ConnID
	// Stats returns the connection's counters.
	Stats() ConnStats
}

// ConnID names a connection in a way that is safe to pass between
// goroutines and can never name another connection: it carries a
// generation, so the ID of a closed connection stays dead even when its
// descriptor number is reused. The zero ConnID names nothing.
type ConnID uint64

// ConnStats are a connection's counters.
type ConnStats struct {
	BytesIn     uint64 // bytes read from the peer
	BytesOut    uint64 // bytes the kernel took
	MessagesIn  uint64 // DataReceived calls
	MessagesOut uint64 // Write/Writev calls
	// Queued is the bytes written by the program and not yet handed to the
	// kernel. On a goroutine-backed connection, bytes its writer goroutine
	// has sent are counted (here, in BytesOut and in Stats.QueuedBytes)
	// once the main thread hears of it: at once while something waits for
	// the queue to drain (a paused Producer, back-pressure, a closing
	// connection) or more is queued, else at the main thread's next wake.
	Queued int
	Unread int // bytes read from the socket, not yet delivered
	// KernelQueued is how many bytes the kernel holds that the peer has not
	// acknowledged yet (SIOCOUTQ on Linux), -1 where the platform or the
	// connection cannot tell. Queued+KernelQueued is what a peer that stops
	// reading has made us hold. Reading it costs a system call.
	KernelQueued int
}

// Errors given to ConnectionLost and ConnectionFailed, and returned by
// transports. Reasons wrap the underlying system error where there is one,
// so errors.Is works with both (say ErrConnectionReset and
// syscall.ECONNRESET).
var (
	ErrConnectionReset   = errors.New("reactor: connection reset by peer")
	ErrConnectionRefused = errors.New("reactor: connection refused")
	ErrUnreachable       = errors.New("reactor: network or host unreachable")
	ErrTimeout           = errors.New("reactor: timed out")
	ErrAborted           = errors.New("reactor: connection aborted")
	ErrBadInput          = errors.New("reactor: bad input from peer")
	ErrClosed            = errors.New("reactor: connection closed")
	ErrResolve           = errors.New("reactor: cannot resolve address")
	ErrRefusedByFactory  = errors.New("reactor: connection refused by factory")
	// ErrWriteQueueFull is the reason (wrapped, with the numbers) given to
	// ConnectionLost when a write would have queued more unsent bytes than
	// the connection's limit (WithMaxQueued): the peer does not read as
	// fast as the program writes. The connection is reset and what was
	// queued is dropped.
	ErrWriteQueueFull = errors.New("reactor: write queue full")
)

// ClosedError is the error Write and Writev return on a connection that is
// lost or being lost: errors.Is(err, ErrClosed) holds, and errors.Is and
// errors.As also reach Reason, the reason ConnectionLost gets.
type ClosedError struct {
	Reason error
}

func (e *ClosedError) Error() string {
	return "reactor: connection closed: " + strings.TrimPrefix(e.Reason.Error(), "reactor: ")
}

// Is reports whether target is ErrClosed.
func (e *ClosedError) Is(target error) bool { return target == ErrClosed }

// Unwrap returns the reason.
func (e *ClosedError) Unwrap() error { return e.Reason }

// ListenOption configures the connections made by ListenTCP,
// AdoptListener, AdoptConn and ConnectTCP.
type ListenOption func(*listenConfig)

type listenConfig struct {
	conn connConfig
}

// connConfig is shared by every connection of a port, or one connection.
type connConfig struct {
	maxUnread    int           // bytes read ahead of the main thread before reading stops
	high, low    int           // write-buffer marks for Producer
	linger       time.Duration // how long LoseConnection waits for the peer's end of stream
	noDelay      bool
	maxQueued    int  // unsent bytes beyond which the connection fails (<= 0: no limit)
	backpressure bool // stop reading while the write queue is above high
	sndBuf       int  // SO_SNDBUF, 0: the system's default
}

func listenOptions(opts []ListenOption) listenConfig {
	cfg := listenConfig{conn: defaultConnConfig()}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return cfg
}

func defaultConnConfig() connConfig {
	return connConfig{maxUnread: 1 << 20, high: 256 << 10, low: 64 << 10, linger: 5 * time.Second, noDelay: true,
		maxQueued: DefaultMaxQueued}
}

// DefaultMaxQueued is the default limit on a connection's unsent bytes
// (WithMaxQueued).
const DefaultMaxQueued = 32 << 20

// WithMaxQueued bounds how many written bytes a connection may hold unsent
// (default DefaultMaxQueued, 32 MiB; n <= 0 means no limit). A Write that
// would pass it fails: the connection is reset, what was queued dropped,
// and ConnectionLost gets an error wrapping ErrWriteQueueFull. So a peer
// that stops reading can make the program hold at most this much (plus
// what the kernel buffers, see WithSendBuffer), never the whole process's
// memory. A Producer, or WithBackpressure, keeps a well-behaved connection
// far below it.
func WithMaxQueued(n int) ListenOption { return func(c *listenConfig) { c.conn.maxQueued = n } }

// WithBackpressure couples a connection's reading to its writing: while
// its unsent bytes are above the high-water mark (SetWriteBufferLimits,
// 256 KiB by default) the reactor stops reading from the peer, and it
// reads again at the low-water mark. A program that writes in answer to
// what it reads (an echo, a proxy, a request/response server) then holds at
// most about the high-water mark per connection, however fast a peer sends
// without reading: TCP pushes back on the peer instead. Independent of
// PauseProducing, which the program controls.
func WithBackpressure() ListenOption { return func(c *listenConfig) { c.conn.backpressure = true } }

// WithSendBuffer sets the kernel's send buffer of each connection
// (SO_SNDBUF) to n bytes; the kernel may round it. Loopback and fast links
// let the kernel grow a send buffer to several MiB, which a peer that stops
// reading makes the server hold; a game server that sends small snapshots
// can cap it. 0 keeps the system's default.
func WithSendBuffer(n int) ListenOption { return func(c *listenConfig) { c.conn.sndBuf = max(n, 0) } }

// WithMaxUnread bounds how many bytes the poll thread reads from a
// connection ahead of the main thread (default 1 MiB); beyond it the
// connection is not read until the main thread catches up, and TCP pushes
// back on the peer. Memory stays bounded and nothing is lost.
func WithMaxUnread(n int) ListenOption { return func(c *listenConfig) { c.conn.maxUnread = n } }

// WithLinger bounds how long LoseConnection may take (default 5s): to send
// what is queued and then see the peer close its side. A peer that reads
// everything but never closes is closed on anyway (ErrConnectionDone); one
// that stops reading is aborted with ErrTimeout, unsent bytes dropped.
func WithLinger(d time.Duration) ListenOption { return func(c *listenConfig) { c.conn.linger = d } }
