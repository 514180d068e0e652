//go:build unix

package core

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// A model-based test of the stream transports. rapid generates a program
// (writes and vectored writes of sizes from 0 to 1 MiB, read pauses,
// write-buffer limits, a streaming or a pull Producer, LoseConnection,
// AbortConnection), a setting (which side dials, half-close, read-ahead,
// send buffer, queue limit, back-pressure) and a peer: a Go net.Conn (a
// TCP socket, a net.Pipe end, a *tls.Conn, a WebSocket) that reads at
// random rates, stops reading for a while, sends, half-closes or resets,
// as far as its kind can (connCaps). The program runs on the reactor's main
// thread against a real connection; the peer on goroutines of its own. Content is a
// seeded pattern, so both ends check every byte. The model keeps what the
// transport accepted and checks, during the run and at its end:
//
//   - the peer receives exactly the bytes Write/Writev accepted, in order,
//     then end of stream; a prefix of them if the program aborted, the peer
//     reset or the queue limit was passed; never a clean end of stream
//     before the last one (except where an abortive end has no other way
//     to show: connCaps.AbortSeen);
//   - ConnectionLost runs exactly once, with a reason that fits what
//     happened (ErrConnectionDone after a LoseConnection, and then every
//     accepted byte was sent; ErrAborted after an abort; ErrConnectionReset
//     after a peer reset; ErrWriteQueueFull after a Write past the limit),
//     and no callback runs after it;
//   - Write's contract: n < len(p) only with an error matching ErrClosed;
//     an error after LoseConnection, AbortConnection or ConnectionLost
//     (carrying ConnectionLost's reason) and from the first failure on;
//   - a Producer is paused above the high-water mark, resumed at the
//     low-water mark (never inside the program's own Write), alternately,
//     and never left paused with nothing queued;
//   - memory stays bounded: Stats().Unread never exceeds WithMaxUnread plus
//     one 64 KiB chunk, Stats().Queued never exceeds WithMaxQueued, nothing
//     stays counted as queued once the connection is lost, and
//     WithBackpressure holds DataReceived while the queue is above the
//     high-water mark;
//   - what the peer sends arrives in order, all of it before
//     ReadConnectionLost.
//
// It runs over every kind of connection (conn_kinds_test.go: TCP, an
// adopted net.Pipe end, TLS, WebSocket), each case fitted to what the kind
// can express (connCaps). make test runs connKind.checks cases per kind,
// backend and driver (modelChecks on TCP, fewer on the others); make soak many
// more (-rapid.checks=N, or RAPID_CHECKS=N, selects the count). A failure
// prints the case as rapid shrank it, the program's last events and what
// the peer did. Timing varies from run to run, so rapid may call a failure
// flaky when its rerun passes: the first failure's report stands.

const (
	// modelPatternLen is the period of the content written: odd, so that
	// no lost or repeated block of a power-of-two size lines up with it.
	modelPatternLen = 1<<20 + 7
	// modelDeadline bounds one case; a case that needs longer has hung.
	modelDeadline = 12 * time.Second
	// modelLinger bounds a LoseConnection (WithLinger): far more than a
	// case's flush needs, shorter than the default so that a connection
	// left waiting for the peer's end of stream does not cost 5 s.
	modelLinger = 3 * time.Second
	// modelChecks is the number of cases per backend and driver when the
	// command line does not say (-rapid.checks, RAPID_CHECKS); make soak
	// runs many more.
	modelChecks = 40
	// modelShrinkTime bounds how long rapid looks for a smaller failing
	// case, unless -rapid.shrinktime says.
	modelShrinkTime = 10 * time.Second
	// maxViolations bounds what one case reports.
	maxViolations = 12
	// maxChunks bounds the writes of one producer step (the race detector
	// makes a million one-byte writes take longer than a case may).
	maxChunks = 2048
)

// tester is what *testing.T and *rapid.T share and a case needs.
type tester interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// mop is a program step.
type mop uint8

const (
	opWrite  mop = iota // Write n bytes
	opWritev            // Writev of len(sizes) buffers
	opPause             // the transport's PauseProducing: stop reading from the peer
	opResume            // the transport's ResumeProducing
	opLimits            // SetWriteBufferLimits(a, b)
	opWait              // let the reactor run for d before the next step
	opStream            // a streaming Producer: chunks of a bytes from timer ticks while resumed, n in all
	opPull              // a pull Producer: chunks of a bytes from ResumeProducing (bursts of at least b, all if b < 0), n in all
	opLose              // LoseConnection
	opAbort             // AbortConnection
)

// mstep is one step of the program.
type mstep struct {
	op    mop
	n     int
	a, b  int
	sizes []int
	d     time.Duration
	await bool // opStream, opPull: the next step waits for the last byte
	lose  bool // opPull: LoseConnection right after the last byte, inside ResumeProducing
}

// GoString makes rapid's report of a failing program readable.
func (s mstep) GoString() string {
	w := ""
	if s.await {
		w = ", await"
	}
	switch s.op {
	case opWrite:
		return fmt.Sprintf("write(%d)", s.n)
	case opWritev:
		return fmt.Sprintf("writev%v", s.sizes)
	case opPause:
		return "pauseReading"
	case opResume:
		return "resumeReading"
	case opLimits:
		return fmt.Sprintf("limits(high=%d, low=%d)", s.a, s.b)
	case opWait:
		return fmt.Sprintf("wait(%v)", s.d)
	case opStream:
		return fmt.Sprintf("stream(chunk=%d, total=%d%s)", s.a, s.n, w)
	case opPull:
		l := ""
		if s.lose {
			l = ", then LoseConnection"
		}
		b := fmt.Sprint(s.b)
		if s.b < 0 {
			b = "all"
		}
		return fmt.Sprintf("pull(chunk=%d, burst=%s, total=%d%s%s)", s.a, b, s.n, w, l)
	case opLose:
		return "loseConnection"
	case opAbort:
		return "abortConnection"
	}
	return fmt.Sprintf("op%d", s.op)
}

// pop is a step of the peer's reader.
type pop uint8

const (
	peerRead  pop = iota // read n bytes with a buffer of a bytes
	peerStall            // stop reading for d
	peerReset            // SO_LINGER 0 and Close: the connection is reset
)

type pstep struct {
	op pop
	n  int
	a  int
	d  time.Duration
}

func (s pstep) GoString() string {
	switch s.op {
	case peerRead:
		return fmt.Sprintf("read(%d, buf=%d)", s.n, s.a)
	case peerStall:
		return fmt.Sprintf("stall(%v)", s.d)
	case peerReset:
		return "reset"
	}
	return fmt.Sprintf("peerop%d", s.op)
}

// peerScript is what the peer does: its reader runs steps, then (unless it
// reset) reads with drainBuf until end of stream and closes; its sender
// sends the sizes in send, then half-closes if closeWrite.
type peerScript struct {
	steps      []pstep
	drainBuf   int
	send       []int
	closeWrite bool
}

