//go:build unix

package ebitenreactor_test

// The flood's peers in a process of their own (FLOOD_EXTERNAL=1): the
// flood scenario hands the peer side of each connection to a child
// process (the test binary again, scenario "floodpeers") as inherited
// descriptors; the child writes to each until its stdin closes, then
// reports what it sent on stdout.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

type externalPeers struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	done  chan struct{}
	err   error
	res   []peerSent
}

type peerSent struct {
	N   int64  `json:"n"`
	CRC uint32 `json:"crc"`
}

func startExternalPeers(peers []*net.TCPConn) (*externalPeers, error) {
	files := make([]*os.File, len(peers))
	for i, p := range peers {
		f, err := p.File() // a duplicate for the child
		if err != nil {
			return nil, err
		}
		files[i] = f
		p.Close() // the child owns the peer side now
	}
	args := []string{os.Args[0], "-test.run=^$", "-test.bench=^$"}
	if n := os.Getenv("FLOOD_PEER_NICE"); n != "" {
		// Peers on other machines do not take the game's cores; a lower
		// priority on this one comes closest.
		args = append([]string{"nice", "-n", n}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), scenarioEnv+"=floodpeers", fmt.Sprintf("FLOOD_PEER_FDS=%d", len(files)))
	cmd.ExtraFiles = files
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
	for _, f := range files {
		f.Close()
	}
	e := &externalPeers{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		line, err := e.out.ReadBytes('\n')
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

// wait reports whether the child has ended, waiting at most d.
func (e *externalPeers) wait(d time.Duration) bool {
	select {
	case <-e.done:
		return true
	case <-time.After(d):
		return false
	}
}

// finish tells the child to stop and collects what it sent.
func (e *externalPeers) finish(sent []int64, crcs []uint32) error {
	e.stdin.Close()
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
		return errors.New("the peer process did not stop")
	}
	if e.err != nil {
		return e.err
	}
	if len(e.res) != len(sent) {
		return fmt.Errorf("%d results for %d peers", len(e.res), len(sent))
	}
	for i, r := range e.res {
		sent[i], crcs[i] = r.N, r.CRC
	}
	return nil
}

// floodPeersProcess is the peer process: descriptors 3.. are the peer
// sides; write to each as fast as possible until stdin closes (bounded to
// a minute), close them, and print what each sent.
func floodPeersProcess(rep *report) {
	n := envInt("FLOOD_PEER_FDS", 0)
	var stop atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	deadline := time.Now().Add(time.Minute)
	res := make([]peerSent, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		f := os.NewFile(uintptr(3+i), "peer")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "floodpeers:", err)
			os.Exit(2)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			chunk := pattern(32<<10, uint32(i+1))
			_ = c.SetWriteDeadline(deadline)
			for !stop.Load() {
				k, err := c.Write(chunk)
				res[i].N += int64(k)
				res[i].CRC = crc32.Update(res[i].CRC, crcTable, chunk[:k])
				if err != nil {
					fmt.Fprintln(os.Stderr, "floodpeers: write:", err)
					break
				}
			}
		}()
	}
	wg.Wait()
	out, _ := json.Marshal(res)
	fmt.Printf("%s\n", out)
	os.Exit(0)
}
