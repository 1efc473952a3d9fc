package mountns

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpen(t *testing.T) {
	self, err := Open(os.Getpid())
	if err != nil {
		t.Fatalf("Open(self): %v", err)
	}
	defer self.Close()
	if got, want := self.ID(), nsInode(t, "/proc/self/ns/mnt"); got != want {
		t.Errorf("ID() = %d, want inode of /proc/self/ns/mnt %d", got, want)
	}
	if got, want := self.String(), "mnt:["+strconv.FormatUint(self.ID(), 10)+"]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	again, err := OpenPath("/proc/thread-self/ns/mnt")
	if err != nil {
		t.Fatalf("OpenPath(thread-self): %v", err)
	}
	defer again.Close()
	if !self.Same(again) {
		t.Errorf("%v and %v of the same process are not Same", self, again)
	}
}

func TestOpenErrors(t *testing.T) {
	gone := killedProcessPID(t)
	for _, tc := range []struct {
		name string
		open func() (*Namespace, error)
		want error
		text string // the message must contain it
	}{
		{
			name: "exited process has no ns link",
			open: func() (*Namespace, error) { return Open(gone) },
			want: ErrNoProcess,
			text: "pid " + strconv.Itoa(gone),
		},
		{
			name: "net namespace file is nsfs but not CLONE_NEWNS",
			open: func() (*Namespace, error) { return OpenPath("/proc/self/ns/net") },
			want: ErrNotMountNamespace,
			text: "namespace type",
		},
		{
			name: "procfs file is not nsfs",
			open: func() (*Namespace, error) { return OpenPath("/proc/meminfo") },
			want: ErrNotMountNamespace,
			text: "0x9fa0, procfs",
		},
		{
			name: "missing path is a plain path error",
			open: func() (*Namespace, error) { return OpenPath("/nonexistent/ns/mnt") },
			want: os.ErrNotExist,
			text: "/nonexistent/ns/mnt",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := tc.open()
			if err == nil {
				ns.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v, want errors.Is %v and text %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestOpenSeesDistinctNamespaces(t *testing.T) {
	c := startContainer(t)
	self, err := Open(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	if self.Same(c.ns) {
		t.Errorf("own namespace %v is Same as container's %v", self, c.ns)
	}
}

// threadNS returns the mount namespace inode of the calling OS thread.
func threadNS(t *testing.T) uint64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return nsInode(t, "/proc/thread-self/ns/mnt")
}

func TestDoRunsOnThreadInsideNamespace(t *testing.T) {
	c := startContainer(t)
	before := threadNS(t)
	// Inside, /proc is the container's procfs, where our threads do not
	// exist; look at the thread through our own procfs instead.
	proc, err := os.Open("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	var st unix.Stat_t
	var cwd string
	err = c.ns.Do(func() error {
		if err := unix.Fstatat(int(proc.Fd()), "thread-self/ns/mnt", &st, 0); err != nil {
			return err
		}
		var err error
		cwd, err = os.Getwd()
		return err
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if st.Ino != c.ns.ID() {
		t.Errorf("thread inside Do is in mnt:[%d], want %v", st.Ino, c.ns)
	}
	// setns(CLONE_NEWNS) moves root and cwd to the namespace's root.
	if cwd != "/" {
		t.Errorf("cwd inside Do = %q, want /", cwd)
	}
	if after := threadNS(t); after != before {
		t.Errorf("caller's thread moved from mnt:[%d] to mnt:[%d]", before, after)
	}
}

// The locked thread exits with its goroutine, so the runtime never hands a
// thread that sits in the container's namespace to another goroutine.
func TestDoThreadIsNotReused(t *testing.T) {
	c := startContainer(t)
	own := threadNS(t)
	for range 20 {
		if err := c.ns.Do(func() error { return nil }); err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	leaked := 0
	for range 64 {
		wg.Go(func() {
			if threadNS(t) != own {
				mu.Lock()
				leaked++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if leaked > 0 {
		t.Errorf("%d of 64 goroutines ran on a thread outside mnt:[%d]", leaked, own)
	}
}

func TestDoResults(t *testing.T) {
	requireRoot(t)
	ns, err := Open(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sentinel := errors.New("from fn")
	if err := ns.Do(func() error { return sentinel }); err != sentinel {
		t.Errorf("Do returned %v, want fn's error unchanged", err)
	}

	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want fn's panic value re-raised", p)
			}
		}()
		ns.Do(func() error { panic("boom") })
	}()

	ns.Close()
	ran := false
	err = ns.Do(func() error { ran = true; return nil })
	if !errors.Is(err, os.ErrClosed) || ran {
		t.Errorf("Do on closed namespace: err = %v, fn ran = %v; want os.ErrClosed and no run", err, ran)
	}
}

// The process's main thread (TID == PID) never exits: the Go runtime wedges
// it instead when a locked goroutine ends on it. If Do ever entered the
// namespace on it, /proc/self (which is the main thread) would show the
// container's namespace, root and mounts from then on, and pin the
// namespace. Do keeps its work off the main thread.
func TestDoNeverEntersOnMainThread(t *testing.T) {
	c := startContainer(t)
	own := nsInode(t, "/proc/self/ns/mnt")
	var mu sync.Mutex
	mainThreadUsed := 0
	// Many concurrent callers, so that the main thread is often idle
	// and picks up the fresh goroutines.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				err := c.ns.Do(func() error {
					if unix.Gettid() == unix.Getpid() {
						mu.Lock()
						mainThreadUsed++
						mu.Unlock()
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := nsInode(t, "/proc/self/ns/mnt"); got != own {
		t.Errorf("the main thread is in mnt:[%d], want mnt:[%d]", got, own)
	}
	if mainThreadUsed > 0 {
		t.Errorf("fn ran on the main thread %d times", mainThreadUsed)
	}
}
