package game

import (
	"encoding/binary"
	"fmt"
)

// welcomeDataLen is the length of the game's part of the session welcome.
const welcomeDataLen = 1 + 2 + 2

// AppendWelcomeData appends the game's part of the session welcome
// (session.ServerConfig.WelcomeData): the tick rate, and the arena's width
// and height.
func AppendWelcomeData(dst []byte, tickRate uint8) []byte {
	dst = append(dst, tickRate)
	dst = binary.BigEndian.AppendUint16(dst, ArenaW)
	return binary.BigEndian.AppendUint16(dst, ArenaH)
}

// DecodeWelcomeData reads what AppendWelcomeData wrote: the tick rate and
// the arena's size. The error matches ErrMalformed.
func DecodeWelcomeData(b []byte) (tickRate uint8, arenaW, arenaH int, err error) {
	if len(b) != welcomeDataLen || b[0] == 0 {
		return 0, 0, 0, fmt.Errorf("%w: welcome data of %d bytes", ErrMalformed, len(b))
	}
	return b[0], int(binary.BigEndian.Uint16(b[1:])), int(binary.BigEndian.Uint16(b[3:])), nil
}

// App is the application name and version the server and its clients
// present in the session handshake (session.ServerConfig.App and
// ClientConfig.App): a client of another protocol version is refused.
const App = "arena/1"
