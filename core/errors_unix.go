//go:build unix

package core

import (
	"errors"

	"golang.org/x/sys/unix"
)

func isResetErr(err error) bool {
	return errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNABORTED)
}

func isTimeoutErr(err error) bool { return errors.Is(err, unix.ETIMEDOUT) }

func isWouldBlock(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOBUFS)
}

func isRefused(err error) bool { return errors.Is(err, unix.ECONNREFUSED) }

func isUnreachableErr(err error) bool {
	return errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) ||
		errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.EAFNOSUPPORT)
}
