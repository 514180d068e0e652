package game

import (
	"fmt"
	"math"
)

var errNotInput = fmt.Errorf("%w: not an Input", ErrBadValue)

// DecodeInput decodes an Input payload without allocating, for a server's
// per-message hot path (Decode returns the Input inside a Message interface,
// which costs an allocation per call). It accepts exactly what Decode accepts
// for MsgInput and fails like Decode, and also on a payload of another type.
func DecodeInput(payload []byte) (Input, error) {
	t, err := PeekType(payload)
	switch {
	case err != nil:
		return Input{}, err
	case t != MsgInput:
		return Input{}, &DecodeError{Type: t, Field: "type", Err: errNotInput}
	}
	r := reader{typ: t, b: payload[1:]}
	in := r.input()
	if err := r.finish(); err != nil {
		return Input{}, err
	}
	return in, nil
}

// input reads the fields of an Input; Decode and DecodeInput share it, so
// they accept exactly the same bytes.
func (r *reader) input() Input {
	in := Input{
		PlayerID: uint16(r.uvarint("player_id", math.MaxUint16)),
		Seq:      uint32(r.uvarint("seq", math.MaxUint32)),
		Buttons:  r.byte("buttons"),
	}
	if in.Buttons&^ButtonMask != 0 {
		r.fail("buttons", errButtons)
	}
	return in
}
