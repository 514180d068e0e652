//go:build unix && !linux && !darwin && !dragonfly && !freebsd && !openbsd

package poller

// Other unixes (NetBSD, Solaris, AIX, ...) get the portable poll(2)
// backend.
func platformBackends() []Backend {
	return []Backend{
		{"poll", true, newPoll},
		{Portable, false, newPortable},
	}
}
