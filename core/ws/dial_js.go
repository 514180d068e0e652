//go:build js

package ws

import "github.com/coder/websocket"

// dialOptions are coder/websocket's options for Dial. In the browser the
// browser dials: Options.TLS does not apply.
func dialOptions(o *Options) (*websocket.DialOptions, func()) {
	do := &websocket.DialOptions{}
	if o != nil {
		do.Subprotocols = o.Subprotocols
	}
	return do, func() {}
}