func (p peerScript) GoString() string {
	return fmt.Sprintf("peer{reader: %#v, then drain(buf=%d); sender: %v, closeWrite=%v}", p.steps, p.drainBuf, p.send, p.closeWrite)
}

// modelConfig is the case's setting.
type modelConfig struct {
	dial       bool          // the reactor dials the peer; else the peer dials the reactor's port
	halfClose  bool          // the protocol implements HalfCloseProtocol
	producer   bool          // the protocol implements Producer
	inMade     bool          // the first step runs inside ConnectionMade
	maxUnread  int           // WithMaxUnread; 0: the default
	peerRcvBuf int           // the peer's SO_RCVBUF; 0: the default
	sndBuf     int           // WithSendBuffer; 0: the default
	maxQueued  int           // WithMaxQueued; 0: the default (DefaultMaxQueued), < 0: no limit
	backpress  bool          // WithBackpressure
	linger     time.Duration // WithLinger; 0: modelLinger
	deadline   time.Duration // how long the case may take; 0: modelDeadline
	timeoutOK  bool          // the peer stops reading for longer than the linger time: ErrTimeout is right
	rotOut     int           // where in the pattern the program's bytes start
	rotIn      int           // where in the pattern the peer's bytes start
}

func (c modelConfig) GoString() string {
	return fmt.Sprintf("config{dial=%v halfClose=%v producer=%v inMade=%v maxUnread=%d peerRcvBuf=%d sndBuf=%d maxQueued=%d backpressure=%v}",
		c.dial, c.halfClose, c.producer, c.inMade, c.maxUnread, c.peerRcvBuf, c.sndBuf, c.maxQueued, c.backpress)
}

// modelProgram is a whole case.
type modelProgram struct {
	cfg   modelConfig
	steps []mstep
	peer  peerScript
}

// Generators. Sizes are spread evenly over orders of magnitude, from
// empty to limit (rapid leans towards the low end of any range, so a plain
// range would hardly ever give a large size); rapid shrinks them towards
// zero.

func sizeGen(limit int) *rapid.Generator[int] {
	return rapid.Custom(func(t *rapid.T) int {
		e := rapid.IntRange(0, bits.Len(uint(limit))).Draw(t, "magnitude")
		if e == 0 {
			return 0
		}
		lo := min(1<<(e-1), limit)
		return rapid.IntRange(lo, min(1<<e-1, limit)).Draw(t, "size")
	})
}

func configGen() *rapid.Generator[modelConfig] {
	return rapid.Custom(func(t *rapid.T) modelConfig {
		return modelConfig{
			dial:       rapid.Bool().Draw(t, "dial"),
			halfClose:  rapid.Bool().Draw(t, "halfClose"),
			producer:   rapid.Bool().Draw(t, "producer"),
			inMade:     rapid.Bool().Draw(t, "inMade"),
			maxUnread:  rapid.SampledFrom([]int{0, 1, 4 << 10, 64 << 10, 200 << 10}).Draw(t, "maxUnread"),
			peerRcvBuf: rapid.SampledFrom([]int{0, 4 << 10, 64 << 10}).Draw(t, "peerRcvBuf"),
			sndBuf:     rapid.SampledFrom([]int{0, 4 << 10, 64 << 10}).Draw(t, "sndBuf"),
			maxQueued:  rapid.SampledFrom([]int{0, 0, -1, 64 << 10, 1 << 20, 4 << 20}).Draw(t, "maxQueued"),
			backpress:  rapid.Bool().Draw(t, "backpressure"),
			rotOut:     rapid.IntRange(0, modelPatternLen-1).Draw(t, "rotOut"),
			rotIn:      rapid.IntRange(0, modelPatternLen-1).Draw(t, "rotIn"),
		}
	})
}

func stepGen(producer bool) *rapid.Generator[mstep] {
	ops := []mop{opWrite, opWrite, opWrite, opWritev, opWritev, opPause, opResume, opLimits, opWait, opWait}
	if producer {
		ops = append(ops, opStream, opStream, opPull, opPull)
	}
	return rapid.Custom(func(t *rapid.T) mstep {
		s := mstep{op: rapid.SampledFrom(ops).Draw(t, "op")}
		switch s.op {
		case opWrite:
			s.n = sizeGen(1<<20).Draw(t, "n")
		case opWritev:
			s.sizes = rapid.SliceOfN(sizeGen(1<<20), 0, 4).Draw(t, "sizes")
		case opLimits:
			s.a = sizeGen(1<<20).Draw(t, "high")
			s.b = sizeGen(1<<20).Draw(t, "low")
		case opWait:
			s.d = rapid.SampledFrom([]time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond}).Draw(t, "d")
		case opStream:
			s.a = rapid.IntRange(1, 256<<10).Draw(t, "chunk")
			s.n = sizeGen(4<<20).Draw(t, "total")
			s.a = max(s.a, s.n/maxChunks) // a bounded number of writes
			s.await = rapid.Bool().Draw(t, "await")
		case opPull:
			s.a = rapid.IntRange(1, 1<<20).Draw(t, "chunk")
			s.b = rapid.OneOf(rapid.Just(0), rapid.Just(-1), sizeGen(1<<20)).Draw(t, "burst")
			s.n = sizeGen(4<<20).Draw(t, "total")
			s.a = max(s.a, s.n/maxChunks)
			s.await = rapid.Bool().Draw(t, "await")
			s.lose = rapid.Bool().Draw(t, "lose")
		}
		return s
	})
}

// afterGen makes the steps after the program's LoseConnection or
// AbortConnection: writes that must fail, a late abort, waits.
func afterGen() *rapid.Generator[mstep] {
	return rapid.Custom(func(t *rapid.T) mstep {
		s := mstep{op: rapid.SampledFrom([]mop{opWrite, opWritev, opWait, opAbort, opLose}).Draw(t, "op")}
		switch s.op {
		case opWrite:
			s.n = sizeGen(64<<10).Draw(t, "n")
		case opWritev:
			s.sizes = rapid.SliceOfN(sizeGen(64<<10), 0, 3).Draw(t, "sizes")
		case opWait:
			s.d = rapid.SampledFrom([]time.Duration{0, time.Millisecond, 5 * time.Millisecond}).Draw(t, "d")
		}
		return s
	})
}

func peerGen() *rapid.Generator[peerScript] {
	step := rapid.Custom(func(t *rapid.T) pstep {
		s := pstep{op: rapid.SampledFrom([]pop{peerRead, peerRead, peerRead, peerStall, peerStall, peerReset}).Draw(t, "op")}
		switch s.op {
		case peerRead:
			s.n = sizeGen(2<<20).Draw(t, "n")
			s.a = rapid.OneOf(rapid.IntRange(1, 1024), rapid.IntRange(1024, 256<<10)).Draw(t, "buf")
			s.n = min(s.n, 64*s.a) // a slow reader reads little
		case peerStall:
			s.d = rapid.SampledFrom([]time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond}).Draw(t, "d")
		}
		return s
	})
	return rapid.Custom(func(t *rapid.T) peerScript {
		p := peerScript{
			steps:      rapid.SliceOfN(step, 0, 8).Draw(t, "reader"),
			drainBuf:   rapid.IntRange(4<<10, 256<<10).Draw(t, "drainBuf"),
			send:       rapid.SliceOfN(sizeGen(256<<10), 0, 4).Draw(t, "send"),
			closeWrite: rapid.Bool().Draw(t, "closeWrite"),
		}
		for i, s := range p.steps {
			if s.op == peerReset {
				p.steps = p.steps[:i+1] // nothing after a reset
				break
			}
		}
		return p
	})
}

