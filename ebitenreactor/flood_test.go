//go:build unix

package ebitenreactor_test

// The flood: a game that listens on TCP (core's listener) and handles
// length-prefixed messages (core/framing) with real work per message,
// while peers — by default in a process of their own — send 16–128-byte
// messages as fast as they can. It is issue 9's reproduction, and both
// TestDrainStaysInBudgetUnderFlood and BenchmarkDrainUnderFlood run it.
//
// Environment (all optional):
//
//	FLOOD_CONNS=32        connections
//	FLOOD_SECONDS=10      how long the peers send
//	FLOOD_WARM_MS=500     ticks this long after the peers start are not measured
//	FLOOD_WORK_NS=2000    work per message (a hash loop calibrated to this)
//	FLOOD_EXTERNAL=1      peers in another process (0: goroutines in this one)
//	FLOOD_PEER_NICE=n     run the peer process under nice -n n
//	FLOOD_BUDGET_US=n     a fixed drain budget (default: a quarter of a tick)
//	FLOOD_SOCKBUF=n       SO_RCVBUF of the game's sockets and SO_SNDBUF of the
//	                      peers' (default: the kernel's, autotuned); smaller
//	                      buffers bound the backlog left when the peers stop
//	FLOOD_CLEAR_LIMIT_S=40 how long the backlog may take to clear (the
//	                      whole child process must end within 80 s)

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/ebitenreactor"
	"github.com/threadedselect/reactor/internal/testutil"
)

// Message sizes of the flood: payloads of 16 to 128 bytes, each beginning
// with the connection's message number (little-endian uint32), so the game
// sees at once a message lost, repeated or out of order.
const (
	floodMinMsg = 16
	floodMaxMsg = 128
)

// floodChunk is a run of whole frames a peer writes again and again,
// renumbering its messages each time: one Write per chunk, so a peer
// stops at a message boundary.
type floodChunk struct {
	buf      []byte
	payloads [][2]int // start and end of each payload in buf
}

func newFloodChunk(seed uint64, size int) *floodChunk {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ch := &floodChunk{}
	payload := make([]byte, floodMaxMsg)
	for len(ch.buf) < size {
		n := floodMinMsg + rng.IntN(floodMaxMsg-floodMinMsg+1)
		for i := range payload[:n] {
			payload[i] = byte(rng.Uint32())
		}
		ch.buf = framing.Append(ch.buf, payload[:n])
		end := len(ch.buf)
		ch.payloads = append(ch.payloads, [2]int{end - n, end})
	}
	return ch
}

// number writes the message numbers from seq on into the chunk's payloads
// and returns the next number.
func (ch *floodChunk) number(seq uint32) uint32 {
	for _, p := range ch.payloads {
		binary.LittleEndian.PutUint32(ch.buf[p[0]:], seq)
		seq++
	}
	return seq
}

// peerSent is what one peer sent.
type peerSent struct {
	Port  int    `json:"port"`  // the peer's local port: the game sees it as the remote port
	Msgs  int64  `json:"msgs"`  // whole messages written
	Bytes int64  `json:"bytes"` // payload bytes of those messages
	Wire  int64  `json:"wire"`  // bytes the socket took, length prefixes included
	CRC   uint32 `json:"crc"`   // CRC-32C of the payloads, in order
	Err   string `json:"err,omitempty"`
}

// floodWrite writes whole chunks of messages to c as fast as it takes
// them until stop is set, then closes c. The deadline bounds a peer whose
// game stopped reading.
func floodWrite(c net.Conn, seed uint64, stop *atomic.Bool, deadline time.Time) peerSent {
	defer c.Close()
	s := peerSent{Port: c.LocalAddr().(*net.TCPAddr).Port}
	ch := newFloodChunk(seed, 32<<10)
	_ = c.SetWriteDeadline(deadline)
	var seq uint32
	for !stop.Load() {
		seq = ch.number(seq)
		k, err := c.Write(ch.buf)
		s.Wire += int64(k)
		if err != nil {
			// A partial chunk: the counts no longer match, which the game
			// side reports; say why here.
			s.Err = err.Error()
			return s
		}
		for _, p := range ch.payloads {
			s.CRC = crc32.Update(s.CRC, crcTable, ch.buf[p[0]:p[1]])
			s.Bytes += int64(p[1] - p[0])
		}
		s.Msgs += int64(len(ch.payloads))
	}
	return s
}

