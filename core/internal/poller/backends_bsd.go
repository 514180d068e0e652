//go:build darwin || dragonfly || freebsd || openbsd

package poller

func platformBackends() []Backend {
	return []Backend{
		{"kqueue", true, newKqueue},
		{"poll", true, newPoll},
		{Portable, false, newPortable},
	}
}