// programGen makes cases that kind can run (connCaps.fit).
func programGen(caps connCaps) *rapid.Generator[modelProgram] {
	return rapid.Custom(func(t *rapid.T) modelProgram {
		cfg := configGen().Draw(t, "config")
		steps := rapid.SliceOfN(stepGen(cfg.producer), 0, 12).Draw(t, "steps")
		// The end: LoseConnection, AbortConnection, or (a Producer) a last
		// pull that calls LoseConnection after its last byte, the way a
		// producer that has sent everything ends its connection.
		ends := []mop{opLose, opLose, opAbort}
		if cfg.producer {
			ends = append(ends, opPull, opPull)
		}
		end := mstep{op: rapid.SampledFrom(ends).Draw(t, "end")}
		if end.op == opPull {
			end = mstep{op: opPull, lose: true, await: true,
				a: rapid.IntRange(1, 1<<20).Draw(t, "chunk"),
				b: rapid.OneOf(rapid.Just(0), rapid.Just(-1), sizeGen(1<<20)).Draw(t, "burst"),
				n: sizeGen(4<<20).Draw(t, "total")}
			end.a = max(end.a, end.n/maxChunks)
		}
		steps = append(steps, end)
		steps = append(steps, rapid.SliceOfN(afterGen(), 0, 3).Draw(t, "after")...)
		return caps.fit(modelProgram{cfg: cfg, steps: steps, peer: peerGen().Draw(t, "peer")})
	})
}

func (p modelProgram) GoString() string {
	return fmt.Sprintf("%#v\nprogram: %#v\n%#v", p.cfg, p.steps, p.peer)
}

// modelPattern is the content both sides write: the byte at stream offset
// i is pat[(rot+i) % len(pat)].
func modelPattern() []byte {
	pat := make([]byte, modelPatternLen)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < len(pat); i += 8 {
		v := rng.Uint64()
		for j := i; j < min(i+8, len(pat)); j++ {
			pat[j] = byte(v)
			v >>= 8
		}
	}
	return pat
}

// fillPattern fills dst with the content at stream offset off.
func fillPattern(pat, dst []byte, rot int, off int64) {
	pos := int((int64(rot) + off) % int64(len(pat)))
	for len(dst) > 0 {
		n := copy(dst, pat[pos:])
		dst = dst[n:]
		pos = 0
	}
}

// matchPattern reports the index of the first byte of b that differs from
// the content at stream offset off, or -1.
func matchPattern(pat, b []byte, rot int, off int64) int {
	pos := int((int64(rot) + off) % int64(len(pat)))
	done := 0
	for done < len(b) {
		n := min(len(b)-done, len(pat)-pos)
		seg, want := b[done:done+n], pat[pos:pos+n]
		if string(seg) != string(want) {
			for i := range seg {
				if seg[i] != want[i] {
					return done + i
				}
			}
		}
		done += n
		pos = 0
	}
	return -1
}

// model is the program's side of a case: main-thread state only, except
// the few atomics the peer sets.
type model struct {
	r     *Reactor
	h     *harness
	caps  connCaps // what the kind of connection can do
	cfg   modelConfig
	steps []mstep
	pat   []byte
	tr    Transport
	buf   []byte

	// The program.
	next     int
	progDone bool
	waiting  string // what the program is waiting for
	stream   struct {
		active, ticking, await bool
		chunk, total, done     int
	}
	pull struct {
		active, await, lose, in   bool
		chunk, burst, total, done int
	}
	high, low int
	stopped   bool

	// What the model saw.
	accepted     int64 // bytes Write/Writev accepted: what the peer must receive
	writes       int
	writeErr     error  // the first error a Write returned
	closedReason error  // the Reason of the first *ClosedError a Write returned
	abortLate    bool   // the program aborted after a Write had failed
	mayQueueFull bool   // a Write would have passed the queue limit
	queueFull    bool   // a Write failed with ErrWriteQueueFull
	bpExpected   bool   // back-pressure must be holding delivery while Queued > high
	inCall       string // the transport method the program is in, if any
	stuck        string // where the case was when its deadline passed
	queuedStep   bool   // a producer step waits for the running producer's end
	stopWriting  bool   // a producer's write failed or came up short: producers stop
	loseCalled   bool   // the program called LoseConnection before ConnectionLost
	abortCalled  bool   // the program called AbortConnection before ConnectionLost
	prodPaused   bool
	pauses       int
	resumes      int
	made         int
	lost         int
	reason       error
	lostStats    ConnStats
	readLost     bool
	recvAtHalf   int64
	recv         int64 // bytes from the peer, in order
	peerDone     bool
	connectErr   error        // ConnectionFailed's
	peerSent     atomic.Int64 // bytes the peer's sender wrote
	peerResetNow atomic.Bool  // the peer is resetting or has reset
	violations   []string
	trace        []string
}

func (m *model) violate(format string, args ...any) {
	if len(m.violations) < maxViolations {
		m.violations = append(m.violations, fmt.Sprintf(format, args...))
	}
}

// note keeps the last events, printed with a failure.
func (m *model) note(format string, args ...any) {
	const keep = 40
	if len(m.trace) == keep {
		copy(m.trace, m.trace[1:])
		m.trace = m.trace[:keep-1]
	}
	m.trace = append(m.trace, fmt.Sprintf(format, args...))
}

func (m *model) queued() int {
	if m.tr == nil {
		return 0
	}
	return m.tr.Stats().Queued
}

// checkBounds checks the memory bounds, at every step and callback.
func (m *model) checkBounds(where string) {
	if m.tr == nil {
		return
	}
	st := m.tr.Stats()
	limit := m.cfg.maxUnread
	if limit == 0 {
		limit = defaultConnConfig().maxUnread
	}
	if st.Unread > limit+chunkSize {
		m.violate("%s: Stats().Unread = %d, above WithMaxUnread(%d) + one chunk", where, st.Unread, limit)
	}
	if st.Queued < 0 || st.Unread < 0 {
		m.violate("%s: negative counters: %+v", where, st)
	}
	if q := m.maxQueued(); q > 0 && st.Queued > q {
		m.violate("%s: Stats().Queued = %d, above WithMaxQueued(%d)", where, st.Queued, q)
	}
}