// dialFlood connects n peers to addr, with a send buffer of sockbuf bytes
// if sockbuf > 0.
func dialFlood(addr string, n, sockbuf int) ([]*net.TCPConn, error) {
	conns := make([]*net.TCPConn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		tc := c.(*net.TCPConn)
		if sockbuf > 0 {
			_ = tc.SetWriteBuffer(sockbuf)
		}
		conns = append(conns, tc)
	}
	return conns, nil
}

// runFloodPeers writes to every connection on its own goroutine until stop
// is set, and returns what each sent.
func runFloodPeers(conns []*net.TCPConn, stop *atomic.Bool) []peerSent {
	deadline := time.Now().Add(2 * time.Minute)
	res := make([]peerSent, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = floodWrite(c, uint64(i+1), stop, deadline)
		}()
	}
	wg.Wait()
	return res
}

// spin is the per-message work: a multiplicative hash over the payload's
// first 16 bytes, repeated enough times to take the calibrated time. It
// uses the CPU as real work does (a sleep would not).
type spin struct {
	rounds int
	sink   uint64
}

func (s *spin) do(p []byte) {
	h := s.sink | 1
	b := p[:floodMinMsg]
	for range s.rounds {
		for _, c := range b {
			h = (h ^ uint64(c)) * 1099511628211
		}
	}
	s.sink = h
}

// calibrate sets rounds so that do takes about d, from the fastest of
// several timings (the least disturbed by other threads).
func (s *spin) calibrate(d time.Duration) time.Duration {
	p := make([]byte, floodMinMsg)
	const probe = 2000
	s.rounds = probe
	best := time.Duration(1 << 62)
	for range 30 {
		t0 := time.Now()
		s.do(p)
		best = min(best, time.Since(t0))
	}
	s.rounds = max(1, int(int64(probe)*int64(d)/int64(max(best, 1))))
	// What one call now takes, measured the same way.
	best = time.Duration(1 << 62)
	for range 200 {
		t0 := time.Now()
		s.do(p)
		best = min(best, time.Since(t0))
	}
	return best
}

// floodConn is the game side of one connection: a framing.Handler that
// checks every message and does the work.
type floodConn struct {
	fs    *floodState
	port  int
	msgs  int64
	bytes int64
	crc   uint32
	next  uint32 // the number the next message must carry
	bad   string
	lost  error
}

func (c *floodConn) ConnectionMade(t core.Transport) {
	if a, ok := t.RemoteAddr().(*net.TCPAddr); ok {
		c.port = a.Port
	}
	c.fs.conns = append(c.fs.conns, c)
}

func (c *floodConn) MessageReceived(p []byte) error {
	if len(p) < floodMinMsg || len(p) > floodMaxMsg {
		if c.bad == "" {
			c.bad = fmt.Sprintf("message %d has %d bytes", c.msgs, len(p))
		}
		return nil
	}
	if seq := binary.LittleEndian.Uint32(p); seq != c.next && c.bad == "" {
		c.bad = fmt.Sprintf("message %d carries number %d", c.next, seq)
	}
	c.next++
	c.msgs++
	c.bytes += int64(len(p))
	c.crc = crc32.Update(c.crc, crcTable, p)
	c.fs.work.do(p)
	c.fs.tickMsgs++
	c.fs.tickWire += int64(framing.Size(len(p)))
	return nil
}

