package procevents

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/internal/testenv"
)

// openOrSkip opens a Conn for a test on the real kernel and closes it at
// cleanup.
func openOrSkip(t *testing.T) *Conn {
	t.Helper()
	testenv.RequireRoot(t)
	c, err := Open()
	if err != nil {
		testenv.SkipOrFail(t, "no proc connector here (CONFIG_PROC_EVENTS): %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readUntil reads events in a goroutine until match accepts one or Read
// fails; the bound only keeps a broken kernel from hanging the test.
func readUntil(t *testing.T, c *Conn, match func(Exec) bool) (Exec, error) {
	t.Helper()
	type result struct {
		e   Exec
		err error
	}
	done := make(chan result, 1)
	go func() {
		for {
			e, err := c.Read()
			if errors.Is(err, ErrOverrun) {
				continue
			}
			if err != nil || match(e) {
				done <- result{e, err}
				return
			}
		}
	}()
	select {
	case r := <-done:
		return r.e, r.err
	case <-time.After(30 * time.Second):
		c.Close()
		<-done
		t.Fatalf("no matching event within 30 s")
		return Exec{}, nil
	}
}

// TestSeesRealExec runs /bin/true and wants its exec, with a timestamp
// from CLOCK_MONOTONIC between the start and the end of the run.
func TestSeesRealExec(t *testing.T) {
	c := openOrSkip(t)
	var before, after unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &before); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &after); err != nil {
		t.Fatal(err)
	}
	e, err := readUntil(t, c, func(e Exec) bool { return e.TGID == pid })
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if e.PID != pid {
		t.Errorf("exec of %d reported thread %d", pid, e.PID)
	}
	if e.Time < time.Duration(before.Nano()) || e.Time > time.Duration(after.Nano()) {
		t.Errorf("exec time %v outside [%v, %v]", e.Time, time.Duration(before.Nano()), time.Duration(after.Nano()))
	}
}

// TestCloseUnblocksRead: a Read blocked in the poller returns os.ErrClosed
// when another goroutine closes the Conn.
func TestCloseUnblocksRead(t *testing.T) {
	c := openOrSkip(t)
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := c.Read(); err != nil && !errors.Is(err, ErrOverrun) {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond) // let it block (correct either way)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Read still blocked 30 s after Close")
	}
}

// TestOverrunIsReported shrinks the receive buffer to the kernel's
// minimum, lets execs pile up unread, and wants ErrOverrun, then events
// again.
func TestOverrunIsReported(t *testing.T) {
	c := openOrSkip(t)
	var serr error
	setBuffer := func(size int) {
		t.Helper()
		if err := c.rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		}); err != nil || serr != nil {
			t.Fatalf("set the receive buffer to %d: %v %v", size, err, serr)
		}
	}
	setBuffer(0) // clamped to SOCK_MIN_RCVBUF: a few events

	c.pending = nil
	for range 64 {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	overrun := false
	for range 200 {
		_, err := c.Read()
		if errors.Is(err, ErrOverrun) {
			overrun = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !overrun {
		t.Fatalf("64 execs into a minimal buffer: no ErrOverrun")
	}
	// Still usable: with room again (other execs of the machine would
	// overrun the minimal buffer), an exec started after ErrOverrun
	// arrives: Read emptied the congested queue first. Execs repeat
	// every 100 ms in case the minimal buffer overran again meanwhile.
	setBuffer(RecvBuffer)
	var mu sync.Mutex
	ours := map[int]bool{}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			cmd := exec.Command("/bin/true")
			if cmd.Start() == nil {
				mu.Lock()
				ours[cmd.Process.Pid] = true
				mu.Unlock()
				_ = cmd.Wait()
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	if _, err := readUntil(t, c, func(e Exec) bool {
		mu.Lock()
		defer mu.Unlock()
		return ours[e.TGID]
	}); err != nil {
		t.Fatalf("after the overrun: %v", err)
	}
}
