//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// errNoWindow: no window has the title (yet).
var errNoWindow = errors.New("no such window")

// closeWindowTitled does what a window manager's close button does to the
// top-level window titled title: it sends its owner a WM_PROTOCOLS client
// message carrying WM_DELETE_WINDOW. It retries until the window exists or
// the timeout passes.
func closeWindowTitled(t *testing.T, title string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := sendDeleteWindow(title)
		if err == nil {
			return
		}
		if !errors.Is(err, errNoWindow) || time.Now().After(deadline) {
			t.Fatalf("closing the window %q: %v", title, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sendDeleteWindow(title string) error {
	xgb.Logger = log.New(io.Discard, "", 0) // it complains that there is no ~/.Xauthority
	c, err := xgb.NewConn()
	if err != nil {
		return fmt.Errorf("connecting to the X server: %w", err)
	}
	defer c.Close()
	atoms := map[string]xproto.Atom{"WM_PROTOCOLS": 0, "WM_DELETE_WINDOW": 0, "_NET_WM_NAME": 0}
	for name := range atoms {
		reply, err := xproto.InternAtom(c, false, uint16(len(name)), name).Reply()
		if err != nil {
			return fmt.Errorf("interning %s: %w", name, err)
		}
		atoms[name] = reply.Atom
	}
	win, err := windowTitled(c, xproto.Setup(c).DefaultScreen(c).Root, title, atoms["_NET_WM_NAME"])
	if err != nil {
		return err
	}
	ev := xproto.ClientMessageEvent{
		Format: 32,
		Window: win,
		Type:   atoms["WM_PROTOCOLS"],
		Data: xproto.ClientMessageDataUnionData32New([]uint32{
			uint32(atoms["WM_DELETE_WINDOW"]), uint32(xproto.TimeCurrentTime), 0, 0, 0,
		}),
	}
	return xproto.SendEventChecked(c, false, win, xproto.EventMaskNoEvent, string(ev.Bytes())).Check()
}

// windowTitled searches the window tree under root, breadth first, for a
// window whose _NET_WM_NAME or WM_NAME is title.
func windowTitled(c *xgb.Conn, root xproto.Window, title string, netWMName xproto.Atom) (xproto.Window, error) {
	queue := []xproto.Window{root}
	for len(queue) > 0 {
		w := queue[0]
		queue = queue[1:]
		for _, prop := range []xproto.Atom{netWMName, xproto.AtomWmName} {
			p, err := xproto.GetProperty(c, false, w, prop, xproto.GetPropertyTypeAny, 0, 256).Reply()
			if err == nil && string(p.Value) == title {
				return w, nil
			}
		}
		tree, err := xproto.QueryTree(c, w).Reply()
		if err != nil {
			continue // the window went away meanwhile
		}
		queue = append(queue, tree.Children...)
	}
	return 0, errNoWindow
}