// maxQueued is the connection's limit on unsent bytes, 0 for none.
func (m *model) maxQueued() int {
	switch q := m.cfg.maxQueued; {
	case q == 0:
		return DefaultMaxQueued
	case q < 0:
		return 0
	default:
		return q
	}
}

// buffer returns n bytes of scratch space.
func (m *model) buffer(n int) []byte {
	if cap(m.buf) < n {
		m.buf = make([]byte, n)
	}
	return m.buf[:n]
}

// write writes the next bytes of the program's stream with Write (one
// size) or Writev, and checks what it returns.
func (m *model) write(vec bool, sizes ...int) (int, error) {
	total := 0
	for _, s := range sizes {
		total += s
	}
	buf := m.buffer(total)
	fillPattern(m.pat, buf, m.cfg.rotOut, m.accepted)
	before := m.queued()
	var n int
	var err error
	m.writes++
	if vec {
		bufs := make([][]byte, len(sizes))
		off := 0
		for i, s := range sizes {
			bufs[i] = buf[off : off+s : off+s]
			off += s
		}
		m.inCall = "Writev"
		n, err = m.tr.Writev(bufs...)
	} else {
		m.inCall = "Write"
		n, err = m.tr.Write(buf)
	}
	m.inCall = ""
	clear(buf) // Write copies p: the caller may reuse it at once
	what := "Write"
	if vec {
		what = "Writev"
	}
	m.note("%s(%d) = %d, %v (queued %d -> %d)", what, total, n, err, before, m.queued())
	switch {
	case n < 0 || n > total:
		m.violate("%s(%d bytes) returned n = %d", what, total, n)
		n = max(0, min(n, total))
	case n < total && err == nil:
		m.violate("%s(%d bytes) = %d, nil: a short write must return an error (io.Writer)", what, total, n)
	}
	limit := m.maxQueued()
	over := limit > 0 && before+total > limit
	m.mayQueueFull = m.mayQueueFull || over
	if m.writeErr == nil && errors.Is(err, ErrWriteQueueFull) {
		m.queueFull = true
		if !over {
			m.violate("%s(%d bytes) with %d queued failed with %v, though the limit is %d", what, total, before, err, limit)
		}
	}
	if err == nil {
		switch {
		case m.lost > 0:
			m.violate("%s(%d bytes) after ConnectionLost(%v) returned no error", what, total, m.reason)
		case m.loseCalled:
			m.violate("%s(%d bytes) after LoseConnection returned no error", what, total)
		case m.abortCalled:
			m.violate("%s(%d bytes) after AbortConnection returned no error", what, total)
		case m.writeErr != nil:
			m.violate("%s(%d bytes) succeeded after an earlier write failed with %v", what, total, m.writeErr)
		}
	} else {
		if !errors.Is(err, ErrClosed) {
			m.violate("%s failed with %v, which is not ErrClosed", what, err)
		}
		if m.lost > 0 && !errors.Is(err, m.reason) {
			m.violate("%s after ConnectionLost(%v) failed with %v, which does not carry the reason", what, m.reason, err)
		}
		var ce *ClosedError
		if m.closedReason == nil && errors.As(err, &ce) {
			m.closedReason = ce.Reason
		}
		if m.writeErr == nil {
			m.writeErr = err
		}
	}
	if err == nil && n > 0 {
		m.bpExpected = m.cfg.backpress && m.queued() > m.high
	}
	if err != nil {
		m.bpExpected = false // a failed connection delivers what it read, then closes
	}
	m.accepted += int64(n)
	m.checkBounds(what)
	return n, err
}

// run starts the program: the first step now or on the next round.
func (m *model) start() {
	if m.cfg.inMade {
		m.step()
		return
	}
	m.after(0)
}

func (m *model) after(d time.Duration) {
	if _, err := m.r.CallLater(d, m.step); err != nil {
		m.violate("CallLater: %v", err)
	}
}

// step runs the program's next step.
func (m *model) step() {
	m.checkIdleProducer()
	if m.next == len(m.steps) {
		if m.lost == 0 && !m.loseCalled && !m.abortCalled {
			// The program's last pull did not get to its LoseConnection
			// (a write failed): end the connection, or the case never ends.
			m.lose()
		}
		m.progDone = true
		m.waiting = ""
		m.maybeStop()
		return
	}
	i := m.next
	s := m.steps[i]
	m.next++
	m.note("step %d: %#v", i, s)
	delay := time.Duration(0)
	switch s.op {
	case opWrite:
		_, _ = m.write(false, s.n)
	case opWritev:
		_, _ = m.write(true, s.sizes...)
	case opPause:
		m.tr.PauseProducing()
	case opResume:
		m.tr.ResumeProducing()
	case opLimits:
		m.tr.SetWriteBufferLimits(s.a, s.b)
		m.high, m.low = s.a, max(min(s.b, s.a), 0)
		m.bpExpected = false
	case opWait:
		delay = s.d
	case opStream:
		if m.stream.active {
			m.note("a stream is still running: this step waits for its end")
			m.next--
			m.queuedStep, m.waiting = true, "the running stream's end"
			return
		}
		st := &m.stream
		st.active, st.await, st.chunk, st.total, st.done = true, s.await, s.a, s.n, 0
		if s.await {
			m.waiting = "the streaming producer"
		}
		m.streamTick()
		if s.await && m.stream.active {
			return // streamEnd continues
		}
	case opPull:
		if m.pull.active {
			m.note("a pull is still running: this step waits for its end")
			m.next--
			m.queuedStep, m.waiting = true, "the running pull's end"
			return
		}
		p := &m.pull
		p.active, p.await, p.lose, p.chunk, p.burst, p.total, p.done = true, s.await, s.lose, s.a, s.b, s.n, 0
		if s.await {
			m.waiting = "the pull producer"
		}
		m.pullRun()
		if s.await && m.pull.active {
			return // pullEnd continues
		}
	case opLose:
		m.lose()
	case opAbort:
		if m.lost == 0 {
			m.abortCalled = true
			m.abortLate = m.writeErr != nil
		}
		m.note("AbortConnection (queued %d)", m.queued())
		if err := m.tr.AbortConnection(); err != nil {
			m.violate("AbortConnection: %v", err)
		}
	}
	m.checkBounds(fmt.Sprintf("after step %d", i))
	m.after(delay)
}

func (m *model) lose() {
	if m.lost == 0 {
		m.loseCalled = true
	}
	m.note("LoseConnection (queued %d)", m.queued())
	if err := m.tr.LoseConnection(); err != nil {
		m.violate("LoseConnection: %v", err)
	}
}

// checkIdleProducer: a producer must not stay paused with nothing queued.
func (m *model) checkIdleProducer() {
	if !m.cfg.producer || !m.prodPaused || m.lost > 0 || m.tr == nil || m.writeErr != nil ||
		m.abortCalled || m.peerResetNow.Load() {
		return
	}
	if q := m.queued(); q == 0 {
		m.violate("the Producer is still paused with nothing queued (%d pauses, %d resumes)", m.pauses, m.resumes)
	}
}

