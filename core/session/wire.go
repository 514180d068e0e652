package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/threadedselect/reactor/core"
)

// FirstReserved is the first message type the package keeps for itself.
// An application's message types are 0 to FirstReserved-1: the first byte
// of every payload it sends, and the key it registers handlers under.
const FirstReserved = 0xF0

// The package's own messages (the first payload byte). Part of the wire
// format: never renumber them.
const (
	msgHello   = 0xF0 // client→server, first message
	msgWelcome = 0xF1 // server→client, session granted
	msgBye     = 0xF2 // either way: refusal, kick, shutdown or quit, with a reason
	msgPing    = 0xF3 // either way, TCP; client→server over UDP too
	msgPong    = 0xF4 // answer to a ping, on the path it came by
	msgBind    = 0xF5 // client→server over UDP: bind this address to my session
	msgBound   = 0xF6 // server→client over UDP: bind confirmed
	msgUnbind  = 0xF7 // client→server over TCP: UDP stopped arriving, use TCP
)

// wireVersion is the version of the package's own messages, carried in
// Hello and Welcome. A server refuses a Hello of another version.
const wireVersion = 1

const (
	tokenLen   = 16  // bytes of a session token
	maxAppLen  = 64  // longest ClientConfig.App / ServerConfig.App
	maxByeText = 128 // longest reason text in a Bye, in bytes
	// maxHead is room in front of a payload for its frame's length prefix
	// (a uvarint of a 32-bit length).
	maxHead = binary.MaxVarintLen32
)

// Reason says why a session ended or was refused. It travels in the Bye
// message, so both ends agree on it.
type Reason uint8

// The reasons. Part of the wire format: never renumber them.
const (
	ReasonNone      Reason = iota
	ReasonQuit             // the client said goodbye (Client.Goodbye)
	ReasonShutdown         // the server is shutting down (Server.LoseAll)
	ReasonKicked           // the server ended the session (Peer.Kick)
	ReasonFull             // refused: the server has ServerConfig.MaxSessions
	ReasonAddrLimit        // refused: too many connections or sessions from the client's address
	ReasonVersion          // refused: another wire version or application (ServerConfig.App)
	ReasonRefused          // refused by the application (ServerConfig.Accept)
	ReasonReplaced         // the session was resumed by a newer connection
	ReasonTimeout          // the peer sent nothing for the idle timeout
	ReasonProtocol         // the peer sent a message that is malformed or unexpected
)

var reasonNames = [...]string{"none", "quit", "shutdown", "kicked", "server full", "address limit",
	"version mismatch", "refused", "replaced", "timeout", "protocol error"}

// String returns e.g. "server full".
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", r)
}

// Errors of the package. Compare with errors.Is: a *ByeError matches the
// sentinel of its Reason, and the timeouts and protocol errors match
// core.ErrTimeout and core.ErrBadInput as well.
var (
	// ErrQuit: the client said goodbye.
	ErrQuit = errors.New("session: quit")
	// ErrServerShutdown: the server is shutting down.
	ErrServerShutdown = errors.New("session: server shutting down")
	// ErrKicked: the server ended the session.
	ErrKicked = errors.New("session: kicked")
	// ErrServerFull: refused, the server has its maximum of sessions.
	ErrServerFull = errors.New("session: server full")
	// ErrAddrLimit: refused, too many connections or sessions from one address.
	ErrAddrLimit = errors.New("session: too many from this address")
	// ErrVersion: refused, the two ends speak different versions or applications.
	ErrVersion = errors.New("session: version mismatch")
	// ErrRefused: refused by the server's application (ServerConfig.Accept).
	ErrRefused = errors.New("session: refused")
	// ErrReplaced: a newer connection resumed the session.
	ErrReplaced = errors.New("session: replaced by a newer connection")
	// ErrIdleTimeout: the peer sent nothing for the idle timeout.
	ErrIdleTimeout = fmt.Errorf("%w: peer silent", core.ErrTimeout)
	// ErrNotReading: the client answered no ping for ServerConfig.PongTimeout.
	ErrNotReading = fmt.Errorf("%w: peer not reading", core.ErrTimeout)
	// ErrHandshakeTimeout: no Hello (server) or Welcome (client) in time.
	ErrHandshakeTimeout = fmt.Errorf("%w: no handshake", core.ErrTimeout)
	// ErrGraceExpired: a lost session was not resumed within the grace period.
	ErrGraceExpired = errors.New("session: not resumed within the grace period")
	// ErrProtocol: a message that is malformed, of a type nobody handles, or
	// not expected now; also wraps what a handler returned.
	ErrProtocol = fmt.Errorf("%w: session protocol", core.ErrBadInput)
	// ErrNotConnected: Send on a session that has no connection now
	// (connecting, reconnecting, detached, or over).
	ErrNotConnected = errors.New("session: not connected")
)

