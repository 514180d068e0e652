package e2e

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/multiplayer/bots/swarm"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
	"github.com/threadedselect/reactor/internal/testcert"
)

// A player over WebSocket (as browsers connect: the server's
// WebSocketHandler on an HTTP server) plays in the same match as bots on
// TCP and UDP: it joins under its name with the HTTP peer's address, has
// no UDP, gets snapshots over the WebSocket, sees the bots, its inputs
// move it on the server, and its goodbye is a clean leave.
func TestWebSocketPlayerBesideUDPBots(t *testing.T) {
	checkFds(t)
	c := startCluster(t, gameserver.Config{}, 2, "udp")
	web := httptest.NewServer(c.srv.WebSocketHandler(nil))
	t.Cleanup(web.Close) // after the loops stop (cleanups run last in, first out)
	url := "ws" + strings.TrimPrefix(web.URL, "http") + "/ws"

	var sess *netclient.Session
	c.botLoop.do(t, func() {
		var err error
		sess, err = netclient.Dial(c.botLoop.r, netclient.Config{Addr: web.Listener.Addr().String(), Name: "webby", Dial: netclient.WebSocket(url, nil)})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { sayGoodbye(t, c.botLoop, sess) })
	c.botLoop.waitFor(t, "the WebSocket player connected, with snapshots, seeing both bots", 15*time.Second, func() bool {
		st := sess.State()
		return st.Status == netclient.StatusConnected && st.Snapshots > 0 && len(sess.Remote(nil)) == 2
	})
	c.logs.waitCount(t, 5*time.Second, 1, "msg=join", "name=webby", "addr=127.0.0.1:")
	var st netclient.State
	c.botLoop.do(t, func() { st = sess.State() })
	if st.UDP != netclient.UDPOff || st.SnapshotsUDP != 0 {
		t.Fatalf("WebSocket player: UDP %v, %d snapshots over UDP", st.UDP, st.SnapshotsUDP)
	}
	for _, b := range c.sw.Bots {
		var bst netclient.State
		c.botLoop.do(t, func() { bst = b.Session.State() })
		if bst.UDP != netclient.UDPBound {
			t.Fatalf("bot %s: UDP %v", b.Name, bst.UDP)
		}
	}

	// Its inputs move it on the server.
	id := st.PlayerID
	x0 := serverX(t, c, id)
	c.botLoop.do(t, func() { sess.SetButtons(game.ButtonRight) })
	c.srvLoop.waitFor(t, "the WebSocket player moved right on the server", 10*time.Second, func() bool {
		for _, p := range c.srv.Players(nil) {
			if p.ID == id {
				return p.X > x0+20 || p.X >= game.ArenaW-game.PlayerRadius-1
			}
		}
		return false
	})
	c.botLoop.do(t, func() { sess.SetButtons(0) })

	mark := c.logs.mark()
	sayGoodbye(t, c.botLoop, sess)
	c.logs.waitSince(t, mark, 5*time.Second, 1, "msg=leave", "name=webby", "reason=quit")
}

// Bots over TLS (the server's game port with Config.TLS, the bots with
// netclient.TLS) join and bind UDP as over plain TCP; a client that does
// not trust the server's certificate fails with the verification error.
func TestTLSPlayers(t *testing.T) {
	checkFds(t)
	cert := testcert.New(t, t.TempDir())
	srvTLS, cliTLS := cert.Server, cert.Client
	logs := newLogSink()
	log := slog.New(slog.NewTextHandler(logs, nil))
	var srv *gameserver.Server
	srvLoop := startLoop(t, log, func(r *core.Reactor) {
		var err error
		srv, err = gameserver.New(r, gameserver.Config{Addr: "127.0.0.1:0", TLS: srvTLS, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
	})
	_ = srvLoop
	addr := srv.Addr().String()
	botLoop := startLoop(t, log, nil)
	var sw *swarm.Swarm
	botLoop.do(t, func() {
		var err error
		sw, err = swarm.Start(botLoop.r, swarm.Config{Addr: addr, N: 2, UDP: true, Seed: 1,
			Client: func(cc *netclient.Config) { cc.Dial = netclient.TLS(addr, cliTLS) }})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		var bye <-chan struct{}
		botLoop.do(t, func() { bye = sw.Goodbye() })
		select {
		case <-bye:
		case <-time.After(20 * time.Second):
			t.Error("bots' goodbyes did not finish")
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs.tail(60))
		}
	})
	botLoop.waitFor(t, "both TLS bots connected, bound to UDP, seeing each other", 20*time.Second, func() bool {
		for _, b := range sw.Bots {
			st := b.Session.State()
			if st.Status != netclient.StatusConnected || st.UDP != netclient.UDPBound || len(b.Session.Remote(nil)) != 1 {
				return false
			}
		}
		return true
	})
	logs.waitCount(t, 5*time.Second, 2, "msg=join", "name=bot0")

	// No trust: the handshake fails, and the client says why.
	var doubter *netclient.Session
	botLoop.do(t, func() {
		var err error
		doubter, err = netclient.Dial(botLoop.r, netclient.Config{Addr: addr, Name: "doubter", NoReconnect: true,
			Dial: netclient.TLS(addr, &tls.Config{MinVersion: tls.VersionTLS12})})
		if err != nil {
			t.Fatal(err)
		}
	})
	botLoop.waitFor(t, "the untrusting client failed", 15*time.Second, func() bool {
		return doubter.State().Status == netclient.StatusFailed
	})
	var st netclient.State
	botLoop.do(t, func() { st = doubter.State() })
	var verr *tls.CertificateVerificationError
	if st.Cause != netclient.CauseUnreachable || !errors.As(st.Err, &verr) {
		t.Fatalf("untrusting client: cause %v, err %v; want unreachable with a certificate verification error", st.Cause, st.Err)
	}
}

// The server command with -web serves the browser client's files from
// -web-root and takes WebSocket players at /ws on the same port; with
// -tls-cert and -tls-key, over HTTPS and WSS, and its game port speaks TLS.
// A WebSocket player whose page goes away (a closed tab: the page says
// goodbye and closes its WebSocket) leaves within 2 s, not held for the
// grace period; one whose WebSocket is aborted leaves within the grace
// period (-grace 1s).
func TestServerCommandWeb(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := "http"
		if secure {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "web")
			files := map[string]string{
				"index.html":   "<!doctype html><title>arena</title>",
				"wasm_exec.js": "// go",
				"client.wasm":  "\x00asm\x01\x00\x00\x00",
			}
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			for f, body := range files {
				if err := os.WriteFile(filepath.Join(root, f), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"-web", "127.0.0.1:0", "-web-root", root, "-stats", "-1s", "-grace", "1s"}
			httpClient := &http.Client{Timeout: 10 * time.Second}
			var cliTLS *tls.Config
			if secure {
				cert := testcert.New(t, dir)
				var err error
				// As the commands' -tls-ca loads it.
				if cliTLS, err = netclient.TLSClientConfig(cert.CertFile); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-tls-cert", cert.CertFile, "-tls-key", cert.KeyFile)
				httpClient.Transport = &http.Transport{TLSClientConfig: cliTLS}
				// core/ws dials with http.DefaultClient: trust the
				// certificate there for this test.
				dt := http.DefaultTransport.(*http.Transport)
				old := dt.TLSClientConfig
				dt.TLSClientConfig = cliTLS
				t.Cleanup(func() { dt.TLSClientConfig = old })
			}
			p := startServerProc(t, 0, args...)
			if !strings.HasPrefix(p.webURL, name+"://127.0.0.1:") || !strings.HasSuffix(p.webURL, "/?name=you") {
				t.Fatalf("web URL %q", p.webURL)
			}
			base := strings.TrimSuffix(p.webURL, "?name=you")
			for f, body := range files {
				resp, err := httpClient.Get(base + f)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(b) != body {
					t.Fatalf("GET %s: %s, %q", f, resp.Status, b)
				}
				if f == "client.wasm" && resp.Header.Get("Content-Type") != "application/wasm" {
					t.Fatalf("client.wasm served as %q", resp.Header.Get("Content-Type"))
				}
			}
			resp, err := httpClient.Get(p.webURL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != files["index.html"] {
				t.Fatalf("the page: %s %q", resp.Status, b)
			}

			wsURL := "ws" + strings.TrimPrefix(base, "http") + "ws"
			l := startLoop(t, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			var web, tcp *netclient.Session
			l.do(t, func() {
				var err error
				web, err = netclient.Dial(l.r, netclient.Config{Addr: p.addr, Name: "webby", Dial: netclient.WebSocket(wsURL, nil)})
				if err != nil {
					t.Fatal(err)
				}
				cc := netclient.Config{Addr: p.addr, Name: "tcpy", UDP: true}
				if secure {
					cc.Dial = netclient.TLS(p.addr, cliTLS)
				}
				tcp, err = netclient.Dial(l.r, cc)
				if err != nil {
					t.Fatal(err)
				}
			})
			t.Cleanup(func() { sayGoodbye(t, l, tcp) })
			l.waitFor(t, "both players connected, seeing each other", 15*time.Second, func() bool {
				return len(web.Remote(nil)) == 1 && len(tcp.Remote(nil)) == 1 &&
					web.State().Status == netclient.StatusConnected && tcp.State().Status == netclient.StatusConnected &&
					tcp.State().UDP == netclient.UDPBound
			})
			p.stderr.waitCount(t, 5*time.Second, 1, "msg=join", "name=webby", "addr=127.0.0.1:")

			// Aborted: gone within the grace period. (Over WebSocket an
			// abort may reach the server as a reset, which is held for
			// the grace period, or as the end of the stream, which is not.)
			mark := p.stderr.mark()
			var aborted time.Time
			l.do(t, func() { web.Abort(); aborted = time.Now() })
			p.stderr.waitSince(t, mark, 5*time.Second, 1, "msg=leave", "name=webby")
			if d := time.Since(aborted); d > 3*time.Second {
				t.Fatalf("the leave was logged %v after the abort, with a grace period of 1s", d)
			}

			// Closed as the page does when its tab closes: gone at once.
			mark = p.stderr.mark()
			gone := closeLikeATab(t, wsURL, "tabby")
			p.stderr.waitSince(t, mark, 5*time.Second, 1, "msg=leave", "name=tabby", "reason=quit")
			if d := time.Since(gone); d > 2*time.Second {
				t.Fatalf("the leave was logged %v after the WebSocket closed", d)
			}
			if p.stderr.countSince(mark, "msg=detach", "name=tabby") != 0 {
				t.Fatalf("a closed tab was held for the grace period:\n%s", p.stderr.tail(20))
			}
		})
	}
}

// serverX returns player id's x on the server.
func serverX(t *testing.T, c *cluster, id uint16) float64 {
	t.Helper()
	x := -1.0
	c.srvLoop.do(t, func() {
		for _, p := range c.srv.Players(nil) {
			if p.ID == id {
				x = p.X
			}
		}
	})
	if x < 0 {
		t.Fatalf("player %d is not on the server", id)
	}
	return x
}

// sayGoodbye ends sess cleanly and waits until its connection is gone.
func sayGoodbye(t *testing.T, l *loop, sess *netclient.Session) {
	t.Helper()
	var bye <-chan struct{}
	l.do(t, func() { bye = sess.Goodbye() })
	select {
	case <-bye:
	case <-time.After(10 * time.Second):
		t.Error("the goodbye did not finish")
	}
}

// closeLikeATab joins as name over a WebSocket of its own (through
// http.DefaultClient) and closes it the way the browser page does when its
// tab closes (client/web/index.html): the session's goodbye, then a close
// frame with status 1000. It returns when it closed.
func closeLikeATab(t *testing.T, wsURL, name string) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageBinary, framing.Append(nil, sessionHello(game.App, name))); err != nil {
		t.Fatal(err)
	}
	_, b, err := c.Read(ctx) // the welcome is the first frame of the stream
	if err != nil {
		t.Fatal(err)
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		t.Fatalf("first WebSocket message % x", b)
	}
	if m, err := fromSession(b[k : k+int(n)]); err != nil || m.Type() != game.MsgWelcome {
		t.Fatalf("answer to the hello: %#v %v", m, err)
	}
	bye := framing.Append(nil, session.RawMessage{Kind: session.RawBye, Reason: session.ReasonQuit}.Append(nil))
	if err := c.Write(ctx, websocket.MessageBinary, bye); err != nil {
		t.Fatal(err)
	}
	_ = c.Close(websocket.StatusNormalClosure, "page closed")
	return time.Now()
}