// describe says where the case is.
func (m *model) describe() string {
	return fmt.Sprintf("program at step %d of %d, waiting for %q; ConnectionLost %d; peer done %v; producer paused %v; queued %d",
		m.next, len(m.steps), m.waiting, m.lost, m.peerDone, m.prodPaused, m.queued())
}

// resumeProgram continues the program after what it waited for.
func (m *model) resumeProgram() {
	m.waiting = ""
	m.after(0)
}

// streamTick writes the streaming producer's chunks while it is resumed,
// at most 256 KiB a tick, then comes back on the next round.
func (m *model) streamTick() {
	s := &m.stream
	s.ticking = false
	if !s.active {
		return
	}
	for budget := 256 << 10; !m.prodPaused && s.done < s.total && budget > 0 && !m.stopWriting && m.lost == 0; {
		c := min(s.chunk, s.total-s.done)
		n, err := m.write(false, c)
		s.done += n
		budget -= c
		if err != nil || n < c {
			m.stopWriting = true // a short write without an error was reported already
			break
		}
	}
	if s.done >= s.total || m.stopWriting || m.lost > 0 {
		m.streamEnd()
		return
	}
	if !m.prodPaused {
		m.streamSchedule()
	}
}

func (m *model) streamSchedule() {
	if m.stream.ticking {
		return
	}
	m.stream.ticking = true
	if _, err := m.r.CallLater(0, m.streamTick); err != nil {
		m.violate("CallLater: %v", err)
	}
}

func (m *model) streamEnd() {
	s := &m.stream
	if !s.active {
		return
	}
	s.active = false
	m.note("stream ended: %d of %d bytes", s.done, s.total)
	if s.await || m.queuedStep {
		m.queuedStep = false
		m.resumeProgram()
	}
}

// pullRun writes the pull producer's chunks, unless it is paused: at
// least burst bytes (all of them if burst < 0), then until it is paused,
// until total; then LoseConnection if asked.
func (m *model) pullRun() {
	p := &m.pull
	if !p.active || p.in {
		return
	}
	if m.lost > 0 || m.stopWriting {
		m.pullEnd()
		return
	}
	if m.prodPaused {
		return // ResumeProducing comes back
	}
	p.in = true
	burst := 0
	for p.done < p.total && !m.stopWriting && m.lost == 0 && !(m.prodPaused && p.burst >= 0 && burst >= p.burst) {
		c := min(p.chunk, p.total-p.done)
		n, err := m.write(false, c)
		p.done += n
		burst += n
		if err != nil || n < c {
			m.stopWriting = true
			break
		}
	}
	p.in = false
	if p.done >= p.total && p.lose && m.lost == 0 && !m.loseCalled && !m.abortCalled {
		m.lose()
	}
	if p.done >= p.total || m.stopWriting || m.lost > 0 {
		m.pullEnd()
	}
}

func (m *model) pullEnd() {
	p := &m.pull
	if !p.active {
		return
	}
	p.active = false
	m.note("pull ended: %d of %d bytes", p.done, p.total)
	if p.await || m.queuedStep {
		m.queuedStep = false
		m.resumeProgram()
	}
}

// The protocol's callbacks.

func (m *model) connectionMade(t Transport) {
	m.made++
	if m.made > 1 {
		m.violate("ConnectionMade called %d times", m.made)
		return
	}
	m.tr = t
	m.high, m.low = defaultConnConfig().high, defaultConnConfig().low
	m.note("ConnectionMade")
	m.start()
}

func (m *model) dataReceived(b []byte) {
	if m.lost > 0 {
		m.violate("DataReceived(%d bytes) after ConnectionLost", len(b))
	}
	if m.readLost {
		m.violate("DataReceived(%d bytes) after ReadConnectionLost", len(b))
	}
	if i := matchPattern(m.pat, b, m.cfg.rotIn, m.recv); i >= 0 {
		m.violate("DataReceived: wrong byte at offset %d of the peer's stream", m.recv+int64(i))
	}
	if q := m.queued(); m.bpExpected && q > m.high {
		m.violate("DataReceived(%d bytes) with %d bytes queued, above the high-water mark %d: back-pressure should hold it", len(b), q, m.high)
	}
	m.recv += int64(len(b))
	if sent := m.peerSent.Load(); m.recv > sent {
		m.violate("DataReceived: %d bytes received, the peer sent %d", m.recv, sent)
	}
	m.checkBounds("DataReceived")
}

func (m *model) connectionLost(reason error) {
	m.lost++
	if m.lost > 1 {
		m.violate("ConnectionLost called %d times (now with %v)", m.lost, reason)
		return
	}
	m.reason = reason
	if m.tr != nil {
		m.lostStats = m.tr.Stats()
	}
	m.note("ConnectionLost(%v) stats %+v", reason, m.lostStats)
	if m.lostStats.Queued != 0 {
		m.violate("Stats().Queued = %d in ConnectionLost: nothing can be sent any more", m.lostStats.Queued)
	}
	m.streamEnd()
	m.pullEnd()
	m.maybeStop()
}

func (m *model) readConnectionLost() {
	if m.lost > 0 {
		m.violate("ReadConnectionLost after ConnectionLost")
	}
	if m.readLost {
		m.violate("ReadConnectionLost called twice")
	}
	m.readLost = true
	m.recvAtHalf = m.recv
	m.note("ReadConnectionLost after %d bytes", m.recv)
}

func (m *model) pauseProducing() {
	m.pauses++
	q := m.queued()
	m.note("PauseProducing (queued %d)", q)
	if m.lost > 0 {
		m.violate("PauseProducing after ConnectionLost")
	}
	if m.prodPaused {
		m.violate("PauseProducing while already paused")
	}
	if q <= m.high {
		m.violate("PauseProducing with %d bytes queued, not above the high-water mark %d", q, m.high)
	}
	m.prodPaused = true
}

func (m *model) resumeProducing() {
	m.resumes++
	q := m.queued()
	m.note("ResumeProducing (queued %d)", q)
	if m.inCall != "" {
		m.violate("ResumeProducing inside the program's own %s: %s", m.inCall, debug.Stack())
	}
	if m.lost > 0 {
		m.violate("ResumeProducing after ConnectionLost")
	}
	if !m.prodPaused {
		m.violate("ResumeProducing while not paused")
	}
	if q > m.low {
		m.violate("ResumeProducing with %d bytes queued, above the low-water mark %d", q, m.low)
	}
	m.prodPaused = false
	if m.pull.active {
		m.pullRun()
	}
	if m.stream.active {
		m.streamSchedule()
	}
}

// maybeStop stops the reactor once the connection is gone, the program
// has run and the peer has finished.
func (m *model) maybeStop() {
	if m.stopped || m.lost == 0 || !m.peerDone || !m.progDone {
		return
	}
	m.stopped = true
	if err := m.r.Stop(); err != nil {
		m.violate("Stop: %v", err)
	}
}

