package e2e

import (
	"encoding/binary"
	"fmt"

	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// The raw clients of these tests write and read the game's messages of
// package game; the server speaks them inside package core/session's
// handshake, keepalive and goodbye. toSession and fromSession translate,
// through the session package's own description of its messages
// (session.RawMessage), so that nothing here copies its wire format.

// sessionHello is the session package's Hello for app with the player's
// name as its data.
func sessionHello(app, name string) []byte {
	return session.RawMessage{Kind: session.RawHello, App: app, Data: []byte(name)}.Append(nil)
}

// sessionBind is a UDP binding datagram (a bare payload).
func sessionBind(id uint16, token [16]byte) []byte {
	return session.RawMessage{Kind: session.RawBind, ID: uint32(id), Token: token}.Append(nil)
}

// toSession translates a payload of package game into what the server
// expects: Hello, Ping, Pong and Goodbye become the session package's;
// a Hello of another protocol version presents another App. A malformed
// Hello is sent as the session's Hello type byte followed by the bytes
// after the game's.
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
		return append(sessionHello("", "")[:1], payload[1:]...)
	case game.MsgPing, game.MsgPong:
		m, err := game.Decode(payload)
		if err != nil {
			return payload
		}
		switch m := m.(type) {
		case game.Ping:
			return session.RawMessage{Kind: session.RawPing, T: m.T}.Append(nil)
		case game.Pong:
			return session.RawMessage{Kind: session.RawPong, T: m.T}.Append(nil)
		}
	case game.MsgGoodbye:
		return session.RawMessage{Kind: session.RawBye, Reason: session.ReasonQuit}.Append(nil)
	}
	return payload
}

// fromSession translates a payload from the server into a message of
// package game: the session's Welcome (with the game's welcome data) into
// a Welcome, a Bye into a Reject (Shutdown for a shutdown), Ping and Pong.
func fromSession(p []byte) (game.Message, error) {
	m, err := session.ParseRaw(p)
	if err != nil {
		return nil, err
	}
	switch m.Kind {
	case session.RawWelcome:
		tick, aw, ah, err := game.DecodeWelcomeData(m.Data)
		if err != nil {
			return nil, err
		}
		return game.Welcome{PlayerID: uint16(m.ID), Token: m.Token, TickRate: tick, ArenaW: uint16(aw), ArenaH: uint16(ah)}, nil
	case session.RawBye:
		if m.Reason == session.ReasonShutdown {
			return game.Shutdown{}, nil
		}
		return game.Reject{Reason: m.Text}, nil
	case session.RawPing:
		return game.Ping{T: m.T}, nil
	case session.RawPong:
		return game.Pong{T: m.T}, nil
	case session.RawApp:
		return game.Decode(p)
	}
	return nil, fmt.Errorf("unexpected %v from the server", m.Kind)
}
