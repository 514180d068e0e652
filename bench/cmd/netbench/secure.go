package main

// Echo over TLS and over WebSocket: the reactor's helpers (core.ListenTLS,
// core/ws.Handler) against the usual goroutine-per-connection servers of
// crypto/tls and github.com/coder/websocket, with the same load: 50
// connections ping-ponging 64-byte messages. Those connections are
// goroutine-backed in the reactor whatever its backend (crypto/tls and
// coder/websocket need a net.Conn), so what is measured is what the
// reactor adds on top of the goroutines the libraries need anyway.
//
// The load generator is ordinary Go (a goroutine per connection, crypto/tls
// or coder/websocket on the client side too), not the raw-socket client of
// the TCP echo: it costs more CPU per message, the same for both servers.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/ws"
)

// The servers of the secure echo, by -impl.
var secureSpecs = map[string]spec{
	"reactor-tls":          {"reactor-tls", "reactor-tls", "run"},
	"reactor-tls/portable": {"reactor-tls/portable", "reactor-tls-portable", "run"},
	"std-tls":              {"std-tls", "std-tls", "run"},
	"reactor-ws":           {"reactor-ws", "reactor-ws", "run"},
	"reactor-ws/portable":  {"reactor-ws/portable", "reactor-ws-portable", "run"},
	"reactor-ws/mixed":     {"reactor-ws/mixed", "reactor-ws-mixed", "run"},
	"coder-ws":             {"coder-ws", "coder-ws", "run"},
}

// secureBaseline is the server each reactor row is compared with.
var secureBaseline = map[string]string{
	"reactor-tls": "std-tls", "reactor-tls/portable": "std-tls",
	"reactor-ws": "coder-ws", "reactor-ws/portable": "coder-ws", "reactor-ws/mixed": "coder-ws",
}

// secureRun is one server's round in a round of the secure echo; pairOf
// names the reactor server a baseline's round is paired with.
type secureRun struct {
	sp     spec
	pairOf string
}

// securePlan orders round r of the secure echo so that each reactor server
// runs next to a round of its baseline, and the two are measured together
// (runSecurePair, their loads taking turns a quarter of a second at a
// time), so that their ratio compares the same stretch of the machine's
// time: the machine's load comes and goes (other jobs, other virtual
// machines), and one noisy stretch used to lower or raise a ratio whose
// two rounds it did not both hit. Within a pair the order alternates from
// round to round (one round reactor first, the next baseline first), and
// the pairs rotate, so no server is always first or last. A baseline runs
// once per reactor server paired with it; a baseline with none, or a
// server without its baseline, runs alone.
func securePlan(impls []spec, r int) []secureRun {
	var units [][]secureRun
	paired := map[string]bool{}
	for _, sp := range impls {
		base, ok := secureBaseline[sp.name]
		if !ok {
			continue
		}
		i := slices.IndexFunc(impls, func(s spec) bool { return s.name == base })
		if i < 0 {
			units = append(units, []secureRun{{sp: sp}})
			continue
		}
		paired[base] = true
		u := []secureRun{{sp: sp}, {sp: impls[i], pairOf: sp.name}}
		if r%2 == 1 {
			u[0], u[1] = u[1], u[0]
		}
		units = append(units, u)
	}
	for _, sp := range impls {
		if _, isReactor := secureBaseline[sp.name]; !isReactor && !paired[sp.name] {
			units = append(units, []secureRun{{sp: sp}})
		}
	}
	if len(units) > 0 {
		k := r % len(units)
		units = append(units[k:], units[:k]...)
	}
	var plan []secureRun
	for _, u := range units {
		plan = append(plan, u...)
	}
	return plan
}

// secureOrder is the order of the secure table's rows.
var secureOrder = []string{"reactor-tls", "reactor-tls/portable", "std-tls", "reactor-ws", "reactor-ws/portable", "reactor-ws/mixed", "coder-ws"}

// isSecure reports whether impl is a server of the secure echo.
func isSecure(impl string) bool {
	for _, sp := range secureSpecs {
		if sp.impl == impl {
			return true
		}
	}
	return false
}