// ByeError is a session's end or refusal as the peer stated it: the
// reason code and its text. It unwraps to the sentinel of the code
// (ErrServerFull for ReasonFull, ...), so errors.Is matches that, and what
// the sentinel matches (ErrIdleTimeout is a core.ErrTimeout).
type ByeError struct {
	Reason Reason
	Text   string // the peer's words, e.g. "server full (64 sessions)"
}

// Error returns e.g. "session: server full: 64 sessions".
func (e *ByeError) Error() string {
	if e.Text == "" {
		return "session: " + e.Reason.String()
	}
	return "session: " + e.Reason.String() + ": " + e.Text
}

// Unwrap returns the sentinel error of e.Reason (nil for a reason this
// version does not know).
func (e *ByeError) Unwrap() error { return e.sentinel() }

func (e *ByeError) sentinel() error {
	switch e.Reason {
	case ReasonQuit:
		return ErrQuit
	case ReasonShutdown:
		return ErrServerShutdown
	case ReasonKicked:
		return ErrKicked
	case ReasonFull:
		return ErrServerFull
	case ReasonAddrLimit:
		return ErrAddrLimit
	case ReasonVersion:
		return ErrVersion
	case ReasonRefused:
		return ErrRefused
	case ReasonReplaced:
		return ErrReplaced
	case ReasonTimeout:
		return ErrIdleTimeout
	case ReasonProtocol:
		return ErrProtocol
	}
	return nil
}

// encoder builds payloads in a reused buffer with room in front for the
// frame's length prefix, so that framing a payload built by begin copies
// nothing.
type encoder struct{ buf []byte }

// begin returns an empty payload of type t in the reused buffer; the
// caller appends the message's fields to it. It is valid until the next
// begin on this encoder.
func (e *encoder) begin(t byte) []byte {
	if cap(e.buf) < maxHead+64 {
		e.buf = make([]byte, maxHead, maxHead+256)
	}
	e.buf = append(e.buf[:maxHead], t)
	return e.buf[maxHead:]
}

// start returns an empty slice at the start of the reused buffer, for the
// package's own appendX functions (which write the type byte themselves).
func (e *encoder) start() []byte { return e.begin(0)[:0] }

// frame returns payload as one frame (a uvarint length, then payload).
// A payload made by begin, however far it was appended to, is framed in
// place; any other is copied into the buffer first. It allocates only when
// the buffer must grow.
func (e *encoder) frame(payload []byte) []byte {
	n := len(payload)
	if cap(e.buf) < maxHead+1 {
		e.buf = make([]byte, maxHead, maxHead+max(n, 256))
	}
	if n == 0 || cap(e.buf) < maxHead+n || &e.buf[:maxHead+1][maxHead] != &payload[0] {
		e.buf = append(e.buf[:maxHead], payload...)
	}
	var pre [maxHead]byte
	k := binary.PutUvarint(pre[:], uint64(n))
	start := maxHead - k
	copy(e.buf[start:maxHead], pre[:k])
	return e.buf[start : maxHead+n]
}

// hello is the first message of a client.
type hello struct {
	version byte
	app     []byte
	resume  bool
	id      uint32
	token   [tokenLen]byte
	data    []byte // the application's, valid during the call
}

const flagResume = 1

func appendHello(dst []byte, h hello) []byte {
	dst = append(dst, msgHello, h.version)
	dst = appendBytes(dst, h.app)
	if h.resume {
		dst = append(dst, flagResume)
		dst = binary.AppendUvarint(dst, uint64(h.id))
		dst = append(dst, h.token[:]...)
	} else {
		dst = append(dst, 0)
	}
	return append(dst, h.data...)
}

