//go:build unix

package ebitenreactor_test

import (
	"fmt"
	"io"
	"log"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// closeWindow asks the X server to close the top-level window titled
// title the way a window manager's close button does: a WM_PROTOCOLS
// client message carrying WM_DELETE_WINDOW, sent to the window's owner.
func closeWindow(title string) error {
	xgb.Logger = log.New(io.Discard, "", 0) // it complains about a missing ~/.Xauthority
	c, err := xgb.NewConn()
	if err != nil {
		return fmt.Errorf("connecting to the X server: %w", err)
	}
	defer c.Close()
	atom := func(name string) (xproto.Atom, error) {
		r, err := xproto.InternAtom(c, false, uint16(len(name)), name).Reply()
		if err != nil {
			return 0, err
		}
		return r.Atom, nil
	}
	protocols, err := atom("WM_PROTOCOLS")
	if err != nil {
		return err
	}
	deleteWindow, err := atom("WM_DELETE_WINDOW")
	if err != nil {
		return err
	}
	netName, err := atom("_NET_WM_NAME")
	if err != nil {
		return err
	}
	// The caller sends this from a running game: Ebiten made the window,
	// titled, before the first Update, so one look suffices.
	root := xproto.Setup(c).DefaultScreen(c).Root
	win, err := findWindow(c, root, title, netName)
	if err != nil {
		return err
	}
	if win == 0 {
		return fmt.Errorf("no window titled %q", title)
	}
	ev := xproto.ClientMessageEvent{
		Format: 32,
		Window: win,
		Type:   protocols,
		Data:   xproto.ClientMessageDataUnionData32New([]uint32{uint32(deleteWindow), uint32(xproto.TimeCurrentTime), 0, 0, 0}),
	}
	if err := xproto.SendEventChecked(c, false, win, xproto.EventMaskNoEvent, string(ev.Bytes())).Check(); err != nil {
		return fmt.Errorf("sending WM_DELETE_WINDOW: %w", err)
	}
	return nil
}

func findWindow(c *xgb.Conn, w xproto.Window, title string, netName xproto.Atom) (xproto.Window, error) {
	for _, prop := range []xproto.Atom{netName, xproto.AtomWmName} {
		p, err := xproto.GetProperty(c, false, w, prop, xproto.GetPropertyTypeAny, 0, 1024).Reply()
		if err == nil && string(p.Value) == title {
			return w, nil
		}
	}
	tree, err := xproto.QueryTree(c, w).Reply()
	if err != nil {
		return 0, fmt.Errorf("querying the window tree: %w", err)
	}
	for _, child := range tree.Children {
		if found, err := findWindow(c, child, title, netName); err != nil || found != 0 {
			return found, err
		}
	}
	return 0, nil
}