func (c *floodConn) ConnectionLost(reason error) {
	c.lost = reason
	c.fs.lost++
	c.fs.lastLost = time.Now()
}

// floodState is the game's side of the flood. Game goroutine only.
type floodState struct {
	work     spin
	conns    []*floodConn
	lost     int
	lastLost time.Time
	tickMsgs int64
	tickWire int64 // bytes of the tick's messages, length prefixes included
}

func (fs *floodState) received() (msgs, bytes int64) {
	for _, c := range fs.conns {
		msgs += c.msgs
		bytes += c.bytes
	}
	return msgs, bytes
}

// listenFlood opens the game's listener on loopback; with sockbuf > 0 its
// receive buffer, which accepted connections inherit, is set to that.
func listenFlood(sockbuf int) (net.Listener, error) {
	lc := net.ListenConfig{}
	if sockbuf > 0 {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, sockbuf)
			})
			return errors.Join(err, serr)
		}
	}
	return lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
}

// floodTick is one measured tick.
type floodTick struct {
	f    ebitenreactor.Frame
	msgs int64 // messages handled in the tick's drain
	wire int64 // and their bytes, length prefixes included
}

// floodScenario runs the flood and measures, over the ticks while the
// peers send (after a warm-up): the drain by the wall clock and by the
// game thread's CPU time against the budget, the ticks per second, the
// messages and bytes taken in; then, after the peers stop, how long the
// backlog takes to clear; and at the end that every message arrived
// intact and in order.
func floodScenario(rep *report) {
	setupWindow("flood")
	conns := envInt("FLOOD_CONNS", 32)
	seconds := envInt("FLOOD_SECONDS", 10)
	warm := time.Duration(envInt("FLOOD_WARM_MS", 500)) * time.Millisecond
	workNS := envInt("FLOOD_WORK_NS", 2000)
	sockbuf := envInt("FLOOD_SOCKBUF", 0)
	clearLimit := time.Duration(envInt("FLOOD_CLEAR_LIMIT_S", 40)) * time.Second
	external := os.Getenv("FLOOD_EXTERNAL") != "0"
	logger := slog.New(&logHandler{rep: rep})

	fs := &floodState{}
	workTook := fs.work.calibrate(time.Duration(workNS))

	r, err := core.New(core.WithLogger(logger))
	if err != nil {
		rep.failf("core.New: %v", err)
		return
	}
	opts := []ebitenreactor.Option{ebitenreactor.WithLogger(logger)}
	if us := envInt("FLOOD_BUDGET_US", 0); us > 0 {
		opts = append(opts, ebitenreactor.WithBudget(time.Duration(us)*time.Microsecond))
	}

	var (
		ext        *externalPeers
		stopLocal  atomic.Bool
		localDone  = make(chan []peerSent, 1)
		startedAt  time.Time
		stoppedAt  time.Time
		stopMsgs   int64
		ticks      int
		win        []floodTick
		g          *ebitenreactor.Game
		addr       string
		port       *core.Port
		clearTook  time.Duration
		failedRun  bool
		startTick  = 10
		peersReady bool
	)
	startPeers := func() {
		startedAt = time.Now()
		if external {
			var err error
			if ext, err = startExternalPeers(addr, conns, sockbuf); err != nil {
				rep.failf("external peers: %v", err)
				failedRun = true
			}
			return
		}
		go func() {
			cs, err := dialFlood(addr, conns, sockbuf)
			if err != nil {
				rep.failf("peers: dial: %v", err)
				localDone <- nil
				return
			}
			localDone <- runFloodPeers(cs, &stopLocal)
		}()
	}
	stopPeers := func() {
		stoppedAt = time.Now()
		stopMsgs, _ = fs.received()
		if ext != nil {
			ext.stop()
		}
		stopLocal.Store(true)
	}

	game := &testGame{w: 320, h: 240}
	game.update = func() error {
		ticks++
		msgs, wire := fs.tickMsgs, fs.tickWire
		fs.tickMsgs, fs.tickWire = 0, 0
		now := time.Now()
		switch {
		case failedRun:
			return errors.New("the flood could not start")
		case ticks == startTick:
			startPeers()
		case startedAt.IsZero():
		case stoppedAt.IsZero():
			if len(fs.conns) == conns {
				peersReady = true
			}
			// Measured: the ticks whose drain began after the warm-up.
			if f := g.LastFrame(); f.At.Sub(startedAt) >= warm {
				win = append(win, floodTick{f: f, msgs: msgs, wire: wire})
			}
			if now.Sub(startedAt) >= time.Duration(seconds)*time.Second {
				stopPeers()
			}
		case clearTook == 0 && fs.lost == len(fs.conns) && len(fs.conns) > 0:
			// Every connection has ended: each delivered everything its
			// peer sent before closing, so the backlog is clear.
			clearTook = fs.lastLost.Sub(stoppedAt)
			rep.event("backlog cleared")
			if err := r.Stop(); err != nil && !errors.Is(err, core.ErrNotRunning) {
				rep.failf("Stop: %v", err)
			}
		case clearTook == 0 && now.Sub(stoppedAt) > clearLimit:
			m, _ := fs.received()
			rep.failf("the backlog did not clear within %v of the peers' stop (%d of %d connections ended, %d messages taken since)",
				clearLimit, fs.lost, len(fs.conns), m-stopMsgs)
			// The peers may still be blocked writing their last chunk:
			// end them, so that the run ends in bounded time.
			if ext != nil {
				ext.kill()
			}
			return errors.New("scenario timed out")
		}
		return nil
	}

	g, err = ebitenreactor.Wrap(game, r, opts...)
	if err != nil {
		rep.failf("Wrap: %v", err)
		return
	}
	ln, err := listenFlood(sockbuf)
	if err != nil {
		rep.failf("listen: %v", err)
	} else {
		addr = ln.Addr().String()
		port, err = r.AdoptListener(ln, core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
			return framing.NewProtocol(&floodConn{fs: fs}, floodMaxMsg), nil
		}))
		if err != nil {
			rep.failf("AdoptListener: %v", err)
			failedRun = true
		}
		if _, err := r.AddSystemEventTrigger(core.Before, core.Shutdown, func() <-chan struct{} {
			_ = port.StopListening()
			return nil
		}); err != nil {
			rep.failf("AddSystemEventTrigger: %v", err)
		}
	}
	if addr == "" {
		failedRun = true
	}
	runErr := g.Finish(ebiten.RunGame(g.EbitenGame()))
	if runErr != nil && !failedRun {
		rep.failf("run returned %v", runErr)
	}
	if stoppedAt.IsZero() && !startedAt.IsZero() {
		stopPeers()
	}

	// What the peers sent.
	var sent []peerSent
	switch {
	case ext != nil:
		sent, err = ext.finish()
		if err != nil {
			rep.failf("external peers: %v", err)
		}
	case !external && !startedAt.IsZero():
		select {
		case sent = <-localDone:
		case <-time.After(30 * time.Second):
			rep.failf("the peers did not finish")
		}
	}
	floodCompare(rep, conns, sent, fs)
	floodMetrics(rep, win, fs, floodRun{
		conns: conns, seconds: seconds, external: external, peersReady: peersReady,
		work: workTook, workTarget: time.Duration(workNS), clear: clearTook, sockbuf: sockbuf,
	})
	floodLeaks(rep, r)
}

