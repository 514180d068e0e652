#!/bin/sh
# Installs the Debian/Ubuntu packages the project needs (Ebiten's cgo
# headers, an X server for tests and the headless demo), and does nothing
# when they are all present. As root it installs them; otherwise it prints
# the exact command to run.
set -eu
# chromium: the browser tests of the example game in WebAssembly (headless).
# nodejs: runs core's tests built for GOOS=js GOARCH=wasm (go_js_wasm_exec).
pkgs="gcc pkg-config libgl1-mesa-dev libxcursor-dev libxi-dev libxinerama-dev libxrandr-dev libxxf86vm-dev libx11-dev xvfb chromium nodejs"
missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing packages:$missing (no apt-get here: install them with your package manager)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
