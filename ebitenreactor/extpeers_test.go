//go:build unix

package ebitenreactor_test

// The flood's peers in a process of their own (the default; FLOOD_EXTERNAL=0
// runs them on goroutines of the game's process): the test binary again,
// scenario "floodpeers". It dials the game's listener, writes to every
// connection until its stdin closes, then prints what each sent as one
// JSON line on stdout.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"time"
)

type externalPeers struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error
	res   []peerSent
}

func startExternalPeers(addr string, conns, sockbuf int) (*externalPeers, error) {
	args := []string{os.Args[0], "-test.run=^$", "-test.bench=^$"}
	if n := os.Getenv("FLOOD_PEER_NICE"); n != "" {
		// Peers on other machines do not take the game's cores; a lower
		// priority on this one comes closest.
		args = append([]string{"nice", "-n", n}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), floodPeersEnv(addr, conns, sockbuf)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &externalPeers{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		line, err := bufio.NewReader(stdout).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &e.res)
		}
		if werr := cmd.Wait(); err == nil {
			err = werr
		}
		e.err = err
	}()
	return e, nil
}

// stop tells the peers to stop sending; they finish the chunk they are
// writing and close.
func (e *externalPeers) stop() { e.stdin.Close() }

// kill ends the peer process at once (a failed run).
func (e *externalPeers) kill() { _ = e.cmd.Process.Kill() }

// finish stops the peers if they are not stopped yet and collects what
// they sent.
func (e *externalPeers) finish() ([]peerSent, error) {
	e.stdin.Close()
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
		return nil, errors.New("the peer process did not stop")
	}
	return e.res, e.err
}

// floodPeersProcess is the peer process.
func floodPeersProcess(rep *report) {
	var stop atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	conns, err := dialFlood(os.Getenv("FLOOD_ADDR"), envInt("FLOOD_CONNS", 32), envInt("FLOOD_SOCKBUF", 0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "floodpeers: dial:", err)
		os.Exit(2)
	}
	out, _ := json.Marshal(runFloodPeers(conns, &stop))
	fmt.Printf("%s\n", out)
	os.Exit(0)
}
