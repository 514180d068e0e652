//go:build !unix

package main

import (
	"os"
	"syscall"
)

// ownProcessGroup: nothing to do here.
func ownProcessGroup() *syscall.SysProcAttr { return nil }

// terminate stops a process: there is no SIGTERM to send here.
func terminate(p *os.Process) error { return p.Kill() }

// killGroup kills the process.
func killGroup(p *os.Process) error { return p.Kill() }
