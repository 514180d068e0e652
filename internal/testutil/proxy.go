package testutil

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on loopback between clients and a server, for
// tests that break connections the way a network does: Cut resets every
// connection through it (both ends get a reset, not a clean close), and
// Pause/Resume stop and restart taking new ones, on the same address.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[*net.TCPConn]struct{}
	cut    map[*net.TCPConn]bool // reset by Cut: never closed cleanly after
	wg     sync.WaitGroup
	closed bool
}

// NewProxy starts a proxy to target on a free loopback port; the test's
// cleanup closes it and waits for its goroutines.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, target: target, conns: map[*net.TCPConn]struct{}{}, cut: map[*net.TCPConn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.pipe(c.(*net.TCPConn))
		}
	}()
}

// pipe connects client c to the target and copies both ways.
func (p *Proxy) pipe(c *net.TCPConn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	sc := s.(*net.TCPConn)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = c.Close()
		_ = sc.Close()
		return
	}
	p.conns[c], p.conns[sc] = struct{}{}, struct{}{}
	p.mu.Unlock()
	copyOne := func(dst, src *net.TCPConn) {
		defer p.wg.Done()
		_, _ = io.Copy(dst, src)
		// One side closed: close the other's direction too, unless Cut
		// reset it (a clean close would reach the peer first).
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.cut[dst] {
			_ = dst.CloseWrite()
		}
	}
	p.wg.Add(2)
	go copyOne(sc, c)
	go copyOne(c, sc)
}

// Cut resets every connection through the proxy, at both ends (SO_LINGER
// 0, then close: the peers get a TCP reset).
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		p.cut[c] = true
	}
	for c := range p.conns {
		_ = c.SetLinger(0)
		_ = c.Close()
		delete(p.conns, c)
	}
}

// Pause stops taking connections: connecting to Addr is refused until
// Resume.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
}

// Resume takes connections again, on the same address.
func (p *Proxy) Resume() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil || p.closed {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Pause()
	p.Cut()
	p.wg.Wait()
}
