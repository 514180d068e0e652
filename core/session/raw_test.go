package session

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// Every message of the package survives Append and ParseRaw, and is what
// the package's own encoders write; malformed payloads fail with
// ErrProtocol.
func TestRawMessages(t *testing.T) {
	tok := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	for _, m := range []RawMessage{
		{Kind: RawHello, App: "arena/1", Data: []byte("alice")},
		{Kind: RawHello, App: "arena/1", Resume: true, ID: 300, Token: tok, Data: []byte("bob")},
		{Kind: RawWelcome, ID: 7, Token: tok, Resumed: true, UDPPort: 7777, IdleTimeout: 10 * time.Second, Data: []byte{30, 1}},
		{Kind: RawBye, Reason: ReasonFull, Text: "server full (64 sessions)"},
		{Kind: RawPing, T: -12345},
		{Kind: RawPong, T: 1 << 40},
		{Kind: RawBind, ID: 70000, Token: tok},
		{Kind: RawBound},
		{Kind: RawUnbind},
	} {
		p := m.Append(nil)
		got, err := ParseRaw(p)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if m.Data == nil {
			got.Data = nil
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip: %+v, want %+v", got, m)
		}
	}
	// The same bytes as the package's own encoders.
	if got, want := (RawMessage{Kind: RawBind, ID: 3, Token: tok}).Append(nil), appendBind(nil, 3, tok); string(got) != string(want) {
		t.Errorf("bind % x, want % x", got, want)
	}
	if got, err := ParseRaw([]byte{FirstReserved - 1, 1, 2}); err != nil || got.Kind != RawApp {
		t.Errorf("an application message: %+v %v", got, err)
	}
	hello := RawMessage{Kind: RawHello, App: "x"}.Append(nil)
	for _, bad := range [][]byte{nil, {0xFF}, hello[:2], {hello[0], 99, 0, 0}, (RawMessage{Kind: RawPing, T: 5}).Append(nil)[:1], (RawMessage{Kind: RawBye}).Append(nil)[:1]} {
		if _, err := ParseRaw(bad); !errors.Is(err, ErrProtocol) {
			t.Errorf("% x: %v, want ErrProtocol", bad, err)
		}
	}
}
