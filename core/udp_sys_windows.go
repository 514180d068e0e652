//go:build windows

package core

import "golang.org/x/sys/windows"

// enableDropCount: Windows does not report kernel drops per socket.
func enableDropCount(int)               {}
func kernelDrops([]byte) (uint32, bool) { return 0, false }

const msgTrunc = windows.MSG_TRUNC