// floodCompare checks that each connection received exactly what its peer
// sent, in order, and ended cleanly; it reports the totals.
func floodCompare(rep *report, conns int, sent []peerSent, fs *floodState) {
	if len(sent) != conns {
		rep.failf("%d peers reported, want %d", len(sent), conns)
	}
	if len(fs.conns) != conns {
		rep.failf("the game accepted %d connections, want %d", len(fs.conns), conns)
	}
	byPort := map[int]*floodConn{}
	for _, c := range fs.conns {
		byPort[c.port] = c
		if c.bad != "" {
			rep.failf("connection from port %d: %s", c.port, c.bad)
		}
		if !errors.Is(c.lost, core.ErrConnectionDone) {
			rep.failf("connection from port %d: lost with %v, want a clean end of stream", c.port, c.lost)
		}
	}
	var sMsgs, sBytes, sWire, rMsgs, rBytes int64
	crcEqual := len(sent) == conns
	for _, s := range sent {
		sMsgs += s.Msgs
		sBytes += s.Bytes
		sWire += s.Wire
		if s.Err != "" {
			rep.failf("peer on port %d: write: %s", s.Port, s.Err)
		}
		c := byPort[s.Port]
		if c == nil {
			rep.failf("peer on port %d: the game has no connection from it", s.Port)
			crcEqual = false
			continue
		}
		if c.msgs != s.Msgs || c.bytes != s.Bytes || c.crc != s.CRC {
			rep.failf("peer on port %d: sent %d messages (%d bytes, crc %08x), the game received %d (%d bytes, crc %08x)",
				s.Port, s.Msgs, s.Bytes, s.CRC, c.msgs, c.bytes, c.crc)
			crcEqual = false
		}
	}
	rMsgs, rBytes = fs.received()
	rep.metric("sent_msgs", float64(sMsgs))
	rep.metric("sent_bytes", float64(sBytes))
	rep.metric("sent_wire_bytes", float64(sWire))
	rep.metric("recv_msgs", float64(rMsgs))
	rep.metric("recv_bytes", float64(rBytes))
	rep.metric("crc_equal", boolMetric(crcEqual))
}

