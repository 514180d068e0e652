# The two commands a newcomer needs: `make run` (the demo) and `make test`.
# Both install what they need first (`make deps`).

GO ?= go
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED := 1

# Every package of the main module, and the benchmark module.
PKGS := ./...
TEST_TIMEOUT ?= 20m
# Cross-builds that must keep compiling (see README, Platforms): the
# headless packages for every target; the Ebiten ones for Windows, the one
# target Ebiten v2.8.8 builds for from Linux without a cgo cross toolchain.
CROSS := windows/amd64 darwin/arm64 darwin/amd64 freebsd/amd64 linux/arm64
HEADLESS := ./core/... ./examples/echo/... ./examples/multiplayer/game/... \
	./examples/multiplayer/netclient/... ./examples/multiplayer/server/... ./examples/multiplayer/bots/... \
	./examples/multiplayer/demo/... ./examples/paddles/pong/... ./examples/paddles/server/...
EBITEN_CROSS := windows/amd64
EBITEN_PKGS := ./ebitenreactor/... ./examples/multiplayer/client/... ./examples/paddles
# The browser (GOOS=js GOARCH=wasm): the reactor and its WebSocket
# transport, the Ebiten plugin, and the game's client that make web builds.
WASM_PKGS := ./core/... ./ebitenreactor/... ./examples/multiplayer/game/... \
	./examples/multiplayer/netclient/... ./examples/multiplayer/client/...
# Runs a test binary built for js/wasm under Node.
WASM_EXEC = $$($(GO) env GOROOT)/lib/wasm/go_js_wasm_exec

.PHONY: all deps build test test-wasm vet cross lint bench soak run web clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	$(GO) build $(PKGS)

vet:
	$(GO) vet $(PKGS)

# go vet and go build for the other platforms, so that a platform break
# shows the day it happens.
cross:
	@set -e; for t in $(CROSS); do \
		echo "cross: $$t (headless packages)"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet $(HEADLESS); \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build $(HEADLESS); \
	done; \
	for t in $(EBITEN_CROSS); do \
		echo "cross: $$t (Ebiten packages)"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet $(EBITEN_PKGS); \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build $(EBITEN_PKGS); \
	done; \
	echo "cross: js/wasm"; \
	CGO_ENABLED=0 GOOS=js GOARCH=wasm $(GO) vet $(WASM_PKGS); \
	CGO_ENABLED=0 GOOS=js GOARCH=wasm $(GO) build $(WASM_PKGS)

# core's behavioural suite, the tests that need no sockets (timers, thread
# calls, system events, the Drain budget), built for js/wasm and run under
# Node, as in a browser: one backend (portable), every driver.
test-wasm:
	CGO_ENABLED=0 GOOS=js GOARCH=wasm $(GO) test -count=1 -exec="$(WASM_EXEC)" ./core/

# The behavioural suites run with the race detector, goroutine- and
# descriptor-leak checks, under a private Xvfb when there is no display.
# Packages run one at a time so that the frame-budget tests of the Ebiten
# plugin do not share the two cores with another package's load.
test: deps vet cross test-wasm
	./scripts/with-display.sh $(GO) test -race -count=1 -p 1 -timeout $(TEST_TIMEOUT) $(PKGS)
	# The allocation tests once more without the race detector, which
	# allocates itself (some of them skip under it).
	./scripts/with-display.sh $(GO) test -count=1 -p 1 -run 'Alloc|SteadyState' $(PKGS)
	cd bench && $(GO) vet ./... && $(GO) test -race -short -count=1 ./...
	cd examples/multiplayer/webtest && $(GO) vet ./... && WEBTEST_REQUIRE_BROWSER=1 $(GO) test -race -count=1 ./...

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)
	cd examples/multiplayer/webtest && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# The model-based test of the stream transports (core/stream_model_test.go)
# with many more cases than make test runs: SOAK_CHECKS cases per backend
# and driver (make soak SOAK_CHECKS=5000). A failure prints the case rapid
# shrank and how to rerun it (-rapid.seed).
SOAK_CHECKS ?= 1000
SOAK_TIMEOUT ?= 3h
soak: deps
	$(GO) test -race -count=1 -timeout $(SOAK_TIMEOUT) -run '^TestStreamModel$$' ./core/ -rapid.checks=$(SOAK_CHECKS) -rapid.shrinktime=2m

# Speed is measured here, never asserted in timed unit tests.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s -count 3 ./core/ ./core/internal/queue/
	$(GO) test -run '^$$' -bench . -benchmem ./core/session/
	./scripts/with-display.sh $(GO) test -run '^$$' -bench . -benchmem -count 1 ./ebitenreactor/
	$(GO) test -run '^$$' -bench ServerTick -benchtime 150x -benchmem ./examples/multiplayer/e2e/
	cd bench && $(GO) run ./cmd/netbench
	cd examples/multiplayer/webtest && WEBTEST_FIGURES=1 $(GO) test -count=1 -v -run '^TestBrowserPlays$$' . | grep '^figures:'

# The browser client: the multiplayer client built for WebAssembly, Go's
# wasm_exec.js and the page, in bin/web, where bin/server looks for them
# (-web-root): bin/server -web 127.0.0.1:8080 serves them at
# http://127.0.0.1:8080/?name=you.
web:
	mkdir -p bin/web
	GOOS=js GOARCH=wasm CGO_ENABLED=0 $(GO) build -o bin/web/client.wasm ./examples/multiplayer/client
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" examples/multiplayer/client/web/index.html bin/web/

# The demo: a server, a few bots and one client window, and the browser
# client on the server's web endpoint (the demo prints its URL); closing the
# window ends it. Without a display it runs under a private Xvfb for 10
# seconds and saves a screenshot (out/demo.png). The logic is in
# examples/multiplayer/demo; pass it flags with e.g. make run DEMO_FLAGS='-bots 8'.
DEMO_FLAGS ?=
run: deps web
	$(GO) build -o bin/ ./examples/multiplayer/server ./examples/multiplayer/bots \
		./examples/multiplayer/client ./examples/multiplayer/demo
	./bin/demo $(DEMO_FLAGS)

clean:
	rm -rf bin out
