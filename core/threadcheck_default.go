//go:build !reactor_threadcheck

package core

// threadCheckDefault: WithThreadCheck is off unless the program is built
// with the tag reactor_threadcheck.
const threadCheckDefault = false
