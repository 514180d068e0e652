package session

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
)

// Every test runs its reactors on real loopback sockets, on every backend
// of the platform, and checks for leaked goroutines and descriptors. Tests
// wait for events (callbacks, channel sends, log lines) with deadlines that
// only fail them; none sleeps.

// watchdog bounds any one wait of a test: a deadline for failing, never a
// wait for success.
const watchdog = 20 * time.Second

func TestMain(m *testing.M) {
	// Warm up the Go runtime's poller (a descriptor it keeps for the life
	// of the process), so the descriptor count of the first test is not off.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		_ = ln.Close()
	}
	goleak.VerifyTestMain(m)
}

// forEachBackend runs f as a subtest per backend, with leak checks.
func forEachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range core.Backends() {
		t.Run(b, func(t *testing.T) {
			checkLeaks(t)
			f(t, b)
		})
	}
}

// checkLeaks fails t if goroutines or descriptors are left once every
// later cleanup (the reactors') has run.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := openFds()
	t.Cleanup(func() {
		goleak.VerifyNone(t)
		if after := openFds(); before >= 0 && after > before && !t.Failed() {
			t.Errorf("descriptors leaked: %d open before, %d after: %v", before, after, fdTargets())
		}
	})
}

func fdTargets() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"="+l)
	}
	return out
}

func openFds() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// logBuf is a log sink safe from any goroutine that lets a test wait for a
// line.
type logBuf struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newLogBuf() *logBuf { return &logBuf{changed: make(chan struct{})} }

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// loop is a reactor run by Run on a goroutine of its own, as a separate
// program would.
type loop struct {
	t    *testing.T
	r    *core.Reactor
	log  *slog.Logger
	logs *logBuf
	ran  chan error
	once sync.Once
}

func startLoop(t *testing.T, backend string, setup func(l *loop), opts ...core.Option) *loop {
	t.Helper()
	l := &loop{t: t, logs: newLogBuf(), ran: make(chan error, 1)}
	l.log = slog.New(slog.NewTextHandler(l.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := core.New(append([]core.Option{core.WithBackend(backend), core.WithLogger(l.log), core.WithShutdownTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	l.r = r
	if setup != nil {
		setup(l)
	}
	go func() { l.ran <- r.Run() }()
	t.Cleanup(func() {
		l.stop()
		if t.Failed() {
			t.Logf("log of a reactor:\n%s", l.logs)
		}
	})
	return l
}

// stop stops the reactor and waits for Run to return.
func (l *loop) stop() {
	l.t.Helper()
	l.once.Do(func() {
		_ = l.r.Stop()
		select {
		case err := <-l.ran:
			if err != nil {
				l.t.Errorf("Run: %v", err)
			}
		case <-time.After(watchdog):
			l.t.Errorf("reactor did not stop")
		}
	})
}

// do runs f on the reactor's main thread and waits for it.
func (l *loop) do(f func()) {
	l.t.Helper()
	done := make(chan struct{})
	if err := l.r.CallFromThread(func() { defer close(done); f() }); err != nil {
		l.t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(watchdog):
		l.t.Fatal("the main thread did not run the call")
	}
}

// waitFor checks cond on the main thread after every few milliseconds of
// the reactor's timers until it holds; it fails the test after timeout.
// Not for reactors on a FakeClock.
func (l *loop) waitFor(what string, timeout time.Duration, cond func() bool) {
	l.t.Helper()
	ok := make(chan struct{})
	stop := make(chan struct{})
	var check func()
	check = func() {
		select {
		case <-stop:
			return
		default:
		}
		if cond() {
			close(ok)
			return
		}
		_, _ = l.r.CallLater(2*time.Millisecond, check)
	}
	if err := l.r.CallFromThread(check); err != nil {
		l.t.Fatal(err)
	}
	select {
	case <-ok:
	case <-time.After(timeout):
		close(stop)
		l.t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// waitLog waits for a log line containing every one of substrs.
func (l *loop) waitLog(timeout time.Duration, substrs ...string) string {
	l.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.logs.mu.Lock()
		ch := l.logs.changed
		s := l.logs.b.String()
		l.logs.mu.Unlock()
		for _, line := range bytes.Split([]byte(s), []byte("\n")) {
			ok := len(line) > 0
			for _, sub := range substrs {
				ok = ok && bytes.Contains(line, []byte(sub))
			}
			if ok {
				return string(line)
			}
		}
		select {
		case <-ch:
		case <-deadline.C:
			l.t.Fatalf("no log line with %q within %v", substrs, timeout)
		}
	}
}

// listen starts a server on l (on its main thread) and returns it.
func (l *loop) listen(cfg ServerConfig) *Server {
	l.t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = l.log
	}
	var s *Server
	var err error
	l.do(func() { s, err = Listen(l.r, cfg) })
	if err != nil {
		l.t.Fatal(err)
	}
	return s
}

// dial starts a client on l (on its main thread) and returns it.
func (l *loop) dial(cfg ClientConfig) *Client {
	l.t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = l.log
	}
	var c *Client
	var err error
	l.do(func() { c, err = Dial(l.r, cfg) })
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// state reads a client's state on its main thread.
func (l *loop) state(c *Client) (st State) {
	l.do(func() { st = c.State() })
	return st
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(watchdog):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// rawConn is a hand-driven client or server connection that speaks the
// wire format directly, to play a peer that misbehaves.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func newRaw(t *testing.T, c net.Conn) *rawConn {
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func dialRaw(t *testing.T, addr, from string) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newRaw(t, c)
}

func (rc *rawConn) send(payload []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(framing.Append(nil, payload)); err != nil {
		rc.t.Fatal(err)
	}
}

// read returns the next payload, or an error (io.EOF when closed).
func (rc *rawConn) read() ([]byte, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(watchdog))
	n, err := binary.ReadUvarint(rc.br)
	if err != nil {
		return nil, err
	}
	p := make([]byte, n)
	_, err = io.ReadFull(rc.br, p)
	return p, err
}

// expect reads payloads until one of type typ, skipping pings.
func (rc *rawConn) expect(typ byte) []byte {
	rc.t.Helper()
	for {
		p, err := rc.read()
		if err != nil {
			rc.t.Fatalf("waiting for message %#x: %v", typ, err)
		}
		if len(p) > 0 && p[0] == typ {
			return p
		}
		if len(p) == 0 || p[0] != msgPing {
			rc.t.Fatalf("got message %x, want type %#x", p, typ)
		}
	}
}

// expectClosed reads until the peer closes, skipping what comes first,
// then closes this end too.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	for {
		if _, err := rc.read(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				rc.t.Fatal("the peer did not close the connection")
			}
			_ = rc.c.Close()
			return
		}
	}
}

func (rc *rawConn) hello(app string, data string) {
	rc.send(appendHello(nil, hello{version: wireVersion, app: []byte(app), data: []byte(data)}))
}

// proxy relays TCP connections to a target, and can cut them: both ways
// (a network failure both ends see) or only towards the client (the server
// goes on believing in the connection).
type proxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu        sync.Mutex
	pairs     [][2]net.Conn // client side, server side
	paused    bool          // accepted connections are closed at once
	done      bool
	kept      map[net.Conn]bool // server sides left open by a cut
	keptConns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, kept: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.paused || p.done {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.mu.Unlock()
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		if p.done {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			continue
		}
		p.pairs = append(p.pairs, [2]net.Conn{c, s})
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(s, c, true)
		go p.pipe(c, s, false)
	}
}

