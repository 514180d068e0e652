package framing_test

import (
	"fmt"

	"github.com/threadedselect/reactor/core/framing"
)

func Example() {
	// Two messages on the wire, arriving split at an awkward place.
	stream := framing.Append(framing.Append(nil, []byte("hello")), []byte("world"))
	d := framing.NewDecoder(1024)
	for _, part := range [][]byte{stream[:3], stream[3:]} {
		d.Feed(part, func(msg []byte) error {
			fmt.Printf("%s\n", msg)
			return nil
		})
	}
	// Output:
	// hello
	// world
}
