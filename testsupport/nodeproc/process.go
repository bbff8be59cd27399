// Package nodeproc runs a Node.js test server (a server.mjs beside its
// node_modules) as a child process. The script prints one JSON line once it
// listens and exits when its stdin closes, so it never outlives the test
// (or program) that started it.
package nodeproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// Process is a running server script.
type Process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// Start runs `node server.mjs` in dir with env added to this process's
// environment, and decodes the script's ready line into hello. name says
// which server failed in errors.
func Start(name, dir string, env []string, hello any) (*Process, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is required for the %s: %w", name, err)
	}
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
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
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()

	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			ready <- fmt.Errorf("%s exited before it was ready: %w", name, err)
			return
		}
		if err := json.Unmarshal([]byte(line), hello); err != nil {
			ready <- fmt.Errorf("%s ready line %q: %w", name, line, err)
			return
		}
		ready <- nil
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-ready:
		if err != nil {
			p.Stop()
			return nil, err
		}
	case <-time.After(20 * time.Second):
		p.Stop()
		return nil, fmt.Errorf("%s did not become ready in 20s", name)
	}
	return p, nil
}

// Stop ends the process (closing stdin asks it to stop; a kill follows).
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
