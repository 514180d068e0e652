//go:build unix

package core

import (
	"net"
	"os"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// The parts of the test harness that need descriptors.

func platformLeakOptions() []goleak.Option { return nil }

// socketPair returns two connected, non-blocking unix stream sockets,
// closed when the test ends.
func socketPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
		must(t, unix.SetNonblock(fd, true))
	}
	t.Cleanup(func() { closeFd(fds[0]); closeFd(fds[1]) })
	return fds[0], fds[1]
}

// closeFd closes fd if it is open (tests close some early).
func closeFd(fd int) {
	if fd >= 0 {
		_ = unix.Close(fd)
	}
}

func TestMain(m *testing.M) {
	// Let the Go runtime open its own poller descriptors before the leak
	// checks take their baselines.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}
