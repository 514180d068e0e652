package game

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode feeds arbitrary payloads to the decoder. Properties:
//   - Decode never panics, and every error is a *DecodeError matching
//     ErrMalformed;
//   - whatever it accepts re-encodes to exactly the same bytes (the format
//     has a single encoding per message), and so decodes again to the same
//     message: decode(encode(m)) == m for every m it can produce;
//   - DecodeSnapshot into a reused slice agrees with Decode.
//
// The seed corpus is the valid encoding of a message of every type, plus the
// crashers kept under testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(Append(nil, m))
	}
	reuse := make([]PlayerState, 0, 8)
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := Decode(payload)
		snap, snapErr := DecodeSnapshot(payload, reuse)
		if len(payload) > 0 && MsgType(payload[0]) == MsgSnapshot {
			if (err == nil) != (snapErr == nil) {
				t.Fatalf("Decode err = %v, DecodeSnapshot err = %v", err, snapErr)
			}
			if err == nil && !equalMessages(m, snap) {
				t.Fatalf("Decode = %#v, DecodeSnapshot = %#v", m, snap)
			}
		}
		if err != nil {
			var de *DecodeError
			if !errors.Is(err, ErrMalformed) || !errors.As(err, &de) {
				t.Fatalf("error %q (%T) is not a *DecodeError matching ErrMalformed", err, err)
			}
			return
		}
		again := Append(nil, m)
		if !bytes.Equal(again, payload) {
			t.Fatalf("Decode(%x) = %#v, which encodes to %x", payload, m, again)
		}
		m2, err := Decode(again)
		if err != nil || !equalMessages(m, m2) {
			t.Fatalf("decode(encode(%#v)) = %#v, %v", m, m2, err)
		}
	})
}

// FuzzRoundTrip builds valid messages of every type from fuzzed field values
// and checks decode(encode(m)) == m. FuzzDecode covers the same property from
// the other side; this one reaches values that random bytes rarely decode
// to, like long valid names and full snapshots.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(MsgHello), uint64(1), uint64(2), "alice", []byte{1, 2, 3})
	f.Add(uint8(MsgSnapshot), uint64(1<<40), uint64(7), "", bytes.Repeat([]byte{0xff}, 64*6))
	f.Add(uint8(MsgReject), uint64(0), uint64(0), "the server is full, sorry", []byte(nil))
	f.Fuzz(func(t *testing.T, kind uint8, a, b uint64, s string, raw []byte) {
		var token [16]byte
		copy(token[:], raw)
		var m Message
		switch MsgType(kind%uint8(MsgUDPBind) + 1) {
		case MsgHello:
			m = Hello{Version: uint16(a), Name: s}
		case MsgWelcome:
			m = Welcome{PlayerID: uint16(a), Token: token, TickRate: uint8(b%255) + 1,
				ArenaW: uint16(a%MaxArenaSize) + 1, ArenaH: uint16(b%MaxArenaSize) + 1}
		case MsgReject:
			m = Reject{Reason: s}
		case MsgInput:
			m = Input{PlayerID: uint16(b), Seq: uint32(a), Buttons: uint8(b>>16) & ButtonMask}
		case MsgSnapshot:
			m = fuzzSnapshot(uint32(a), uint32(b), raw)
		case MsgPlayerInfo:
			m = PlayerInfo{ID: uint16(a), Name: s}
		case MsgPlayerLeft:
			m = PlayerLeft{ID: uint16(a)}
		case MsgPing:
			m = Ping{T: int64(a)}
		case MsgPong:
			m = Pong{T: int64(b)}
		case MsgGoodbye:
			m = Goodbye{}
		case MsgShutdown:
			m = Shutdown{}
		case MsgUDPBind:
			m = UDPBind{PlayerID: uint16(b), Token: token}
		}
		payload := Append(nil, m)
		got, err := Decode(payload)
		switch m := m.(type) {
		case Hello:
			if ValidateName(m.Name) != nil {
				if err == nil {
					t.Fatalf("Hello with bad name %q decoded", m.Name)
				}
				return
			}
		case PlayerInfo:
			if ValidateName(m.Name) != nil {
				if err == nil {
					t.Fatalf("PlayerInfo with bad name %q decoded", m.Name)
				}
				return
			}
		case Reject:
			// AppendReject repairs the reason instead of failing.
			if err != nil {
				t.Fatalf("Reject %q: %v", m.Reason, err)
			}
			r := got.(Reject).Reason
			if len(r) > MaxReasonLen || !utf8.ValidString(r) {
				t.Fatalf("Reject %q decoded as %q", m.Reason, r)
			}
			if utf8.ValidString(m.Reason) && (!strings.HasPrefix(m.Reason, r) || len(r) < min(len(m.Reason), MaxReasonLen-utf8.UTFMax+1)) {
				t.Fatalf("Reject %q decoded as %q, want the longest prefix that fits", m.Reason, r)
			}
			return
		}
		if err != nil {
			t.Fatalf("Decode(Append(%#v)) failed: %v", m, err)
		}
		if !equalMessages(got, m) {
			t.Fatalf("Decode(Append(%#v)) = %#v", m, got)
		}
	})
}

// fuzzSnapshot makes a valid snapshot out of raw bytes, 6 per player: an id
// increment, x and y in wire units, and a facing.
func fuzzSnapshot(tick, last uint32, raw []byte) Snapshot {
	s := Snapshot{Tick: tick, LastInput: last}
	id := 0
	for len(raw) >= 6 && len(s.Players) < 148 {
		id += int(raw[0]) + 1
		if id > 0xffff {
			break
		}
		s.Players = append(s.Players, PlayerState{
			ID:     uint16(id),
			X:      float64(uint16(raw[1])|uint16(raw[2])<<8) / posScale,
			Y:      float64(uint16(raw[3])|uint16(raw[4])<<8) / posScale,
			Facing: raw[5] % NumFacings,
		})
		raw = raw[6:]
	}
	return s
}