// secureReactor makes the reactor of a secure echo server: the platform's
// default backend (epoll on Linux), or the portable one for the
// -portable impls.
func secureReactor(impl string) (*core.Reactor, error) {
	var opts []core.Option
	if strings.HasSuffix(impl, "-portable") {
		opts = append(opts, core.WithBackend("portable"))
	}
	r, err := core.New(opts...)
	if err != nil {
		return nil, err
	}
	reactorRef.Store(r)
	if strings.HasSuffix(impl, "-mixed") {
		// A TCP listener on the poller, as in the example game server:
		// the main thread sleeps in the poller, not on a channel.
		if _, err := r.ListenTCP("127.0.0.1:0", core.FactoryFunc(func(net.Addr) (core.Protocol, error) { return &reactorEcho{}, nil })); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// selfSignedTLS is a throwaway certificate for the servers: the client
// does not verify it (verification happens once per connection, at the
// handshake, and the measured interval has none).
func selfSignedTLS() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "netbench"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// runSecure runs one of the secure echo servers until stdin ends.
func runSecure(impl, addr string) error {
	cfg, err := selfSignedTLS()
	if err != nil {
		return err
	}
	switch impl {
	case "reactor-tls", "reactor-tls-portable":
		r, err := secureReactor(impl)
		if err != nil {
			return err
		}
		port, err := r.ListenTLS(addr, cfg, core.FactoryFunc(func(net.Addr) (core.Protocol, error) { return &reactorEcho{}, nil }))
		if err != nil {
			return err
		}
		go control(port.Addr().String())
		return r.Run()
	case "std-tls":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		go control(ln.Addr().String())
		tln := tls.NewListener(ln, cfg)
		for {
			c, err := tln.Accept()
			if err != nil {
				return err
			}
			conns.Add(1)
			go stdEcho(c) // the handshake happens on its first Read
		}
	case "reactor-ws", "reactor-ws-portable", "reactor-ws-mixed":
		r, err := secureReactor(impl)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: ws.Handler(r, core.FactoryFunc(func(net.Addr) (core.Protocol, error) { return &reactorEcho{}, nil }), nil)}
		go func() { _ = srv.Serve(ln) }()
		go control(ln.Addr().String())
		return r.Run()
	case "coder-ws":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: http.HandlerFunc(coderEcho)}
		go control(ln.Addr().String())
		return srv.Serve(ln)
	}
	return fmt.Errorf("unknown -impl %q", impl)
}

// coderEcho is coder/websocket's echo, a goroutine per connection (the
// HTTP server's): the stream in binary messages through websocket.NetConn,
// echoed with the std server's 4 KiB buffer.
func coderEcho(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	conns.Add(1)
	defer conns.Add(-1)
	nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
	defer nc.Close()
	buf := make([]byte, stdEchoBuf)
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			if _, werr := nc.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// secureDial opens one client connection to a server of kind impl.
func secureDial(ctx context.Context, impl, addr string) (net.Conn, error) {
	switch impl {
	case "reactor-tls", "reactor-tls-portable", "std-tls":
		d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}} // a throwaway certificate; see selfSignedTLS
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*tls.Conn).NetConn().(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		return c, nil
	case "reactor-ws", "reactor-ws-portable", "reactor-ws-mixed", "coder-ws":
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
		if err != nil {
			return nil, err
		}
		return websocket.NetConn(context.Background(), c, websocket.MessageBinary), nil
	}
	return nil, fmt.Errorf("unknown secure server %q", impl)
}

// secureClient holds n connections that ping-pong fixed-size messages, one
// goroutine each.
type secureClient struct {
	conns []net.Conn
	size  int
}

