package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// webFiles are what the web root must hold (`make web` puts them in
// bin/web): the page, Go's JavaScript support for WebAssembly, and the
// client built for GOOS=js GOARCH=wasm.
var webFiles = []string{"index.html", "wasm_exec.js", "client.wasm"}

// webPath is where the browser client's WebSocket connects.
const webPath = "/ws"

// defaultWebRoot is the directory "web" beside the server's executable
// (bin/web for bin/server).
func defaultWebRoot() string {
	self, err := os.Executable()
	if err != nil {
		return "web"
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	return filepath.Join(filepath.Dir(self), "web")
}

// checkWebRoot returns an error naming the files root lacks.
func checkWebRoot(root string) error {
	var missing []string
	for _, f := range webFiles {
		if st, err := os.Stat(filepath.Join(root, f)); err != nil || st.IsDir() {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web root %s lacks %v (run `make web`, or pass -web-root)", root, missing)
	}
	return nil
}

// webServer serves the browser client from a directory and takes
// WebSocket players at webPath, over HTTP or HTTPS.
type webServer struct {
	srv    *http.Server
	ln     net.Listener
	scheme string
	served chan error
}

// startWeb listens on addr and serves root and players (the game
// server's WebSocket handler); with tlsConfig, over HTTPS (and WSS).
func startWeb(addr, root string, tlsConfig *tls.Config, players http.Handler, log *slog.Logger) (*webServer, error) {
	if err := checkWebRoot(root); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(webPath, players)
	files := http.FileServer(http.Dir(root))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A rebuilt client must be fetched again; the browser still
		// revalidates with If-Modified-Since, so nothing is sent twice.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	w := &webServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
			// HTTP/1.1 only: WebSocket upgrades need it (browsers use
			// HTTP/1.1 for them when the server offers no HTTP/2
			// WebSocket), and a few files gain nothing from HTTP/2.
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		},
		ln:     ln,
		scheme: "http",
		served: make(chan error, 1),
	}
	if tlsConfig != nil {
		w.scheme = "https"
		cfg := tlsConfig.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		w.ln = tls.NewListener(ln, cfg)
	}
	go func() { w.served <- w.srv.Serve(w.ln) }()
	return w, nil
}

// URL is the address of the page, for a player called name.
func (w *webServer) URL(name string) string {
	host := w.ln.Addr().String()
	if ta, ok := w.ln.Addr().(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		host = net.JoinHostPort("localhost", fmt.Sprint(ta.Port))
	}
	return fmt.Sprintf("%s://%s/?name=%s", w.scheme, host, name)
}

// Close stops serving: the listener and every HTTP connection close (the
// WebSocket connections belong to the game server, which closes them when
// it shuts down), and the serving goroutine is waited for.
func (w *webServer) Close() error {
	err := w.srv.Close()
	if serr := <-w.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// loadTLS loads a certificate and its key (PEM files) into a tls.Config
// for the game port and the web port.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
