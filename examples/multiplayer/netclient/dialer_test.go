package netclient_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
	"github.com/threadedselect/reactor/examples/multiplayer/server/gameserver"
)

// A session over WebSocket plays like one over TCP: welcomed, snapshots
// (over the WebSocket: no UDP), RTT samples; its goodbye is a clean leave.
func TestWebSocketSession(t *testing.T) {
	e := newEnv(t, gameserver.Config{})
	web := httptest.NewServer(e.srv.WebSocketHandler(nil))
	defer web.Close()
	url := "ws" + strings.TrimPrefix(web.URL, "http") + "/ws"
	s := e.dial(netclient.Config{Name: "wendy", UDP: true, Dial: netclient.WebSocket(url, nil)})
	e.waitFor("connected over WebSocket, with snapshots and an RTT", 10*time.Second, func() bool {
		st := s.State()
		return st.Status == netclient.StatusConnected && st.Snapshots > 5 && st.RTTSamples > 0
	})
	if st := e.state(s); st.UDP != netclient.UDPFailed || st.SnapshotsUDP != 0 {
		// UDP asked for, but a WebSocket has no UDP address to bind from.
		t.Fatalf("UDP %v, %d snapshots over UDP; want failed and none", st.UDP, st.SnapshotsUDP)
	}
	var bye <-chan struct{}
	e.do(func() { bye = s.Goodbye() })
	select {
	case <-bye:
	case <-time.After(10 * time.Second):
		t.Fatal("goodbye did not finish")
	}
	if st := e.state(s); st.Status != netclient.StatusDisconnected || st.Cause != netclient.CauseQuit {
		t.Fatalf("after goodbye: %v, %v", st.Status, st.Cause)
	}
	e.waitFor("the server logged the leave", 5*time.Second, func() bool {
		return strings.Contains(e.logs.String(), "name=wendy") && strings.Contains(e.logs.String(), "reason=quit")
	})
}

// A WebSocket URL nobody serves: the session fails as unreachable, and the
// error names the URL.
func TestWebSocketUnreachable(t *testing.T) {
	e := newEnv(t, gameserver.Config{})
	web := httptest.NewServer(http.NotFoundHandler())
	url := "ws" + strings.TrimPrefix(web.URL, "http") + "/ws"
	web.Close()
	s := e.dial(netclient.Config{Name: "wendy", Dial: netclient.WebSocket(url, nil), NoReconnect: true})
	e.waitFor("failed", 10*time.Second, func() bool { return s.State().Status == netclient.StatusFailed })
	if st := e.state(s); st.Cause != netclient.CauseUnreachable || st.Err == nil || !strings.Contains(st.Err.Error(), url) {
		t.Fatalf("cause %v, err %v", st.Cause, st.Err)
	}
}

// Goodbye while a WebSocket handshake is under way (the server has not
// answered yet) cancels it: the session fails with CauseQuit at once, and
// the goodbye channel is closed.
func TestGoodbyeDuringWebSocketHandshake(t *testing.T) {
	e := newEnv(t, gameserver.Config{})
	entered := make(chan struct{})
	release := make(chan struct{})
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "too late", http.StatusServiceUnavailable)
	}))
	defer web.Close()
	defer close(release)
	url := "ws" + strings.TrimPrefix(web.URL, "http") + "/ws"
	s := e.dial(netclient.Config{Name: "wendy", Dial: netclient.WebSocket(url, nil), NoReconnect: true})
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the handshake did not reach the server")
	}
	var bye <-chan struct{}
	e.do(func() { bye = s.Goodbye() })
	select {
	case <-bye:
	case <-time.After(10 * time.Second):
		t.Fatal("goodbye did not cancel the handshake")
	}
	if st := e.state(s); st.Status != netclient.StatusFailed || st.Cause != netclient.CauseQuit {
		t.Fatalf("%v, %v, %v", st.Status, st.Cause, st.Err)
	}
}

// A Dialer whose connection arrives after the session gave the attempt up
// (Goodbye): the connection is refused and closed, the session ends with
// CauseQuit, nothing is sent on it.
func TestLateConnectionAfterCancel(t *testing.T) {
	e := newEnv(t, gameserver.Config{})
	var f core.ClientFactory
	cancelled := 0
	dial := func(r *core.Reactor, cf core.ClientFactory, timeout time.Duration) (func(), error) {
		f = cf
		return func() { cancelled++ }, nil
	}
	s := e.dial(netclient.Config{Name: "wendy", Dial: dial})
	var bye <-chan struct{}
	e.do(func() { bye = s.Goodbye() })
	ours, theirs := net.Pipe()
	defer theirs.Close()
	if err := e.r.AdoptDialed(ours, nil, f); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bye:
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
	}
	st := e.state(s)
	if st.Status != netclient.StatusFailed || st.Cause != netclient.CauseQuit {
		t.Fatalf("%v, %v, %v", st.Status, st.Cause, st.Err)
	}
	e.do(func() {
		if cancelled != 1 {
			t.Errorf("cancel called %d times", cancelled)
		}
	})
	// The refused connection is closed without a byte sent.
	_ = theirs.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := theirs.Read(make([]byte, 64)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("the late connection: read %d bytes, %v; want EOF", n, err)
	}
}
