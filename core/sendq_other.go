//go:build !linux

package core

// unsentInKernel cannot tell on this platform.
func unsentInKernel(int) int { return -1 }
