package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// output writes whole lines from several goroutines to one writer, each
// with the prefix of the process it came from.
type output struct {
	mu sync.Mutex
	w  io.Writer
}

// line writes one line as "[name] text".
func (o *output) line(name, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "[%s] %s\n", name, text)
}

// printf writes a line of the demo's own.
func (o *output) printf(format string, args ...any) {
	o.line("demo", fmt.Sprintf(format, args...))
}

// proc is a child process whose stdout and stderr are copied, line by
// line and prefixed with its name, to the demo's output.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and its output is copied
	err  error         // Wait's result, once done
}

// startProc starts bin with args. Every line it prints goes to out, unless
// filter (which may be nil) says to drop it; watch, if not nil, sees every
// line first (on the copying goroutines, so it must be safe for that).
func startProc(out *output, name, bin string, args []string, watch func(line string), filter func(line string) bool) (*proc, error) {
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.SysProcAttr = ownProcessGroup()
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	var copying sync.WaitGroup
	copyLines := func(r io.Reader) {
		defer copying.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if watch != nil {
				watch(line)
			}
			if filter == nil || !filter(line) {
				out.line(name, line)
			}
		}
		_, _ = io.Copy(io.Discard, r) // a line too long: drain the rest
	}
	copying.Add(2)
	go copyLines(stdout)
	go copyLines(stderr)
	go func() {
		copying.Wait() // Wait must come after the pipes are read to the end
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode returns the exit code once done (-1 if it was killed by a
// signal or did not run).
func (p *proc) exitCode() int {
	<-p.done
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop asks the process to stop (SIGTERM; on Windows it is killed) and
// waits up to grace for it to exit, then kills it. It reports whether the
// process exited by itself.
func (p *proc) stop(out *output, grace time.Duration) bool {
	if p.exited() {
		return true
	}
	if err := terminate(p.cmd.Process); err != nil && !p.exited() {
		out.printf("stopping %s: %v", p.name, err)
	}
	return p.waitOrKill(out, grace)
}

// waitOrKill waits up to timeout for the process to exit, then kills it.
// It reports whether the process exited by itself.
func (p *proc) waitOrKill(out *output, timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
	}
	out.printf("%s did not exit within %v: killing it", p.name, timeout)
	_ = p.cmd.Process.Kill()
	<-p.done
	return false
}

// exe returns the file name of a command on this platform.
func exe(name string) string {
	if os.PathSeparator == '\\' {
		return name + ".exe"
	}
	return name
}

// field returns the value of key=value in a log line, or "".
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
