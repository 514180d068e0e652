//go:build !js

package main

import (
	"os"

	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// commandLine returns the command's arguments.
func commandLine() []string { return os.Args[1:] }

// page is nothing outside the browser.
type page struct{}

func (page) update(*Game, netclient.State) {}