type floodRun struct {
	conns, seconds, sockbuf int
	external, peersReady    bool
	work, workTarget, clear time.Duration
}

// floodMetrics reports the measured window.
func floodMetrics(rep *report, win []floodTick, fs *floodState, run floodRun) {
	rep.metric("conns", float64(run.conns))
	rep.metric("seconds", float64(run.seconds))
	rep.metric("external_peers", boolMetric(run.external))
	rep.metric("sockbuf", float64(run.sockbuf))
	rep.metric("work_ns", float64(run.work))
	rep.metric("work_target_ns", float64(run.workTarget))
	rep.metric("backlog_clear_ms", float64(run.clear)/float64(time.Millisecond))
	rep.metric("race", boolMetric(raceEnabled))
	rep.metric("gomaxprocs", float64(runtime.GOMAXPROCS(0)))
	if !run.peersReady {
		rep.failf("not every peer connected while the peers were sending")
	}
	if len(win) < 10 {
		rep.failf("only %d ticks measured", len(win))
		return
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	pct := func(s []time.Duration, p int) time.Duration { return s[min(len(s)-1, len(s)*p/100)] }
	budget := win[0].f.Budget
	limit := budget + 500*time.Microsecond
	elapsed := make([]time.Duration, 0, len(win))
	cpu := make([]time.Duration, 0, len(win))
	var msgs, wire, ran int64
	var cpuSum time.Duration
	var overWall, overCPU, left int
	var over []string
	for _, t := range win {
		elapsed = append(elapsed, t.f.Elapsed)
		cpu = append(cpu, t.f.CPU)
		cpuSum += t.f.CPU
		msgs += t.msgs
		wire += t.wire
		ran += int64(t.f.Ran)
		left = max(left, t.f.Left)
		if t.f.Elapsed > limit {
			overWall++
		}
		if t.f.CPU > limit {
			overCPU++
			if len(over) < 6 {
				over = append(over, fmt.Sprintf("tick %d: drain %v, cpu %v, ran %d, %d messages",
					t.f.Seq, t.f.Elapsed.Round(time.Microsecond), t.f.CPU.Round(time.Microsecond), t.f.Ran, t.msgs))
			}
		}
	}
	if len(over) > 0 {
		rep.event("over budget+0.5ms by CPU time: %s", strings.Join(over, "; "))
	}
	slices.Sort(elapsed)
	slices.Sort(cpu)
	wall := win[len(win)-1].f.At.Sub(win[0].f.At)
	var first, last ebitenreactor.Frame = win[0].f, win[len(win)-1].f
	rep.metric("frames", float64(len(win)))
	rep.metric("budget_us", us(budget))
	rep.metric("drain_p50_us", us(pct(elapsed, 50)))
	rep.metric("drain_p99_us", us(pct(elapsed, 99)))
	rep.metric("drain_max_us", us(elapsed[len(elapsed)-1]))
	rep.metric("drain_cpu_p50_us", us(pct(cpu, 50)))
	rep.metric("drain_cpu_p99_us", us(pct(cpu, 99)))
	rep.metric("drain_cpu_max_us", us(cpu[len(cpu)-1]))
	rep.metric("frames_over_wall", float64(overWall))
	rep.metric("frames_over_cpu", float64(overCPU))
	rep.metric("tps", float64(len(win)-1)/wall.Seconds())
	rep.metric("msgs_per_tick", float64(msgs)/float64(len(win)))
	rep.metric("msgs_per_sec", float64(msgs)/wall.Seconds())
	rep.metric("callbacks_per_frame", float64(ran)/float64(len(win)))
	rep.metric("max_left", float64(left))
	if msgs > 0 {
		rep.metric("drain_cpu_per_msg_ns", float64(cpuSum)/float64(msgs))
	}
	// Bytes handled during the window (prefixes included), and bytes the
	// reactor read from the sockets (its counters): a connection's reader
	// stops when its read-ahead is full and starts again once the game has
	// taken all of it, so over a short window the two differ.
	rep.metric("window_bytes_per_sec", float64(wire)/wall.Seconds())
	rep.metric("window_read_bytes_per_sec", float64(last.Stats.BytesIn-first.Stats.BytesIn)/wall.Seconds())
}

// floodLeaks checks, once everything is closed, that the reactor is done,
// no goroutine is left, and the process has no TCP socket open (the game
// has no other).
func floodLeaks(rep *report, r *core.Reactor) {
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		rep.failf("the reactor's Done was not closed within 5s of the end")
	}
	if l := openTCPSockets(); len(l) > 0 {
		rep.res.Leaks += fmt.Sprintf("TCP sockets left open: %v; ", l)
	}
	if err := goleak.Find(); err != nil {
		rep.res.Leaks += err.Error()
	}
}

// openTCPSockets lists this process's descriptors that are TCP sockets:
// those whose inode /proc/net/tcp or tcp6 lists.
func openTCPSockets() []string {
	tcp := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if fields := strings.Fields(line); len(fields) > 9 {
				tcp[fields[9]] = true
			}
		}
	}
	fds, ok := testutil.OpenFds()
	if !ok {
		return []string{"cannot read /proc/self/fd"}
	}
	var out []string
	for fd, link := range fds {
		ino, ok := strings.CutPrefix(link, "socket:[")
		if !ok {
			continue
		}
		if ino = strings.TrimSuffix(ino, "]"); tcp[ino] && ino != "0" {
			out = append(out, "fd "+fd+" "+link)
		}
	}
	sort.Strings(out)
	return out
}

// floodPeersEnv is the environment of the peer process.
func floodPeersEnv(addr string, conns, sockbuf int) []string {
	return []string{
		scenarioEnv + "=floodpeers",
		"FLOOD_ADDR=" + addr,
		"FLOOD_CONNS=" + strconv.Itoa(conns),
		"FLOOD_SOCKBUF=" + strconv.Itoa(sockbuf),
	}
}