// pipe copies from src to dst, then passes the end of stream on, unless
// dst is a server side kept open by a cut towards the client only.
func (p *proxy) pipe(dst, src net.Conn, towardsClient bool) {
	defer p.wg.Done()
	// Wrapped, so that io.Copy does not splice(2) through pipes that the
	// runtime keeps pooled (and the descriptor count would see).
	_, _ = io.Copy(struct{ io.Writer }{dst}, struct{ io.Reader }{src})
	p.mu.Lock()
	keep := !towardsClient && p.kept[dst]
	p.mu.Unlock()
	if !keep {
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
}

// cut closes the connections relayed now: both sides, or only the
// client's (the server's side stays open and silent).
func (p *proxy) cut(serverToo bool) {
	p.mu.Lock()
	pairs := p.pairs
	p.pairs = nil
	if !serverToo {
		for _, pr := range pairs {
			p.kept[pr[1]] = true
			p.keptConns = append(p.keptConns, pr[1])
		}
	}
	p.mu.Unlock()
	for _, pr := range pairs {
		_ = pr[0].Close()
		if serverToo {
			_ = pr[1].Close()
		}
	}
}

func (p *proxy) pause(v bool) {
	p.mu.Lock()
	p.paused = v
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.mu.Lock()
	p.done = true
	pairs := p.pairs
	p.pairs = nil
	kept := p.keptConns
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, pr := range pairs {
		_ = pr[0].Close()
		_ = pr[1].Close()
	}
	for _, c := range kept {
		_ = c.Close()
	}
	p.wg.Wait()
}

// until checks cond on the main thread, between the reactor's events,
// until it holds; it fails the test after the watchdog. It suits reactors
// on a FakeClock, whose timers do not run by themselves.
func (l *loop) until(what string, cond func() bool) {
	l.t.Helper()
	deadline := time.Now().Add(watchdog)
	for {
		ok := false
		l.do(func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// acceptRaw accepts one connection on ln, within the watchdog.
func acceptRaw(t *testing.T, ln *net.TCPListener) *rawConn {
	t.Helper()
	_ = ln.SetDeadline(time.Now().Add(watchdog))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return newRaw(t, c)
}
