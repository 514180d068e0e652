//go:build linux

package poller

func platformBackends() []Backend {
	return []Backend{
		{"epoll", true, newEpoll},
		{"poll", true, newPoll},
		{Portable, false, newPortable},
	}
}
