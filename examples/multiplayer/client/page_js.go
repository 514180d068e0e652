//go:build js

package main

import (
	"net"
	"net/url"
	"strings"
	"syscall/js"
	"time"

	"github.com/hajimehoshi/ebiten/v2"

	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// commandLine makes the command's arguments from the page's address, in
// the browser: the player's name from ?name= ("player" without it), the
// net graph shown with &netgraph=1, and the connection: a WebSocket to
// the page's own host, path ws beside the page (/ws for /), ws:// or
// wss:// as the page is http or https. Browsers have no UDP: snapshots
// come over the WebSocket.
func commandLine() []string {
	loc := js.Global().Get("location")
	host := loc.Get("host").String()
	scheme, port := "ws", "80"
	if loc.Get("protocol").String() == "https:" {
		scheme, port = "wss", "443"
	}
	dir := loc.Get("pathname").String()
	dir = dir[:strings.LastIndex(dir, "/")+1]
	if dir == "" {
		dir = "/"
	}
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	args := []string{"-addr", addr, "-ws", scheme + "://" + host + dir + "ws", "-udp=false"}
	q, _ := url.ParseQuery(strings.TrimPrefix(loc.Get("search").String(), "?"))
	if name := q.Get("name"); name != "" {
		args = append(args, "-name", name)
	}
	if ng := q.Get("netgraph"); ng != "" && ng != "0" && ng != "false" {
		args = append(args, "-netgraph")
	}
	return args
}

// page tells the page how the game goes, in window.reactorClient (made if
// the page has none): status, player, name, snapshots, x and y (the own
// player, predicted), visible (players drawn), fps and tps (Ebiten's),
// rtt_ms, and connectedAt and firstSnapshotAt (performance.now() of those
// moments). It is refreshed when the status changes and otherwise ten
// times a second; people read it from the developer console, tests from
// the outside.
type page struct {
	obj          js.Value
	perf         js.Value
	last         time.Time
	status       netclient.Status
	seen         bool // a first update ran
	hadSnapshot  bool
	wasConnected bool
}

func (p *page) update(g *Game, st netclient.State) {
	if !p.seen {
		p.seen = true
		p.perf = js.Global().Get("performance")
		p.obj = js.Global().Get("reactorClient")
		if p.obj.Type() != js.TypeObject {
			p.obj = js.Global().Get("Object").New()
			js.Global().Set("reactorClient", p.obj)
		}
		p.obj.Set("name", g.opts.name)
		// The session's goodbye, framed as on the stream, for the page to
		// send on its WebSocket before it closes it when the tab closes
		// (index.html, pagehide): the game cannot run then, and a goodbye
		// makes the server let the player go at once (reason=quit), where
		// a connection that merely ends could be held for the server's
		// grace period.
		bye := framing.Append(nil, session.RawMessage{Kind: session.RawBye, Reason: session.ReasonQuit}.Append(nil))
		arr := js.Global().Get("Uint8Array").New(len(bye))
		js.CopyBytesToJS(arr, bye)
		p.obj.Set("goodbye", arr)
		p.status = ^netclient.Status(0)
	}
	if st.Status == netclient.StatusConnected && !p.wasConnected {
		p.wasConnected = true
		p.obj.Set("connectedAt", p.perf.Call("now"))
	}
	if st.Snapshots > 0 && !p.hadSnapshot {
		p.hadSnapshot = true
		p.obj.Set("firstSnapshotAt", p.perf.Call("now"))
	}
	now := time.Now()
	if st.Status == p.status && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.status, p.last = st.Status, now
	p.obj.Set("status", st.Status.String())
	p.obj.Set("cause", st.Cause.String())
	p.obj.Set("player", int(st.PlayerID))
	p.obj.Set("snapshots", float64(st.Snapshots))
	p.obj.Set("visible", g.visible)
	p.obj.Set("fps", ebiten.ActualFPS())
	p.obj.Set("tps", ebiten.ActualTPS())
	p.obj.Set("rtt_ms", float64(st.RTT)/float64(time.Millisecond))
	p.obj.Set("frames", float64(g.frames))
	if g.sess != nil {
		if me, ok := g.sess.Self(); ok {
			p.obj.Set("x", me.X)
			p.obj.Set("y", me.Y)
		}
	}
}
