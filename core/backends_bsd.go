//go:build darwin || dragonfly || freebsd || openbsd

package core

func platformBackends() []backendInfo {
	return []backendInfo{
		{"kqueue", newKqueuePoller, true},
		{"poll", newPollPoller, true},
		{portableBackend, newPortablePoller, false},
	}
}