// The four protocol types: with or without Producer and HalfCloseProtocol.

type modelProto struct{ m *model }

func (p modelProto) ConnectionMade(t Transport)  { p.m.connectionMade(t) }
func (p modelProto) DataReceived(b []byte)       { p.m.dataReceived(b) }
func (p modelProto) ConnectionLost(reason error) { p.m.connectionLost(reason) }

type modelProducer struct{ modelProto }

func (p modelProducer) PauseProducing()  { p.m.pauseProducing() }
func (p modelProducer) ResumeProducing() { p.m.resumeProducing() }

type modelHalf struct{ modelProto }

func (p modelHalf) ReadConnectionLost() { p.m.readConnectionLost() }

type modelHalfProducer struct{ modelProducer }

func (p modelHalfProducer) ReadConnectionLost() { p.m.readConnectionLost() }

func (m *model) protocol() Protocol {
	base := modelProto{m}
	switch {
	case m.cfg.producer && m.cfg.halfClose:
		return modelHalfProducer{modelProducer{base}}
	case m.cfg.producer:
		return modelProducer{base}
	case m.cfg.halfClose:
		return modelHalf{base}
	}
	return base
}

// The peer.

type peerResult struct {
	got        int64 // bytes read, in order
	bad        int64 // stream offset of the first wrong byte, or -1
	end        error // what ended the reading: io.EOF, a reset, a timeout
	reset      bool  // the peer reset the connection
	halfClosed bool  // the peer's sender shut its side down after sending everything
	sendErr    error
	setupErr   error
	trace      []string
}

// rcvBufControl sets SO_RCVBUF on the peer's socket before it connects.
func rcvBufControl(size int) func(string, string, syscall.RawConn) error {
	if size == 0 {
		return nil
	}
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// runPeer runs the peer's script on c; its sender runs on a goroutine of
// its own, so that a reactor that stops reading never stops the reader.
func (m *model) runPeer(c net.Conn, ps peerScript, deadline time.Time, res *peerResult) {
	_ = c.SetDeadline(deadline)
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		var off int64
		for _, n := range ps.send {
			buf := make([]byte, n)
			fillPattern(m.pat, buf, m.cfg.rotIn, off)
			// Counted before the write, so that DataReceived never sees
			// more than the peer says it sent.
			m.peerSent.Add(int64(n))
			k, err := c.Write(buf)
			off += int64(k)
			if err != nil {
				m.peerSent.Add(int64(k - n))
				res.sendErr = err
				return
			}
		}
		if ps.closeWrite {
			if err := closeWrite(c); err == nil {
				res.halfClosed = true
			} else {
				res.sendErr = err
			}
		}
	}()
	buf := make([]byte, 256<<10)
	read := func(n, size int) bool {
		for n > 0 {
			k, err := c.Read(buf[:min(size, n)])
			if k > 0 {
				if i := matchPattern(m.pat, buf[:k], m.cfg.rotOut, res.got); i >= 0 && res.bad < 0 {
					res.bad = res.got + int64(i)
				}
				res.got += int64(k)
				n -= k
			}
			if err != nil {
				res.end = err
				if err != io.EOF && errors.Is(err, io.EOF) {
					// A connection cut without its close (a WebSocket's
					// TCP connection closed before its close message) is
					// no clean end of stream.
					res.end = fmt.Errorf("end of stream without a clean close: %v", err)
				}
				return false
			}
		}
		return true
	}
	reading := true
	for _, s := range ps.steps {
		if !reading {
			break
		}
		switch s.op {
		case peerRead:
			reading = read(s.n, s.a)
			res.trace = append(res.trace, fmt.Sprintf("read(%d, buf=%d): %d in all", s.n, s.a, res.got))
		case peerStall:
			// A peer that stops reading for a while: this shapes the
			// load; nothing waits on it.
			time.Sleep(s.d)
			res.trace = append(res.trace, fmt.Sprintf("stalled %v", s.d))
		case peerReset:
			m.peerResetNow.Store(true)
			if !resetConn(c) {
				res.setupErr = fmt.Errorf("a %T cannot be reset (the kind's capabilities say it can)", c)
			}
			res.reset = true
			reading = false
			res.trace = append(res.trace, fmt.Sprintf("reset after %d bytes", res.got))
		}
	}
	if reading {
		for read(1<<62, ps.drainBuf) {
		}
		res.trace = append(res.trace, fmt.Sprintf("drained: %d bytes then %v", res.got, res.end))
	}
	_ = c.Close()
	<-sendDone
	// Linux reports a reset once: if the sender's write took it, the
	// reader's next read returns 0 as if the peer had closed cleanly. (A
	// kind that cannot reset closes both ways at once, and a peer still
	// sending then gets a broken pipe after a clean end: no reset.)
	if m.caps.Reset && errors.Is(res.end, io.EOF) && isResetErr(res.sendErr) {
		res.end = fmt.Errorf("end of stream after the sender saw %w", res.sendErr)
	}
}

