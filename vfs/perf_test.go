package vfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests of this file pin what docs/benchmarks.md measured: the round
// trips of an open-read-close, and what an idle instance costs.

// openReadClose reads path to EOF the way cat does, with read(2).
func openReadClose(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// settle waits until every handle is released (RELEASE is sent in the
// background after close) and returns the request count then.
func settle(t *testing.T, s *Server) uint64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.handles.mu.Lock()
		open := len(s.handles.m)
		s.handles.mu.Unlock()
		if open == 0 {
			return s.requests.Load()
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("handles still open 5s after close")
	return 0
}

// TestRoundTripsPerRead: an open-read-until-EOF-close of a file nobody
// else has open costs OPEN and RELEASE: the reads are served from the page
// cache the OPEN filled, no FLUSH (answered ENOSYS once), no GETATTR while
// the length stays the same.
func TestRoundTripsPerRead(t *testing.T) {
	var n atomic.Int64
	s := mountTest(t, []Entry{counterEntry("f", 100, &n)})
	for range 12 { // the first open finds the size of LOOKUP, too big
		openReadClose(t, s.Path("f"))
	}
	before := settle(t, s)
	const cycles = 50
	for range cycles {
		openReadClose(t, s.Path("f")) // n=13..62: same length
	}
	got := settle(t, s) - before
	if got != 2*cycles {
		t.Errorf("%d open-read-close cycles took %d requests, want %d (OPEN, RELEASE)", cycles, got, 2*cycles)
	}
}

func devNull(t *testing.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestDeviceIsPolled: on the pinned bazil.org/fuse the device is found
// and put in the poller; an instance just read waits on a thread, in
// ppoll, for hotWindow, then in the poller: no thread waits for an idle
// instance, and instances read one after the other share threads.
func TestDeviceIsPolled(t *testing.T) {
	var n atomic.Int64
	s := mountTest(t, []Entry{counterEntry("f", 0, &n)})
	if !s.device.pollable() {
		t.Fatal("the FUSE device is not polled: connFile found no descriptor in fuse.Conn")
	}
	const instances = 24
	servers := make([]*Server, instances)
	for i := range servers {
		servers[i] = mountTest(t, []Entry{counterEntry("f", 0, &n)})
	}
	before := countThreads(t)
	for _, s := range servers {
		openReadClose(t, s.Path("f"))
		time.Sleep(hotWindow / 4) // a few hot at a time
	}
	if grew := countThreads(t) - before; grew >= instances/2 {
		t.Errorf("%d instances read one after the other added %d threads, want a few", instances, grew)
	}
	time.Sleep(hotWindow + 200*time.Millisecond)
	if n := threadsInPpoll(t); n > 0 {
		t.Errorf("%d threads still wait in ppoll for idle instances, want 0", n)
	}
}

func countThreads(t *testing.T) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	return len(des)
}

// threadsInPpoll counts this process's threads blocked in ppoll(2).
func threadsInPpoll(t *testing.T) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, de := range des {
		// /proc/<tid>/syscall starts with the number of the system call
		// the thread is blocked in.
		b, err := os.ReadFile("/proc/self/task/" + de.Name() + "/syscall")
		if err == nil && bytes.HasPrefix(b, []byte(fmt.Sprintf("%d ", unix.SYS_PPOLL))) {
			n++
		}
	}
	return n
}

// TestPollOnServedFile: poll(2) and epoll on a served file from the
// serving process itself return at once. The first poll of a FUSE file is
// a request to the server; unanswered, it would hang epoll_ctl while the
// reader waits in that very epoll instance (see Server.declinePoll).
func TestPollOnServedFile(t *testing.T) {
	var n atomic.Int64
	s := mountTest(t, []Entry{counterEntry("f", 0, &n)})
	done := make(chan error, 1)
	go func() {
		f, err := os.Open(s.Path("f")) // adds the file to the runtime's epoll
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(ep)
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(f.Fd())}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(f.Fd()), &ev); err != nil && err != unix.EPERM {
			done <- err
			return
		}
		_, err = unix.Poll([]unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}}, 0)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("polling a served file hangs")
	}
}
