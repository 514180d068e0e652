package game_test

import (
	"fmt"

	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// Encode a Hello into a reused buffer, decode it and dispatch on its type.
func Example() {
	buf := make([]byte, 0, 64)
	buf = game.AppendHello(buf, game.Hello{Version: game.ProtocolVersion, Name: "alice"})
	fmt.Printf("payload: % x\n", buf)

	msg, err := game.Decode(buf)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	switch m := msg.(type) {
	case game.Hello:
		fmt.Printf("%v from %q, protocol version %d\n", m.Type(), m.Name, m.Version)
	default:
		fmt.Println("unexpected", m.Type())
	}

	_, err = game.Decode(buf[:4])
	fmt.Println("cut short:", err)
	// Output:
	// payload: 01 01 05 61 6c 69 63 65
	// Hello from "alice", protocol version 1
	// cut short: game: decode Hello.name: truncated
}
