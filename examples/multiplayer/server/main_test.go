package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{"-addr", "127.0.0.1:0", "-tick", "0"}, 2, "-tick must be"},
		{[]string{"-addr", "127.0.0.1:0", "-tick", "300"}, 2, "-tick must be"},
		{[]string{"-addr", "127.0.0.1:0", "-max-players", "0"}, 2, "-max-players"},
		{[]string{"-addr", "no-port"}, 1, "listen"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}
