//go:build windows

package core

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

func isResetErr(err error) bool {
	return errors.Is(err, windows.WSAECONNRESET) || errors.Is(err, windows.WSAECONNABORTED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTimeoutErr(err error) bool { return errors.Is(err, windows.WSAETIMEDOUT) }

func isWouldBlock(err error) bool {
	return errors.Is(err, windows.WSAEWOULDBLOCK) || errors.Is(err, windows.WSAENOBUFS)
}

func isRefused(err error) bool { return errors.Is(err, windows.WSAECONNREFUSED) }

func isUnreachableErr(err error) bool {
	return errors.Is(err, windows.WSAENETUNREACH) || errors.Is(err, windows.WSAEHOSTUNREACH)
}
