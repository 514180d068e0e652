package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// The raw clients of these tests write and read the game's messages of
// package game; the server speaks them inside package core/session's
// handshake, keepalive and goodbye. toSession and fromSession translate
// (the session package's wire: core/session/wire.go).

const (
	wireHello   = 0xF0
	wireWelcome = 0xF1
	wireBye     = 0xF2
	wirePing    = 0xF3
	wirePong    = 0xF4
	wireBind    = 0xF5
	wireVersion = 1

	byeQuit     = 1
	byeShutdown = 2
)

// sessionHello is the session package's Hello for app with the player's
// name as its data.
func sessionHello(app, name string) []byte {
	b := []byte{wireHello, wireVersion}
	b = binary.AppendUvarint(b, uint64(len(app)))
	b = append(b, app...)
	b = append(b, 0) // no resume
	return append(b, name...)
}

// sessionBind is a UDP binding datagram (a bare payload).
func sessionBind(id uint16, token [16]byte) []byte {
	b := binary.AppendUvarint([]byte{wireBind}, uint64(id))
	return append(b, token[:]...)
}

// toSession translates a payload of package game into what the server
// expects: Hello, Ping, Pong and Goodbye become the session package's;
// a Hello of another protocol version presents another App. A malformed
// Hello is sent as the session's Hello with the bytes after the type.
func toSession(payload []byte) []byte {
	if len(payload) == 0 {
		return payload
	}
	switch game.MsgType(payload[0]) {
	case game.MsgHello:
		// The version and the name, whatever the name holds (the
		// server judges it).
		b := payload[1:]
		if v, k := binary.Uvarint(b); k > 0 {
			b = b[k:]
			if n, k := binary.Uvarint(b); k > 0 && n == uint64(len(b)-k) {
				return sessionHello(fmt.Sprintf("arena/%d", v), string(b[k:]))
			}
		}
		return append([]byte{wireHello}, payload[1:]...)
	case game.MsgPing, game.MsgPong:
		m, err := game.Decode(payload)
		if err != nil {
			return payload
		}
		t, typ := int64(0), byte(wirePing)
		switch m := m.(type) {
		case game.Ping:
			t = m.T
		case game.Pong:
			t, typ = m.T, wirePong
		}
		return binary.AppendVarint([]byte{typ}, t)
	case game.MsgGoodbye:
		return []byte{wireBye, byeQuit}
	}
	return payload
}

// fromSession translates a payload from the server into a message of
// package game: the session's Welcome (with the game's welcome data) into
// a Welcome, a Bye into a Reject (Shutdown for a shutdown), Ping and Pong.
func fromSession(p []byte) (game.Message, error) {
	if len(p) == 0 {
		return nil, errors.New("empty message")
	}
	switch p[0] {
	case wireWelcome:
		b := p[1:]
		if len(b) < 1 || b[0] != wireVersion {
			return nil, errors.New("welcome of another version")
		}
		b = b[1:]
		id, k := binary.Uvarint(b)
		if k <= 0 || len(b) < k+16+1+2 {
			return nil, errors.New("short welcome")
		}
		b = b[k:]
		var w game.Welcome
		w.PlayerID = uint16(id)
		copy(w.Token[:], b[:16])
		b = b[16+1+2:]
		if _, k := binary.Uvarint(b); k > 0 {
			b = b[k:]
		}
		tick, aw, ah, err := game.DecodeWelcomeData(b)
		if err != nil {
			return nil, err
		}
		w.TickRate, w.ArenaW, w.ArenaH = tick, uint16(aw), uint16(ah)
		return w, nil
	case wireBye:
		if len(p) >= 2 && p[1] == byeShutdown {
			return game.Shutdown{}, nil
		}
		return game.Reject{Reason: string(p[min(2, len(p)):])}, nil
	case wirePing, wirePong:
		t, k := binary.Varint(p[1:])
		if k <= 0 {
			return nil, errors.New("malformed ping")
		}
		if p[0] == wirePing {
			return game.Ping{T: t}, nil
		}
		return game.Pong{T: t}, nil
	}
	return game.Decode(p)
}
