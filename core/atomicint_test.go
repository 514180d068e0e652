//go:build unix || js

package core

import "sync/atomic"

type atomicInt = atomic.Int64
