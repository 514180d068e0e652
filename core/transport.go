package core

import (
	"errors"
	"net"
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
	// never blocks. It copies p: the caller may reuse it. After
	// LoseConnection, AbortConnection or loss it returns ErrClosed.
	Write(p []byte) (int, error)
	// Writev sends several buffers as one vectored write.
	Writev(bufs ...[]byte) (int, error)
	// LoseConnection closes the connection once everything queued has been
	// sent: the peer receives every byte, then end of stream.
	LoseConnection() error
	// AbortConnection closes the connection now and drops what is queued;
	// ConnectionLost gets ErrAborted.
	AbortConnection() error
	// AbortWithError closes the connection now with reason as the reason
	// given to ConnectionLost (for instance a wrapped ErrBadInput).
	AbortWithError(reason error) error
	// PauseProducing stops reading from the peer (TCP then pushes back on
	// it); ResumeProducing starts again. Bytes already read stay queued and
	// are delivered after ResumeProducing.
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
	Queued      int    // bytes written by the program and not yet sent
	Unread      int    // bytes read from the socket, not yet delivered
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
)

// ListenOption configures the connections made by ListenTCP,
// AdoptListener, AdoptConn and ConnectTCP.
type ListenOption func(*listenConfig)

type listenConfig struct {
	conn connConfig
}

// connConfig is shared by every connection of a port, or one connection.
type connConfig struct {
	maxUnread int           // bytes read ahead of the main thread before reading stops
	high, low int           // write-buffer marks for Producer
	linger    time.Duration // how long LoseConnection waits for the peer's end of stream
	noDelay   bool
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
	return connConfig{maxUnread: 1 << 20, high: 256 << 10, low: 64 << 10, linger: 5 * time.Second, noDelay: true}
}

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