func newSecureClient(impl, addr string, n, size int) (*secureClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := &secureClient{size: size}
	for i := 0; i < n; i++ {
		c, err := secureDial(ctx, impl, addr)
		if err != nil {
			cl.close()
			return nil, fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
		cl.conns = append(cl.conns, c)
	}
	return cl, nil
}

func (cl *secureClient) close() {
	for _, c := range cl.conns {
		c.Close()
	}
	cl.conns = nil
}

// phase ping-pongs on every connection until d has passed and the messages
// in flight are back.
func (cl *secureClient) phase(d time.Duration, keepRTTs bool) (phaseResult, error) {
	var res phaseResult
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(d)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(cl.conns))
	for _, c := range cl.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, cl.size)
			for i := range msg {
				msg[i] = byte('a' + i%26)
			}
			got := make([]byte, cl.size)
			var rtts []time.Duration
			n := 0
			_ = c.SetDeadline(deadline.Add(20 * time.Second))
			for {
				sent := time.Now()
				if _, err := c.Write(msg); err != nil {
					errs <- fmt.Errorf("write: %w", err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- fmt.Errorf("read: %w", err)
					return
				}
				now := time.Now()
				if string(got) != string(msg) {
					errs <- errors.New("echo mismatch")
					return
				}
				n++
				if keepRTTs {
					rtts = append(rtts, now.Sub(sent))
				}
				if !now.Before(deadline) {
					break
				}
			}
			mu.Lock()
			res.msgs += n
			res.rtts = append(res.rtts, rtts...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.cpu = processCPU() - cpu0
	select {
	case err := <-errs:
		return res, err
	default:
	}
	return res, nil
}

// processCPU is this process's CPU time (user + system), all threads.
func processCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pairedRuns reports whether two runs next to each other in a plan are a
// reactor server and its baseline's round paired with it, in either
// order: they are measured together (runSecurePair).
func pairedRuns(x, y secureRun) bool {
	return (y.pairOf != "" && y.pairOf == x.sp.name) || (x.pairOf != "" && x.pairOf == y.sp.name)
}

// secureMeter measures one server of the secure echo: the server, its
// client, and what the server had used when the measurement began.
type secureMeter struct {
	srv    *server
	cl     *secureClient
	sA, s0 map[string]int64
	c0     int64
	v0, i0 int64
	ph     phaseResult // the load phases, summed
}

func startSecureMeter(cfg *config, sp spec) (*secureMeter, error) {
	srv, err := startServer(sp, "echo")
	if err != nil {
		return nil, err
	}
	cl, err := newSecureClient(sp.impl, srv.addr, cfg.conns, cfg.size)
	if err != nil {
		srv.stop()
		return nil, err
	}
	return &secureMeter{srv: srv, cl: cl}, nil
}

func (m *secureMeter) close() {
	m.cl.close()
	m.srv.stop()
}

// begin notes what the server has used so far (after the warm-up).
func (m *secureMeter) begin() error {
	var err error
	if m.sA, err = m.srv.stats(); err != nil {
		return err
	}
	if m.s0, err = m.srv.stats(); err != nil {
		return err
	}
	if m.c0, err = cpuTicks(m.srv.pid); err != nil {
		return err
	}
	m.v0, m.i0, err = ctxSwitches(m.srv.pid)
	return err
}

// load runs one phase of load and adds it up.
func (m *secureMeter) load(d time.Duration) error {
	ph, err := m.cl.phase(d, true)
	if err != nil {
		return err
	}
	m.ph.msgs += ph.msgs
	m.ph.elapsed += ph.elapsed
	m.ph.cpu += ph.cpu
	m.ph.rtts = append(m.ph.rtts, ph.rtts...)
	return nil
}

// end makes the round's figures: rates over the time under load, the
// server's CPU and switches over the whole measurement (a server waiting
// for its slice sleeps; what it spends meanwhile is counted too).
func (m *secureMeter) end() (echoRound, error) {
	var er echoRound
	c1, err := cpuTicks(m.srv.pid)
	if err != nil {
		return er, err
	}
	v1, i1, err := ctxSwitches(m.srv.pid)
	if err != nil {
		return er, err
	}
	s1, err := m.srv.stats()
	if err != nil {
		return er, err
	}
	ph := m.ph
	if ph.msgs == 0 {
		return er, fmt.Errorf("no messages echoed")
	}
	n := float64(ph.msgs)
	er.rate = n / ph.elapsed.Seconds()
	slices.Sort(ph.rtts)
	er.p50 = ph.rtts[len(ph.rtts)*50/100]
	er.p99 = ph.rtts[min(len(ph.rtts)-1, len(ph.rtts)*99/100)]
	er.cpuPerMsg = time.Duration(float64(c1-m.c0) * float64(tickDur) / n)
	er.mallocN = max(0, (s1["mallocs"]-m.s0["mallocs"])-(m.s0["mallocs"]-m.sA["mallocs"]))
	er.mallocs = float64(er.mallocN) / n
	er.clientCPU = time.Duration(float64(ph.cpu) / n)
	er.volSwitches = float64(v1-m.v0) / n
	er.involSwitches = float64(i1-m.i0) / n
	return er, nil
}

// runSecureRound measures one server of the secure echo.
func runSecureRound(cfg *config, sp spec) (echoRound, error) {
	m, err := startSecureMeter(cfg, sp)
	if err != nil {
		return echoRound{}, err
	}
	defer m.close()
	if _, err := m.cl.phase(cfg.warmup, false); err != nil {
		return echoRound{}, err
	}
	if err := m.begin(); err != nil {
		return echoRound{}, err
	}
	if err := m.load(cfg.dur); err != nil {
		return echoRound{}, err
	}
	return m.end()
}

// secureSlice is how long one server is loaded at a time in a paired
// round (runSecurePair).
const secureSlice = 250 * time.Millisecond

// sliceOwner says which of a pair (0: the first, 1: the second) has slice
// k of a paired round: A B B A, A B B A, ..., so that a drift of the
// machine's speed in the middle of a round weighs on both alike.
func sliceOwner(k int) int {
	if k%4 == 1 || k%4 == 2 {
		return 1
	}
	return 0
}

// runSecurePair measures two servers in one round, both running and
// connected throughout, their loads taking turns in slices of
// secureSlice (sliceOwner), each loaded for cfg.dur in all. On this
// shared machine a server's whole round runs either fast or slow (other
// jobs, other virtual machines), and two rounds one after the other, one
// per server, could catch one of each; slices a quarter of a second long
// give both servers the same share of each.
func runSecurePair(cfg *config, a, b spec) (echoRound, echoRound, error) {
	var ms [2]*secureMeter
	for i, sp := range []spec{a, b} {
		m, err := startSecureMeter(cfg, sp)
		if err != nil {
			return echoRound{}, echoRound{}, fmt.Errorf("%s: %w", sp.name, err)
		}
		defer m.close()
		ms[i] = m
	}
	for _, m := range ms {
		if _, err := m.cl.phase(cfg.warmup, false); err != nil {
			return echoRound{}, echoRound{}, err
		}
	}
	for _, m := range ms {
		if err := m.begin(); err != nil {
			return echoRound{}, echoRound{}, err
		}
	}
	n := max(1, int(cfg.dur/secureSlice))
	d := cfg.dur / time.Duration(n)
	for k := 0; k < 2*n; k++ {
		i := sliceOwner(k)
		if err := ms[i].load(d); err != nil {
			return echoRound{}, echoRound{}, fmt.Errorf("%s: %w", []spec{a, b}[i].name, err)
		}
	}
	var ers [2]echoRound
	for i, m := range ms {
		er, err := m.end()
		if err != nil {
			return echoRound{}, echoRound{}, err
		}
		ers[i] = er
	}
	return ers[0], ers[1], nil
}

// reportSecure writes the secure echo's table.
func reportSecure(w io.Writer, cfg *config, res *results) {
	if len(res.secure) == 0 {
		return
	}
	fmt.Fprintf(w, "TLS and WebSocket echo: %d connections ping-ponging %d-byte messages, %v per round, %d rounds (each reactor server measured together with a run of its baseline, their loads taking turns every %v, so a baseline runs once per server paired with it), medians\n",
		cfg.conns, cfg.size, cfg.dur, cfg.secureRounds, min(secureSlice, cfg.dur))
	fmt.Fprintf(w, "  reactor-tls: core.ListenTLS, Run, the default backend (epoll); /portable: the portable backend; std-tls: crypto/tls listener, goroutine per connection, 4 KiB buffer\n")
	fmt.Fprintf(w, "  reactor-ws: core/ws.Handler on net/http, Run (/portable as above; /mixed: a TCP listener on the poller too, as in the example game server, so the main thread sleeps in the poller); coder-ws: coder/websocket v1.8.15 Accept + NetConn, goroutine per connection, 4 KiB buffer\n")
	fmt.Fprintf(w, "  ratio: msgs/s against the baseline measured with it (the pair's order alternating), per round, median [min..max] (goal >= 0.9x); CPU: the server's utime+stime per message (while the other of the pair is loaded too)\n")
	fmt.Fprintf(w, "  switches: the server's threads' context switches per message, voluntary (slept) + involuntary (preempted), from /proc\n")
	fmt.Fprintf(w, "  client: a goroutine per connection (crypto/tls, coder/websocket), its process CPU per message\n\n")
	t := &table{}
	t.add("server", "msgs/s", "vs baseline", "server CPU µs/msg", "p50 µs", "p99 µs", "allocs/msg", "syscalls/msg", "switches/msg", "client CPU µs/msg")
	t.add("-")
	for _, n := range secureOrder {
		rs, ok := res.secure[n]
		if !ok {
			continue
		}
		vs := "-"
		if base, ok := secureBaseline[n]; ok {
			if brs, ok := res.securePair[n]; ok {
				vs = pairedRatio(rs, brs, func(r echoRound) float64 { return r.rate }) + " of " + base
			}
		}
		t.add(n,
			f0(medianOf(rs, func(r echoRound) float64 { return r.rate })),
			vs,
			fmtF(us(time.Duration(medianOf(rs, func(r echoRound) float64 { return float64(r.cpuPerMsg) }))), 2),
			durUS(medianOf(rs, func(r echoRound) float64 { return float64(r.p50) })),
			durUS(medianOf(rs, func(r echoRound) float64 { return float64(r.p99) })),
			fmtF(medianOf(rs, func(r echoRound) float64 { return r.mallocs }), 1),
			fmtF(res.securePerf[n].perMsg(""), 2),
			fmt.Sprintf("%.3f+%.3f", medianOf(rs, func(r echoRound) float64 { return r.volSwitches }), medianOf(rs, func(r echoRound) float64 { return r.involSwitches })),
			fmtF(us(time.Duration(medianOf(rs, func(r echoRound) float64 { return float64(r.clientCPU) }))), 2),
		)
	}
	t.write(w)
	fmt.Fprintln(w)
	if len(res.securePerf) > 0 {
		fmt.Fprintf(w, "syscalls of the TLS and WebSocket servers by perf stat, raw_syscalls:sys_enter (calls per echoed message, unslowed):\n")
		writeSyscalls(w, secureOrder, res.securePerf)
		fmt.Fprintln(w)
	}
}