func decodeHello(p []byte) (h hello, err error) {
	d := decoder{b: p[1:]}
	h.version = d.byte()
	h.app = d.bytes(maxAppLen)
	flags := d.byte()
	if flags&flagResume != 0 {
		h.resume = true
		h.id = d.uvarint32()
		copy(h.token[:], d.take(tokenLen))
	}
	h.data = d.b
	return h, d.err("hello")
}

// welcome grants a session.
type welcome struct {
	id      uint32
	token   [tokenLen]byte
	resumed bool
	udpPort uint16 // 0: the server has no UDP
	idleMs  uint32 // the server's idle timeout, so the client pings often enough
	data    []byte
}

func appendWelcome(dst []byte, w welcome) []byte {
	dst = append(dst, msgWelcome, wireVersion)
	dst = binary.AppendUvarint(dst, uint64(w.id))
	dst = append(dst, w.token[:]...)
	var flags byte
	if w.resumed {
		flags |= flagResume
	}
	dst = append(dst, flags)
	dst = binary.LittleEndian.AppendUint16(dst, w.udpPort)
	dst = binary.AppendUvarint(dst, uint64(w.idleMs))
	return append(dst, w.data...)
}

func decodeWelcome(p []byte) (w welcome, err error) {
	d := decoder{b: p[1:]}
	if v := d.byte(); !d.failed && v != wireVersion {
		return w, fmt.Errorf("%w: welcome of wire version %d, want %d", ErrProtocol, v, wireVersion)
	}
	w.id = d.uvarint32()
	copy(w.token[:], d.take(tokenLen))
	w.resumed = d.byte()&flagResume != 0
	if b := d.take(2); b != nil {
		w.udpPort = binary.LittleEndian.Uint16(b)
	}
	w.idleMs = d.uvarint32()
	w.data = d.b
	return w, d.err("welcome")
}

func appendBye(dst []byte, r Reason, text string) []byte {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	if len(text) > maxByeText {
		n := maxByeText
		for n > 0 && !utf8.RuneStart(text[n]) {
			n--
		}
		text = text[:n]
	}
	dst = append(dst, msgBye, byte(r))
	return append(dst, text...)
}

func decodeBye(p []byte) *ByeError {
	e := &ByeError{}
	if len(p) > 1 {
		e.Reason = Reason(p[1])
	}
	if len(p) > 2 {
		text := p[2:]
		if len(text) > maxByeText {
			text = text[:maxByeText]
		}
		e.Text = strings.ToValidUTF8(string(text), "\uFFFD")
	}
	return e
}

func appendPing(dst []byte, typ byte, t int64) []byte {
	dst = append(dst, typ)
	return binary.AppendVarint(dst, t)
}

func decodePing(p []byte) (int64, bool) {
	t, k := binary.Varint(p[1:])
	return t, k > 0 && k == len(p)-1
}

func appendBind(dst []byte, id uint32, token [tokenLen]byte) []byte {
	dst = append(dst, msgBind)
	dst = binary.AppendUvarint(dst, uint64(id))
	return append(dst, token[:]...)
}

func decodeBind(p []byte) (id uint32, token [tokenLen]byte, ok bool) {
	d := decoder{b: p[1:]}
	id = d.uvarint32()
	copy(token[:], d.take(tokenLen))
	return id, token, !d.failed && len(d.b) == 0
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// decoder reads fields off a payload; the first failure sticks.
type decoder struct {
	b      []byte
	failed bool
}

func (d *decoder) fail() {
	d.failed = true
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.failed || len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) take(n int) []byte {
	if d.failed || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint32() uint32 {
	if d.failed {
		return 0
	}
	v, k := binary.Uvarint(d.b)
	if k <= 0 || v > 1<<32-1 {
		d.fail()
		return 0
	}
	d.b = d.b[k:]
	return uint32(v)
}

func (d *decoder) bytes(max int) []byte {
	n := d.uvarint32()
	if d.failed || int(n) > max {
		d.fail()
		return nil
	}
	return d.take(int(n))
}

func (d *decoder) err(what string) error {
	if d.failed {
		return fmt.Errorf("%w: malformed %s", ErrProtocol, what)
	}
	return nil
}
