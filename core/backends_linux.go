//go:build linux

package core

func platformBackends() []backendInfo {
	return []backendInfo{
		{"epoll", newEpollPoller, true},
		{"poll", newPollPoller, true},
		{portableBackend, newPortablePoller, false},
	}
}
