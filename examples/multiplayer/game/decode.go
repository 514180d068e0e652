package game

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// ErrMalformed matches every error that Decode and DecodeSnapshot return, so
// a server can drop a misbehaving client with one check. Each such error also
// matches exactly one of the more specific errors below, which say what was
// wrong.
var ErrMalformed = errors.New("malformed message")

// The specific decoding errors. They appear inside a *DecodeError, which
// names the message type and field.
var (
	ErrUnknownType   = errors.New("unknown message type")
	ErrTruncated     = errors.New("truncated")
	ErrTrailingBytes = errors.New("trailing bytes after message")
	ErrTooLong       = errors.New("too long")
	ErrBadName       = errors.New("bad player name")
	// ErrBadValue is a value the field cannot take: an out-of-range or
	// non-minimally encoded integer, invalid UTF-8, an undefined button bit
	// or facing, players out of ID order.
	ErrBadValue = errors.New("bad value")
)

// Detailed variants, made once so that reporting them allocates nothing more
// than the DecodeError.
var (
	errNameEmpty       = fmt.Errorf("%w: empty", ErrBadName)
	errNameLong        = fmt.Errorf("%w: longer than %d bytes", ErrBadName, MaxNameLen)
	errNameUTF8        = fmt.Errorf("%w: invalid UTF-8", ErrBadName)
	errNameSpace       = fmt.Errorf("%w: leading or trailing space", ErrBadName)
	errNameUnprintable = fmt.Errorf("%w: unprintable character", ErrBadName)
	errEmptyPayload    = fmt.Errorf("%w: empty payload", ErrTruncated)
	errOverflow        = fmt.Errorf("%w: varint overflows 64 bits", ErrBadValue)
	errNonMinimal      = fmt.Errorf("%w: varint not minimally encoded", ErrBadValue)
	errOutOfRange      = fmt.Errorf("%w: out of range", ErrBadValue)
	errInvalidUTF8     = fmt.Errorf("%w: invalid UTF-8", ErrBadValue)
	errButtons         = fmt.Errorf("%w: undefined button bits", ErrBadValue)
	errFacing          = fmt.Errorf("%w: undefined facing", ErrBadValue)
	errPlayerOrder     = fmt.Errorf("%w: player ids not strictly increasing", ErrBadValue)
	errNotSnapshot     = fmt.Errorf("%w: not a Snapshot", ErrBadValue)
	errNotHello        = fmt.Errorf("%w: not a Hello", ErrBadValue)
	errSnapshotSize    = fmt.Errorf("%w: snapshot larger than %d bytes", ErrTooLong, MaxSnapshotBytes)
)

// DecodeError describes a payload that Decode refused.
type DecodeError struct {
	Type  MsgType // the payload's type byte; 0 for an empty payload
	Field string  // the offending field, e.g. "name" or "players[3].facing"
	Err   error   // what was wrong; matches one of the Err* values
}

