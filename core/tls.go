package core

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultTLSHandshakeTimeout bounds a TLS handshake made by ListenTLS and
// ConnectTLS, so that a peer that opens a connection and stays silent
// holds nothing for long.
const DefaultTLSHandshakeTimeout = 10 * time.Second

// ListenTLS listens on addr (TCP) and serves TLS with config: each
// connection's handshake runs on a goroutine of its own, never on the main
// thread, and only a connection whose handshake succeeded gets a Protocol
// from f, with the same callbacks, budget, flow control and shutdown as a
// plain TCP connection (it is goroutine-backed: crypto/tls needs a
// net.Conn). Handshakes that fail or take longer than
// DefaultTLSHandshakeTimeout are closed and logged at debug level. Main
// thread (or before the reactor starts).
func (r *Reactor) ListenTLS(addr string, config *tls.Config, f Factory, opts ...ListenOption) (*Port, error) {
	if config == nil || f == nil {
		return nil, fmt.Errorf("%w: nil tls.Config or Factory", ErrInvalidArgument)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	tl := newTLSListener(ln, config, r)
	p, err := r.AdoptListener(tl, f, opts...)
	if err != nil {
		tl.Close()
		return nil, err
	}
	return p, nil
}

// ConnectTLS connects to addr over TCP and makes a TLS handshake with
// config, on a goroutine; then, on the main thread, f builds the Protocol
// for the connection. If the connection or the handshake fails, or ctx is
// done first, f.ConnectionFailed gets the reason: errors.Is matches
// ErrConnectionRefused, ErrTimeout, ... for the connection, and errors.As
// reaches the TLS error (a tls.AlertError, a *tls.CertificateVerificationError,
// ...) for the handshake. config.ServerName defaults to addr's host. Main
// thread (or before the reactor starts).
func (r *Reactor) ConnectTLS(ctx context.Context, addr string, config *tls.Config, f ClientFactory, opts ...ListenOption) error {
	if ctx == nil || config == nil || f == nil {
		return fmt.Errorf("%w: nil context, tls.Config or ClientFactory", ErrInvalidArgument)
	}
	cfg := config.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	go func() {
		d := tls.Dialer{Config: cfg}
		hctx, cancel := context.WithTimeout(ctx, DefaultTLSHandshakeTimeout)
		conn, err := d.DialContext(hctx, "tcp", addr)
		cancel()
		if err != nil {
			err = tlsDialError(addr, err)
		}
		if r.CallFromThread(func() { r.connected(conn, err, f, opts) }) != nil && conn != nil {
			conn.Close() // the reactor has stopped
		}
	}()
	return nil
}

// connected finishes a connection made on a goroutine (ConnectTLS, and
// helpers such as a WebSocket dialer): on the main thread, the factory
// builds the Protocol, or hears why there is none.
func (r *Reactor) connected(conn net.Conn, err error, f ClientFactory, opts []ListenOption) {
	if err != nil {
		r.safeCall("ConnectionFailed", func() { f.ConnectionFailed(err) })
		return
	}
	p, perr := r.buildProtocol(f, conn.RemoteAddr())
	if perr != nil || p == nil {
		conn.Close()
		if perr == nil {
			perr = ErrRefusedByFactory
		}
		r.safeCall("ConnectionFailed", func() { f.ConnectionFailed(perr) })
		return
	}
	if _, err := r.AdoptConn(conn, p, opts...); err != nil {
		r.safeCall("ConnectionFailed", func() { f.ConnectionFailed(err) })
	}
}

// AdoptDialed finishes, on the main thread, a connection a program made on
// a goroutine of its own (a WebSocket, a custom handshake): call it from
// that goroutine with the connection or the error. f builds the Protocol
// (or gets ConnectionFailed with err, or with why the connection could not
// be adopted). If the reactor has stopped, conn is closed and
// ErrStopped is returned. Safe from any goroutine.
func (r *Reactor) AdoptDialed(conn net.Conn, err error, f ClientFactory, opts ...ListenOption) error {
	if f == nil {
		if conn != nil {
			conn.Close()
		}
		return fmt.Errorf("%w: nil ClientFactory", ErrInvalidArgument)
	}
	if cerr := r.CallFromThread(func() { r.connected(conn, err, f, opts) }); cerr != nil {
		if conn != nil {
			conn.Close()
		}
		return cerr
	}
	return nil
}

// tlsDialError classifies a failed TLS dial: a connection error as
// dialError does; a handshake error kept as it is (errors.As reaches the
// TLS error) and marked as a bad peer.
func tlsDialError(addr string, err error) error {
	var ae tls.AlertError
	var ve *tls.CertificateVerificationError
	var he tls.RecordHeaderError
	if errors.As(err, &ae) || errors.As(err, &ve) || errors.As(err, &he) {
		return fmt.Errorf("%w: tls handshake with %s: %w", ErrBadInput, addr, err)
	}
	return dialError(addr, err)
}

// tlsListener is a net.Listener whose Accept returns connections whose TLS
// handshake has succeeded; handshakes run concurrently, each on its own
// goroutine, so a slow peer never holds the others back.
type tlsListener struct {
	net.Listener
	config *tls.Config
	r      *Reactor
	ready  chan net.Conn
	quit   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	err    error // set before quit is closed
}

func newTLSListener(ln net.Listener, config *tls.Config, r *Reactor) *tlsListener {
	l := &tlsListener{Listener: ln, config: config, r: r, ready: make(chan net.Conn), quit: make(chan struct{})}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *tlsListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.stop(err)
			return
		}
		l.wg.Add(1)
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	defer l.wg.Done()
	tc := tls.Server(c, l.config)
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTLSHandshakeTimeout)
	go func() {
		select {
		case <-l.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.r.log.Debug("reactor: tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		tc.Close()
		return
	}
	select {
	case l.ready <- tc:
	case <-l.quit:
		tc.Close()
	}
}

func (l *tlsListener) stop(err error) {
	l.once.Do(func() {
		l.err = err
		close(l.quit)
	})
}

// Accept returns the next connection whose handshake succeeded.
func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.quit:
		return nil, l.err
	}
}

// Close stops accepting, abandons handshakes under way, and waits for
// their goroutines.
func (l *tlsListener) Close() error {
	err := l.Listener.Close()
	l.stop(net.ErrClosed)
	l.wg.Wait()
	return err
}
