#!/bin/sh
# Runs a command with an X display. If DISPLAY is set and answers, it is
# used as is; otherwise a private Xvfb server is started on a free display
# number for the duration of the command.
set -eu
if [ -n "${DISPLAY:-}" ] && [ "${FORCE_XVFB:-0}" != 1 ]; then
	exec "$@"
fi
command -v Xvfb >/dev/null 2>&1 || { echo "with-display: Xvfb not found; run 'make deps'" >&2; exit 1; }
n=99
while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xpid=$!
trap 'kill "$xpid" 2>/dev/null || true; wait "$xpid" 2>/dev/null || true' EXIT INT TERM
i=0
while [ ! -e "/tmp/.X11-unix/X$n" ]; do
	i=$((i + 1))
	if [ "$i" -gt 100 ] || ! kill -0 "$xpid" 2>/dev/null; then
		echo "with-display: Xvfb :$n did not start" >&2
		exit 1
	fi
	sleep 0.1
done
DISPLAY=":$n"
export DISPLAY
"$@"
