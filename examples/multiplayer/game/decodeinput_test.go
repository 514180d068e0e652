package game

import (
	"errors"
	"testing"
)

func TestDecodeInputAgreesWithDecode(t *testing.T) {
	good := AppendInput(nil, Input{PlayerID: 300, Seq: 1 << 20, Buttons: ButtonUp | ButtonLeft})
	payloads := [][]byte{
		good,
		good[:len(good)-1],                    // truncated
		append(good[:len(good):len(good)], 0), // trailing byte
		AppendInput(nil, Input{PlayerID: 1, Seq: 1, Buttons: 0x80}), // undefined button
		{byte(MsgInput), 0x80, 0x00, 1, 0},                          // non-minimal id
		AppendPing(nil, Ping{T: 5}),                                 // another type
		{},                                                          // empty
	}
	for i, p := range payloads {
		got, err := DecodeInput(p)
		m, derr := Decode(p)
		if i == 5 {
			if err == nil || !errors.Is(err, ErrMalformed) || derr != nil {
				t.Fatalf("payload %d: DecodeInput accepted a Ping: %v", i, err)
			}
			continue
		}
		if (err == nil) != (derr == nil) {
			t.Fatalf("payload %d: DecodeInput err %v, Decode err %v", i, err, derr)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("payload %d: %v does not match ErrMalformed", i, err)
			}
			continue
		}
		if m.(Input) != got {
			t.Fatalf("payload %d: DecodeInput %+v, Decode %+v", i, got, m)
		}
	}
}

func TestDecodeInputAllocatesNothing(t *testing.T) {
	p := AppendInput(nil, Input{PlayerID: 7, Seq: 123456, Buttons: ButtonDown})
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeInput(p) }); n != 0 {
		t.Fatalf("%v allocations per DecodeInput", n)
	}
}