// runModelCase runs one program against one backend and driver, and
// reports what it found through t.
func runModelCase(t tester, h *harness, k connKind, pat []byte, prog modelProgram) {
	t.Helper()
	prog = k.caps.fit(prog)
	r, err := New(WithBackend(h.backend), WithLogger(slog.New(&logRecorder{t: h.t})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m := &model{r: r, h: h, caps: k.caps, cfg: prog.cfg, steps: prog.steps, pat: pat}
	res := &peerResult{bad: -1}
	caseDeadline := modelDeadline
	if prog.cfg.deadline > 0 {
		caseDeadline = prog.cfg.deadline
	}
	deadline := time.Now().Add(caseDeadline)
	opts := []ListenOption{WithLinger(modelLinger)}
	if prog.cfg.linger > 0 {
		opts[0] = WithLinger(prog.cfg.linger)
	}
	if prog.cfg.maxUnread > 0 {
		opts = append(opts, WithMaxUnread(prog.cfg.maxUnread))
	}
	if prog.cfg.sndBuf > 0 {
		opts = append(opts, WithSendBuffer(prog.cfg.sndBuf))
	}
	if prog.cfg.maxQueued != 0 {
		opts = append(opts, WithMaxQueued(prog.cfg.maxQueued))
	}
	if prog.cfg.backpress {
		opts = append(opts, WithBackpressure())
	}
	built := 0
	build := func(net.Addr) (Protocol, error) {
		if built++; built > 1 {
			m.violate("a second connection was made")
			return nil, errors.New("one connection only")
		}
		return m.protocol(), nil
	}
	peerDone, err := k.open(r, connLink{
		Dial:     prog.cfg.dial,
		RcvBuf:   prog.cfg.peerRcvBuf,
		Deadline: deadline,
		Opts:     opts,
		Build:    build,
		Failed: func(err error) {
			m.connectErr = err
			m.note("ConnectionFailed(%v)", err)
			m.lost, m.progDone = 1, true // nothing more will happen
			m.maybeStop()
		},
		Peer: func(c net.Conn, err error) {
			// Tell the main thread; if the reactor is already gone (the
			// deadline stopped it), there is nobody to tell.
			defer func() { _ = r.CallFromThread(func() { m.peerDone = true; m.maybeStop() }) }()
			if err != nil {
				res.setupErr = err
				return
			}
			m.runPeer(c, prog.peer, deadline, res)
		},
	})
	if err != nil {
		t.Fatalf("%s: connecting: %v", k.name, err)
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(time.Until(deadline), func() {
		timedOut.Store(true)
		r.SetShutdownTimeout(10 * time.Millisecond)
		// Say where the program was, from the main thread, then stop.
		if r.CallFromThread(func() { m.stuck, m.stopped = m.describe(), true; _ = r.Stop() }) != nil {
			_ = r.Stop()
		}
	})
	runErr := h.drv.run(h.t, r)
	timer.Stop()
	<-peerDone

	var v []string
	if timedOut.Load() {
		v = append(v, fmt.Sprintf("the case did not finish within %v: %s", caseDeadline, m.stuck))
	}
	if runErr != nil {
		v = append(v, fmt.Sprintf("%s: %v", h.drv.name, runErr))
	}
	v = append(v, m.violations...)
	v = append(v, m.verdict(res)...)
	if st := r.Stats(); st.Conns != 0 || st.QueuedBytes != 0 {
		v = append(v, fmt.Sprintf("after the run: %d connections, %d bytes queued", st.Conns, st.QueuedBytes))
	}
	if len(v) == 0 {
		return
	}
	t.Logf("events (the last %d):\n  %s", len(m.trace), strings.Join(m.trace, "\n  "))
	t.Logf("peer: %s", strings.Join(res.trace, "; "))
	t.Fatalf("%s/%s: accepted %d bytes, peer received %d then %v; ConnectionLost(%v):\n  %s",
		h.backend, h.drv.name, m.accepted, res.got, res.end, m.reason, strings.Join(v, "\n  "))
}

// verdict checks the end state against the model.
func (m *model) verdict(res *peerResult) []string {
	var v []string
	add := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }
	if res.setupErr != nil {
		// A reset can reach the dialer before it has read the socket's
		// connect status: then the dial reports it.
		if !(m.abortCalled || m.queueFull) || !isResetErr(res.setupErr) {
			add("the peer could not connect: %v", res.setupErr)
			return v
		}
		res.end, res.reset = res.setupErr, false
	}
	if m.connectErr != nil {
		// The peer accepted and reset before the reactor saw its
		// connection complete: the connect fails.
		if !res.reset || !isResetErr(m.connectErr) {
			add("ConnectTCP failed: %v", m.connectErr)
		}
		return v
	}
	if m.made != 1 {
		add("ConnectionMade called %d times", m.made)
		return v
	}
	if m.lost != 1 {
		add("ConnectionLost called %d times, want exactly once", m.lost)
	}
	if res.bad >= 0 {
		add("the peer received a wrong byte at offset %d (bytes lost, repeated or reordered)", res.bad)
	}
	if res.got > m.accepted {
		add("the peer received %d bytes, more than the %d accepted", res.got, m.accepted)
	}
	queueFull := m.queueFull || errors.Is(m.reason, ErrWriteQueueFull)
	timedOut := m.cfg.timeoutOK && errors.Is(m.reason, ErrTimeout)
	// An abortive end shows as a clean end of stream on a kind that has
	// no other way to end (connCaps.AbortSeen); otherwise a clean end of
	// stream means every accepted byte arrived.
	abortive := m.abortCalled || queueFull || timedOut
	if errors.Is(res.end, io.EOF) && res.got != m.accepted && (m.caps.AbortSeen || !abortive) {
		add("the peer saw a clean end of stream after %d of the %d bytes accepted", res.got, m.accepted)
	}
	// Unless someone aborted or reset, every accepted byte arrives, then
	// end of stream.
	if !res.reset && !m.abortCalled && !queueFull && !timedOut && (res.got != m.accepted || !errors.Is(res.end, io.EOF)) {
		add("no abort, reset, full queue or timeout, yet the peer received %d of %d bytes, then %v", res.got, m.accepted, res.end)
	}
	reason := m.reason
	hc := m.cfg.halfClose
	switch {
	case m.lost == 0:
	case reason == nil:
		add("ConnectionLost(nil)")
	case errors.Is(reason, ErrConnectionDone):
		if !m.loseCalled && !(res.halfClosed && !hc) {
			add("ConnectionLost(%v) but nobody asked to close", reason)
		}
		if m.lostStats.BytesOut != uint64(m.accepted) {
			add("ConnectionLost(%v) with %d of %d accepted bytes sent", reason, m.lostStats.BytesOut, m.accepted)
		}
	case errors.Is(reason, ErrAborted):
		if !m.abortCalled {
			add("ConnectionLost(%v) but the program did not abort", reason)
		}
	case errors.Is(reason, ErrWriteQueueFull):
		if !m.mayQueueFull {
			add("ConnectionLost(%v) but no Write passed the limit %d", reason, m.maxQueued())
		}
	case errors.Is(reason, ErrConnectionReset):
		if !res.reset {
			add("ConnectionLost(%v) but the peer did not reset", reason)
		}
	case errors.Is(reason, ErrTimeout):
		if !m.cfg.timeoutOK {
			add("ConnectionLost(%v): the peer never stopped reading for the linger time", reason)
		}
	default:
		add("ConnectionLost(%v): unexpected reason", reason)
	}
	// A Write's *ClosedError carries the reason ConnectionLost gets.
	if m.closedReason != nil && reason != nil && !m.abortLate && reasonKind(m.closedReason) != reasonKind(reason) {
		add("a Write failed with reason %v, ConnectionLost got %v", m.closedReason, reason)
	}
	if m.readLost {
		if !hc {
			add("ReadConnectionLost on a protocol that is not a HalfCloseProtocol")
		}
		// Linux reports a reset once: when a Write took it, the next read
		// returns 0 and the transport takes the reset for a half-close.
		// Tolerated here; it is a fault of its own.
		if !res.halfClosed && !res.reset {
			add("ReadConnectionLost but the peer did not half-close")
		}
		if sent := m.peerSent.Load(); res.halfClosed && m.recvAtHalf != sent {
			add("ReadConnectionLost after %d of the %d bytes the peer sent", m.recvAtHalf, sent)
		}
	}
	return v
}

// reasonKind names the kind of a connection's end.
func reasonKind(err error) string {
	for _, k := range []error{ErrConnectionDone, ErrAborted, ErrWriteQueueFull, ErrConnectionReset, ErrTimeout, ErrShutdown} {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return fmt.Sprint(err)
}

// setRapidDefault sets one of rapid's settings for this test (restored
// after it) unless the command line (-rapid.<name>) or the environment
// (RAPID_<NAME>) says otherwise: make test runs a bounded number of cases,
// make soak passes its own count.
func setRapidDefault(t *testing.T, name, value string) {
	if _, ok := os.LookupEnv("RAPID_" + strings.ToUpper(name)); ok {
		return
	}
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(strings.TrimLeft(a, "-"), "rapid."+name) {
			return
		}
	}
	f := flag.Lookup("rapid." + name)
	if f == nil {
		t.Fatalf("rapid registers no -rapid.%s flag", name)
	}
	old := f.Value.String()
	must(t, f.Value.Set(value))
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

func TestStreamModel(t *testing.T) {
	setRapidDefault(t, "shrinktime", modelShrinkTime.String())
	// No fail files in the source tree; the report gives -rapid.seed.
	setRapidDefault(t, "nofailfile", "true")
	pat := modelPattern()
	for _, k := range connKinds {
		t.Run(k.name, func(t *testing.T) {
			setRapidDefault(t, "checks", strconv.Itoa(k.checks))
			forEach(t, func(t *testing.T, h *harness) {
				rapid.Check(t, func(rt *rapid.T) {
					runModelCase(rt, h, k, pat, programGen(k.caps).Draw(rt, "case"))
				})
			})
		})
	}
}

// Regressions found by the model (issue 9), on every backend and driver.

// A Producer whose ResumeProducing writes a 16 MiB burst and then calls
// LoseConnection: the transport used the queue length from before
// ResumeProducing, shut the socket down with 16 MiB still queued, and the
// peer got a prefix and a broken pipe.
func TestStreamPullBurstThenLose(t *testing.T) {
	pat := modelPattern()
	forEachKind(t, func(t *testing.T, h *harness, k connKind) {
		runModelCase(t, h, k, pat, modelProgram{
			cfg:   modelConfig{producer: true, rotOut: 12345},
			steps: []mstep{{op: opPull, a: 16 << 20, n: 32 << 20, await: true, lose: true}},
			peer:  peerScript{drainBuf: 64 << 10},
		})
	})
}

// A Producer writing 64 KiB chunks until it is paused, resumed as the
// buffer drains, LoseConnection after 8 MiB: the portable backend lost
// the last bytes (8,355,840 of 8,388,608 arrived).
func TestStreamPullChunksThenLose(t *testing.T) {
	pat := modelPattern()
	forEachKind(t, func(t *testing.T, h *harness, k connKind) {
		runModelCase(t, h, k, pat, modelProgram{
			cfg:   modelConfig{producer: true, rotOut: 777},
			steps: []mstep{{op: opPull, a: 64 << 10, n: 8 << 20, await: true, lose: true}},
			peer:  peerScript{drainBuf: 64 << 10},
		})
	})
}

// The program stops reading (or the peer half-closes) while a flush is
// under way: the poll(2) backend used to stop watching the socket for
// writing too when it stopped watching it for reading, and the flush
// stalled until the linger time ran out (ErrTimeout, the peer saw a clean
// end of stream after a prefix).
func TestStreamFlushWhileNotReading(t *testing.T) {
	pat := modelPattern()
	forEachKind(t, func(t *testing.T, h *harness, k connKind) {
		runModelCase(t, h, k, pat, modelProgram{
			cfg: modelConfig{halfClose: true, sndBuf: 4 << 10, peerRcvBuf: 4 << 10, rotOut: 99},
			steps: []mstep{{op: opPause}, {op: opWait, d: 20 * time.Millisecond},
				{op: opWrite, n: 1 << 20}, {op: opLose}},
			peer: peerScript{steps: []pstep{{op: peerStall, d: 20 * time.Millisecond}}, drainBuf: 64 << 10, closeWrite: true},
		})
	})
}

// AbortConnection while the portable backend's writer goroutine holds a
// buffer, then a Write: the buffer must be counted out of Stats().Queued
// and the reactor's QueuedBytes once, not twice, and not left in.
func TestStreamAbortWithWriteInFlight(t *testing.T) {
	pat := modelPattern()
	forEachKind(t, func(t *testing.T, h *harness, k connKind) {
		runModelCase(t, h, k, pat, modelProgram{
			cfg: modelConfig{sndBuf: 4 << 10, peerRcvBuf: 4 << 10, rotOut: 5},
			steps: []mstep{{op: opWrite, n: 1 << 20}, {op: opAbort}, {op: opWait, d: 5 * time.Millisecond},
				{op: opWrite, n: 10}},
			peer: peerScript{steps: []pstep{{op: peerStall, d: 20 * time.Millisecond}}, drainBuf: 64 << 10},
		})
	})
}

// PauseProducing after LoseConnection: the connection, flushed, waits for
// the peer's end of stream and must go on reading to see it; with reading
// paused it waited for the whole linger time instead.
func TestStreamPauseAfterLoseConnection(t *testing.T) {
	pat := modelPattern()
	forEachKind(t, func(t *testing.T, h *harness, k connKind) {
		runModelCase(t, h, k, pat, modelProgram{
			cfg:   modelConfig{rotOut: 3, linger: time.Minute, deadline: 1500 * time.Millisecond},
			steps: []mstep{{op: opWrite, n: 10}, {op: opLose}, {op: opPause}},
			// The peer reads, and closes, once the program has paused.
			peer: peerScript{steps: []pstep{{op: peerStall, d: 20 * time.Millisecond}}, drainBuf: 64 << 10},
		})
	})
}

// LoseConnection while the peer is still sending: a WebSocket was closed
// at once, its socket with unread bytes (a reset, which dropped what the
// peer had not read yet) and without its close message; the peer got a
// prefix of what ConnectionLost(ErrConnectionDone) said was sent.
func TestStreamLoseWhilePeerSends(t *testing.T) {
	pat := modelPattern()
	forEachKind(t, func(t *testing.T, h *harness, k connKind) {
		runModelCase(t, h, k, pat, modelProgram{
			cfg:   modelConfig{rotOut: 11, rotIn: 13},
			steps: []mstep{{op: opWrite, n: 512 << 10}, {op: opLose}},
			peer: peerScript{steps: []pstep{{op: peerStall, d: 5 * time.Millisecond}}, drainBuf: 4 << 10,
				send: []int{256 << 10, 256 << 10, 256 << 10}},
		})
	})
}

// LoseConnection with a peer that stops reading for longer than the linger
// time: the connection ends with ErrTimeout and drops what is unsent, so
// the peer must not see a clean end of stream after a prefix: it must see
// a reset.
func TestStreamLingerTimeoutResets(t *testing.T) {
	pat := modelPattern()
	forEachKind(t, func(t *testing.T, h *harness, k connKind) {
		runModelCase(t, h, k, pat, modelProgram{
			cfg: modelConfig{sndBuf: 4 << 10, peerRcvBuf: 4 << 10, rotOut: 7,
				linger: 100 * time.Millisecond, timeoutOK: true},
			steps: []mstep{{op: opWrite, n: 1 << 20}, {op: opLose}},
			peer:  peerScript{steps: []pstep{{op: peerStall, d: 300 * time.Millisecond}}, drainBuf: 64 << 10},
		})
	})
}
