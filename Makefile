# The two commands a newcomer needs: `make run` (the demo) and `make test`.
# Both install what they need first (`make deps`).

GO ?= go
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED := 1

# Every package of the main module, and the benchmark module.
PKGS := ./...
TEST_TIMEOUT ?= 20m
# Cross-builds that must keep compiling (see README, Platforms).
CROSS := windows/amd64 darwin/arm64 darwin/amd64 freebsd/amd64 linux/arm64

.PHONY: all deps build test vet cross lint bench run clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	$(GO) build $(PKGS)

vet:
	$(GO) vet $(PKGS)

# The behavioural suites run with the race detector, goroutine- and
# descriptor-leak checks, under a private Xvfb when there is no display.
# Packages run one at a time so that the frame-budget tests of the Ebiten
# plugin do not share the two cores with another package's load.
test: deps vet
	./scripts/with-display.sh $(GO) test -race -count=1 -p 1 -timeout $(TEST_TIMEOUT) $(PKGS)

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./core/

clean:
	rm -rf bin out
