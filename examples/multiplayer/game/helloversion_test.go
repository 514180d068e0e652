package game

import (
	"errors"
	"testing"
)

func TestHelloVersion(t *testing.T) {
	for _, tc := range []struct {
		payload []byte
		want    uint64
		ok      bool
	}{
		{AppendHello(nil, Hello{Version: ProtocolVersion, Name: "a"}), ProtocolVersion, true},
		{AppendHello(nil, Hello{Version: 65535, Name: " bad name "}), 65535, true},
		{[]byte{byte(MsgHello), 0x80, 0x80, 0x04, 0xff}, 65536, true}, // too big for Hello, rest ignored
		{[]byte{byte(MsgHello)}, 0, false},
		{[]byte{byte(MsgHello), 0x81, 0x00}, 0, false}, // not minimal
		{AppendPing(nil, Ping{T: 1}), 0, false},
		{nil, 0, false},
	} {
		v, err := HelloVersion(tc.payload)
		if (err == nil) != tc.ok || v != tc.want {
			t.Errorf("% x: %d, %v; want %d ok=%v", tc.payload, v, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("% x: %v does not match ErrMalformed", tc.payload, err)
		}
	}
}
