//go:build !linux

package core

// pollWatch is Linux only (epoll); elsewhere Run with descriptors sleeps in
// the poller.
type pollWatch struct{}

func newPollWatch(*loop) *pollWatch { return nil }
func (w *pollWatch) usable() bool   { return false }
func (w *pollWatch) watch()         {}
func (w *pollWatch) stop()          {}
