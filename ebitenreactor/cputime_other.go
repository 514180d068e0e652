//go:build !(linux || darwin || freebsd || openbsd || dragonfly || solaris)

package ebitenreactor

import "time"

// threadCPUTime cannot tell on this platform: Frame.CPU stays 0.
func threadCPUTime() (time.Duration, bool) { return 0, false }
