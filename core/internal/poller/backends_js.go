//go:build js

package poller

// On Windows there is one backend, the portable one: x/sys/js has no
// WSAPoll to build a poller on.
func platformBackends() []Backend {
	return []Backend{{Portable, false, newPortable}}
}
