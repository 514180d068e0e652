//go:build darwin || dragonfly || freebsd || openbsd

package core

func platformBackends() []backendInfo {
	return []backendInfo{
		{"kqueue", newKqueuePoller},
		{"poll", newPollPoller},
		{portableBackend, newPortablePoller},
	}
}
