//go:build reactor_threadcheck

package core

// threadCheckDefault: built with the tag reactor_threadcheck, every
// reactor checks the threading rule unless WithThreadCheck(false).
const threadCheckDefault = true
