//go:build !linux

package core

// unsentInKernel cannot tell on this platform.
func unsentInKernel(int) int { return -1 }

// canTellSendRoom: sendRoom cannot tell on this platform, so a
// goroutine-backed connection's reader never writes (goConn.offer).
const canTellSendRoom = false

func sendRoom(int) int { return 0 }
