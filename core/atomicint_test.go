//go:build unix

package core

import "sync/atomic"

type atomicInt = atomic.Int64
