package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// screenText says what the status screen shows for a session state: a
// headline and a hint below it. Both are "" while playing. addr is the
// server's address as given; disconnecting is true once the window is
// closing (the goodbye is being said).
func screenText(addr string, st netclient.State, disconnecting bool) (title, hint string) {
	const closeHint = "Close the window to quit."
	switch st.Status {
	case netclient.StatusConnecting:
		if disconnecting {
			return "Disconnecting…", ""
		}
		return "Connecting to " + addr + "…", ""
	case netclient.StatusConnected:
		if disconnecting {
			return "Disconnecting…", "Saying goodbye to the server."
		}
		return "", ""
	case netclient.StatusReconnecting:
		if disconnecting {
			return "Disconnecting…", ""
		}
		return "Reconnecting to " + addr + "…", reconnectHint(st)
	case netclient.StatusFailed:
		switch st.Cause {
		case netclient.CauseUnreachable:
			return "Could not connect to " + addr + ": " + errReason(st.Err), "Is the server running? " + closeHint
		case netclient.CauseRejected:
			return "The server turned you away: " + st.Reason, closeHint
		case netclient.CauseProtocol:
			return "Could not join " + addr + ": it does not speak this game's protocol", closeHint
		case netclient.CauseQuit:
			return "Connection cancelled", ""
		}
		return "Could not join " + addr + ": " + errReason(st.Err), closeHint
	case netclient.StatusDisconnected:
		switch st.Cause {
		case netclient.CauseServerShutdown:
			return "Disconnected: server shut down", closeHint
		case netclient.CauseKicked:
			return "Kicked: " + strings.TrimPrefix(st.Reason, "kicked: "), closeHint
		case netclient.CauseLost:
			return "Disconnected: connection lost (" + errReason(st.Err) + ")", closeHint
		case netclient.CauseProtocol:
			return "Disconnected: protocol error", closeHint
		case netclient.CauseQuit:
			return "Disconnected", ""
		}
		return "Disconnected", closeHint
	}
	return st.Status.String(), ""
}

// reconnectHint says why the session is reconnecting, for the status
// screen while it waits.
func reconnectHint(st netclient.State) string {
	switch st.Cause {
	case netclient.CauseServerShutdown:
		return "The server shut down; waiting for it to come back."
	case netclient.CauseRejected:
		return "The server turned you away (" + st.Reason + "); trying again."
	case netclient.CauseUnreachable:
		return "The server cannot be reached (" + errReason(st.Err) + "); trying again."
	case netclient.CauseLost:
		return "The connection was lost (" + errReason(st.Err) + "); trying again."
	}
	return "Trying again."
}

// errReason says in a few words what a session error was, for the status
// screen (the log has the whole chain).
func errReason(err error) string {
	switch {
	case err == nil:
		return "no reason given"
	case errors.Is(err, netclient.ErrServerTimeout):
		return "the server went silent"
	case errors.Is(err, netclient.ErrNoWelcome):
		return "no welcome from the server"
	case errors.Is(err, netclient.ErrProtocol), errors.Is(err, core.ErrBadInput):
		return "protocol error"
	case errors.Is(err, core.ErrConnectionRefused):
		return "connection refused"
	case errors.Is(err, core.ErrTimeout):
		return "timed out"
	case errors.Is(err, core.ErrUnreachable):
		return "network unreachable"
	case errors.Is(err, core.ErrResolve):
		return "cannot resolve the address"
	case errors.Is(err, core.ErrConnectionReset):
		return "connection reset"
	case errors.Is(err, core.ErrConnectionDone), errors.Is(err, core.ErrClosed):
		return "closed by the server"
	}
	return err.Error()
}

// hudLine is the HUD's text, rebuilt only when something it shows changed,
// so that steady-state frames format nothing.
type hudLine struct {
	text string
	ws   bool // the session runs over WebSocket: its stream is WS, not TCP

	// What text was made from.
	id       uint16
	players  int
	rttTenth int64 // RTT in 0.1 ms; -1 before the first sample
	udp      netclient.UDPStatus
}

// update rebuilds the line if any of its inputs changed.
func (h *hudLine) update(name string, st netclient.State, players int) {
	rtt := int64(-1)
	if st.RTTSamples > 0 {
		rtt = int64(st.RTT / (100 * time.Microsecond))
	}
	if h.text != "" && h.id == st.PlayerID && h.players == players && h.rttTenth == rtt && h.udp == st.UDP {
		return
	}
	h.id, h.players, h.rttTenth, h.udp = st.PlayerID, players, rtt, st.UDP
	var b strings.Builder
	fmt.Fprintf(&b, "%s  ·  %d player", name, players)
	if players != 1 {
		b.WriteString("s")
	}
	switch {
	case rtt < 0:
		b.WriteString("  ·  RTT …")
	case rtt < 100:
		fmt.Fprintf(&b, "  ·  RTT %d.%d ms", rtt/10, rtt%10)
	default:
		fmt.Fprintf(&b, "  ·  RTT %d ms", (rtt+5)/10)
	}
	switch st.UDP {
	case netclient.UDPBound:
		b.WriteString("  ·  UDP")
	case netclient.UDPFailed, netclient.UDPOff:
		if h.ws {
			b.WriteString("  ·  WS")
		} else {
			b.WriteString("  ·  TCP")
		}
	}
	h.text = b.String()
}
