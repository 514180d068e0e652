//go:build unix && !linux && !darwin && !dragonfly && !freebsd && !openbsd

package core

// Other unixes (NetBSD, Solaris, AIX, ...) get the portable poll(2)
// backend.
func platformBackends() []backendInfo {
	return []backendInfo{
		{"poll", newPollPoller, true},
		{portableBackend, newPortablePoller, false},
	}
}
