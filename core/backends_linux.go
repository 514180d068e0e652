//go:build linux

package core

func platformBackends() []backendInfo {
	return []backendInfo{
		{"epoll", newEpollPoller},
		{"poll", newPollPoller},
		{portableBackend, newPortablePoller},
	}
}
