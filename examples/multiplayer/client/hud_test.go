package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// The status screen says why, in words a player understands.
func TestScreenText(t *testing.T) {
	const addr = "127.0.0.1:7777"
	refused := fmt.Errorf("netclient: connecting to %s: %w: %s: connect: connection refused", addr, core.ErrConnectionRefused, addr)
	cases := []struct {
		name          string
		st            netclient.State
		disconnecting bool
		title, hint   string
	}{
		{"connecting", netclient.State{Status: netclient.StatusConnecting}, false, "Connecting to " + addr + "…", ""},
		{"playing", netclient.State{Status: netclient.StatusConnected}, false, "", ""},
		{"closing", netclient.State{Status: netclient.StatusConnected}, true, "Disconnecting…", "goodbye"},
		{"refused", netclient.State{Status: netclient.StatusFailed, Cause: netclient.CauseUnreachable, Err: refused}, false,
			"Could not connect to " + addr + ": connection refused", "Is the server running?"},
		{"full", netclient.State{Status: netclient.StatusFailed, Cause: netclient.CauseRejected, Reason: "server full"}, false,
			"The server turned you away: server full", "Close the window"},
		{"no welcome", netclient.State{Status: netclient.StatusFailed, Cause: netclient.CauseLost, Err: netclient.ErrNoWelcome}, false,
			"Could not join " + addr + ": no welcome from the server", "Close the window"},
		{"not a game server", netclient.State{Status: netclient.StatusFailed, Cause: netclient.CauseProtocol,
			Err: fmt.Errorf("%w: %w: unknown message type", core.ErrBadInput, netclient.ErrProtocol)}, false,
			"Could not join " + addr + ": it does not speak this game's protocol", "Close the window"},
		{"shutdown", netclient.State{Status: netclient.StatusDisconnected, Cause: netclient.CauseServerShutdown}, true,
			"Disconnected: server shut down", "Close the window"},
		{"kicked", netclient.State{Status: netclient.StatusDisconnected, Cause: netclient.CauseKicked, Reason: "kicked: idle"}, false,
			"Kicked: idle", "Close the window"},
		{"silent", netclient.State{Status: netclient.StatusDisconnected, Cause: netclient.CauseLost,
			Err: fmt.Errorf("%w for 5s", netclient.ErrServerTimeout)}, false,
			"Disconnected: connection lost (the server went silent)", "Close the window"},
		{"reset", netclient.State{Status: netclient.StatusDisconnected, Cause: netclient.CauseLost,
			Err: fmt.Errorf("%w: read: boom", core.ErrConnectionReset)}, false,
			"Disconnected: connection lost (connection reset)", "Close the window"},
		{"quit", netclient.State{Status: netclient.StatusDisconnected, Cause: netclient.CauseQuit}, true, "Disconnected", ""},
	}
	for _, tc := range cases {
		title, hint := screenText(addr, tc.st, tc.disconnecting)
		if title != tc.title || !strings.Contains(hint, tc.hint) || (tc.hint == "" && hint != "") {
			t.Errorf("%s: got %q / %q, want %q / …%q…", tc.name, title, hint, tc.title, tc.hint)
		}
	}
}

// The HUD line is rebuilt only when what it shows changes.
func TestHUDLine(t *testing.T) {
	var h hudLine
	st := netclient.State{Status: netclient.StatusConnected, PlayerID: 3, UDP: netclient.UDPBound}
	h.update("alice", st, 1)
	if want := "alice  ·  1 player  ·  RTT …  ·  UDP"; h.text != want {
		t.Fatalf("got %q, want %q", h.text, want)
	}
	st.RTT, st.RTTSamples = 1234*time.Microsecond, 1
	h.update("alice", st, 5)
	if want := "alice  ·  5 players  ·  RTT 1.2 ms  ·  UDP"; h.text != want {
		t.Fatalf("got %q, want %q", h.text, want)
	}
	st.RTT, st.UDP = 23456*time.Microsecond, netclient.UDPFailed
	h.update("alice", st, 5)
	if want := "alice  ·  5 players  ·  RTT 23 ms  ·  TCP"; h.text != want {
		t.Fatalf("got %q, want %q", h.text, want)
	}
	before := h.text
	st.RTT += 10 * time.Microsecond // the same to a tenth of a millisecond
	if allocs := testing.AllocsPerRun(100, func() { h.update("alice", st, 5) }); allocs != 0 || h.text != before {
		t.Errorf("an unchanged HUD allocated %v times (text %q)", allocs, h.text)
	}
	// Over WebSocket (the browser, or -ws) there is no UDP: the stream is WS.
	web := hudLine{ws: true}
	web.update("bob", netclient.State{Status: netclient.StatusConnected, PlayerID: 4, UDP: netclient.UDPOff, RTT: 2 * time.Millisecond, RTTSamples: 1}, 2)
	if want := "bob  ·  2 players  ·  RTT 2.0 ms  ·  WS"; web.text != want {
		t.Fatalf("over WebSocket: got %q, want %q", web.text, want)
	}
}
