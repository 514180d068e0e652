// Package webtest tests the example game in a real browser: a headless
// Chromium (Debian's chromium package; `make deps` installs it), driven
// with github.com/chromedp/chromedp, loads the client built for
// WebAssembly from the server command's web endpoint and plays over
// WebSocket beside bots on TCP and UDP.
//
// It is a module of its own so that chromedp, which needs Go 1.25, is no
// dependency of the main module (Go 1.24). `make test` runs it; so does
//
//	cd examples/multiplayer/webtest && go test -race .
//
// The tests build the server, the bots and the browser client once per
// run (the WebAssembly client takes the longest) and skip, saying so,
// when no Chromium is installed.
package webtest