// Error returns e.g. "game: decode Hello.name: too long".
func (e *DecodeError) Error() string {
	s := "game: decode"
	if e.Err != errEmptyPayload { // an empty payload has no type to name
		s += " " + e.Type.String()
		if e.Field != "" {
			s += "." + e.Field
		}
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMalformed, which every DecodeError is.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

// PeekType returns the type of a payload without decoding it, so that a
// client can route snapshots to DecodeSnapshot. It fails only on an empty
// payload; it does not check that the type is known.
func PeekType(payload []byte) (MsgType, error) {
	if len(payload) == 0 {
		return 0, &DecodeError{Err: errEmptyPayload}
	}
	return MsgType(payload[0]), nil
}

// Decode decodes one payload (without its length prefix). It never panics
// and accepts exactly what the Append functions produce for valid messages:
// it rejects unknown types, truncated payloads, trailing bytes, integers out
// of their field's range or not minimally encoded, strings over their limit,
// invalid names (see ValidateName) and undefined flag values. Every error is a
// *DecodeError matching ErrMalformed.
//
// A decoded Snapshot gets a new Players slice; use DecodeSnapshot to decode
// into a reused one.
func Decode(payload []byte) (Message, error) {
	t, err := PeekType(payload)
	if err != nil {
		return nil, err
	}
	if t == MsgSnapshot {
		s, err := DecodeSnapshot(payload, nil)
		if err != nil {
			return nil, err
		}
		return s, nil
	}

	r := reader{typ: t, b: payload[1:]}
	var m Message
	switch t {
	case MsgHello:
		m = Hello{Version: uint16(r.uvarint("version", math.MaxUint16)), Name: r.name("name")}
	case MsgWelcome:
		w := Welcome{PlayerID: uint16(r.uvarint("player_id", math.MaxUint16))}
		r.token("token", &w.Token)
		w.TickRate = r.byte("tick_rate")
		if w.TickRate == 0 {
			r.fail("tick_rate", errOutOfRange)
		}
		w.ArenaW = uint16(r.uvarintIn("arena_w", 1, MaxArenaSize))
		w.ArenaH = uint16(r.uvarintIn("arena_h", 1, MaxArenaSize))
		m = w
	case MsgReject:
		m = Reject{Reason: r.text("reason", MaxReasonLen)}
	case MsgInput:
		m = r.input()
	case MsgPlayerInfo:
		m = PlayerInfo{ID: uint16(r.uvarint("id", math.MaxUint16)), Name: r.name("name")}
	case MsgPlayerLeft:
		m = PlayerLeft{ID: uint16(r.uvarint("id", math.MaxUint16))}
	case MsgPing:
		m = Ping{T: r.varint("t")}
	case MsgPong:
		m = Pong{T: r.varint("t")}
	case MsgGoodbye:
		m = Goodbye{}
	case MsgShutdown:
		m = Shutdown{}
	case MsgUDPBind:
		b := UDPBind{PlayerID: uint16(r.uvarint("player_id", math.MaxUint16))}
		r.token("token", &b.Token)
		m = b
	default:
		return nil, &DecodeError{Type: t, Err: ErrUnknownType}
	}
	if err := r.finish(); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeSnapshot decodes a Snapshot payload, appending its players to
// players[:0] so that a client can reuse one slice for every snapshot and
// decode without allocating:
//
//	s, err := game.DecodeSnapshot(payload, buf)
//	if err == nil {
//		buf = s.Players // keep the grown slice for the next snapshot
//	}
//
// The payload must be at most MaxSnapshotBytes long. It fails like Decode,
// and also on a payload of another type.
func DecodeSnapshot(payload []byte, players []PlayerState) (Snapshot, error) {
	t, err := PeekType(payload)
	switch {
	case err != nil:
		return Snapshot{}, err
	case t != MsgSnapshot:
		return Snapshot{}, &DecodeError{Type: t, Field: "type", Err: errNotSnapshot}
	case len(payload) > MaxSnapshotBytes:
		return Snapshot{}, &DecodeError{Type: t, Err: errSnapshotSize}
	}

	r := reader{typ: t, b: payload[1:]}
	s := Snapshot{
		Tick:      uint32(r.uvarint("tick", math.MaxUint32)),
		LastInput: uint32(r.uvarint("last_input", math.MaxUint32)),
	}
	count := r.uvarint("count", math.MaxUint16)
	// Check the count against the bytes left before trusting it with an
	// allocation.
	if r.err == nil && count > uint64(len(r.b)/minPlayerBytes) {
		r.fail("count", ErrTruncated)
	}
	if r.err != nil {
		return Snapshot{}, r.err
	}

	players = slices.Grow(players[:0], int(count))
	prevID := -1
	for i := range int(count) {
		id := r.uvarint("id", math.MaxUint16)
		x := r.uint16("x")
		y := r.uint16("y")
		facing := r.byte("facing")
		switch {
		case r.err != nil:
		case facing >= NumFacings:
			r.fail("facing", errFacing)
		case int(id) <= prevID:
			r.fail("id", errPlayerOrder)
		}
		if r.err != nil {
			r.err.Field = fmt.Sprintf("players[%d].%s", i, r.err.Field)
			return Snapshot{}, r.err
		}
		prevID = int(id)
		players = append(players, PlayerState{
			ID:     uint16(id),
			X:      float64(x) / posScale,
			Y:      float64(y) / posScale,
			Facing: facing,
		})
	}
	if err := r.finish(); err != nil {
		return Snapshot{}, err
	}
	s.Players = players
	return s, nil
}

// reader consumes a payload field by field. The first failure sticks: later
// reads return zero values, so decoders read every field unconditionally and
// check once at the end.
type reader struct {
	typ MsgType
	b   []byte
	err *DecodeError
}

func (r *reader) fail(field string, err error) {
	if r.err == nil {
		r.err = &DecodeError{Type: r.typ, Field: field, Err: err}
	}
}

// finish returns the sticky error, or ErrTrailingBytes if bytes are left.
// It returns a plain nil, never a nil *DecodeError in an error.
func (r *reader) finish() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("", ErrTrailingBytes)
	}
	if r.err != nil {
		return r.err
	}
	return nil
}

func (r *reader) byte(field string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail(field, ErrTruncated)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// uint16 reads a fixed-size little-endian uint16, used for positions, which
// are usually too large for a varint to save anything.
func (r *reader) uint16(field string) uint16 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 2 {
		r.fail(field, ErrTruncated)
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

// rawUvarint reads a uvarint and insists on its minimal encoding, so that
// every message has exactly one encoding and re-encoding a decoded message
// gives back the same bytes.
func (r *reader) rawUvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	switch {
	case n == 0:
		r.fail(field, ErrTruncated)
		return 0
	case n < 0:
		r.fail(field, errOverflow)
		return 0
	case n > 1 && r.b[n-1] == 0:
		// A minimal encoding never ends in a zero continuation group.
		r.fail(field, errNonMinimal)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// uvarint reads a uvarint no larger than hi.
func (r *reader) uvarint(field string, hi uint64) uint64 {
	return r.uvarintIn(field, 0, hi)
}

// uvarintIn reads a uvarint in [lo, hi].
func (r *reader) uvarintIn(field string, lo, hi uint64) uint64 {
	v := r.rawUvarint(field)
	if r.err == nil && (v < lo || v > hi) {
		r.fail(field, errOutOfRange)
		return 0
	}
	return v
}

// varint reads a zig-zag varint. Zig-zag maps int64 one-to-one onto uint64,
// so minimality of the underlying uvarint makes the encoding unique too.
func (r *reader) varint(field string) int64 {
	u := r.rawUvarint(field)
	return int64(u>>1) ^ -int64(u&1)
}

func (r *reader) token(field string, dst *[16]byte) {
	if r.err != nil {
		return
	}
	if len(r.b) < len(dst) {
		r.fail(field, ErrTruncated)
		return
	}
	copy(dst[:], r.b)
	r.b = r.b[len(dst):]
}

// bytes reads a uvarint length and that many bytes, refusing lengths over
// limit before looking further, so a huge length costs nothing.
func (r *reader) bytes(field string, limit int) []byte {
	n := r.rawUvarint(field)
	switch {
	case r.err != nil:
		return nil
	case n > uint64(limit):
		r.fail(field, ErrTooLong)
		return nil
	case n > uint64(len(r.b)):
		r.fail(field, ErrTruncated)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// text reads a string of valid UTF-8 of at most limit bytes.
func (r *reader) text(field string, limit int) string {
	b := r.bytes(field, limit)
	if r.err == nil && !utf8.Valid(b) {
		r.fail(field, errInvalidUTF8)
		return ""
	}
	return string(b)
}

// name reads a player name, checked with ValidateName.
func (r *reader) name(field string) string {
	b := r.bytes(field, MaxNameLen)
	if r.err != nil {
		return ""
	}
	s := string(b)
	if err := ValidateName(s); err != nil {
		r.fail(field, err)
		return ""
	}
	return s
}
