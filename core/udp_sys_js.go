//go:build js

package core

// enableDropCount: the browser has no UDP sockets (ListenUDP fails there);
// these keep the shared datagram code compiling.
func enableDropCount(int)               {}
func kernelDrops([]byte) (uint32, bool) { return 0, false }

const msgTrunc = 0x20
