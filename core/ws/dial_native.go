//go:build !js

package ws

import (
	"net/http"

	"github.com/coder/websocket"
)

// dialOptions are coder/websocket's options for Dial, and what to release
// once the dial is over. With Options.TLS, the dial has an HTTP transport
// of its own; the WebSocket takes its connection over, so releasing it
// closes only what a failed handshake left idle.
func dialOptions(o *Options) (*websocket.DialOptions, func()) {
	do := &websocket.DialOptions{}
	if o == nil {
		return do, func() {}
	}
	do.Subprotocols = o.Subprotocols
	if o.TLS == nil {
		return do, func() {}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = o.TLS.Clone()
	do.HTTPClient = &http.Client{Transport: tr}
	return do, tr.CloseIdleConnections
}
