package gameserver

import "github.com/threadedselect/reactor/core"

// kernelQueued returns the bytes the kernel holds unsent for a connection,
// or -1 when the platform does not tell.
func kernelQueued(st core.ConnStats) int {
	_ = st
	return -1
}

// sendBufferOption returns the listen option that sets the kernel's send
// buffer of each connection to n bytes, or none for n <= 0.
func sendBufferOption(n int) []core.ListenOption {
	_ = n
	return nil
}
