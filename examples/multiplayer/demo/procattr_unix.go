//go:build unix

package main

import (
	"os"
	"syscall"
)

// ownProcessGroup puts a child in a process group of its own, so that a
// Ctrl-C in the terminal reaches only the demo, which then stops the
// children in order (client first, so that it says goodbye).
func ownProcessGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// terminate asks a process to stop cleanly.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// killGroup kills a child's whole process group (a child started with
// ownProcessGroup leads one).
func killGroup(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGKILL) }
