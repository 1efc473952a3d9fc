package sources

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFileCacheKernelFile: a procfs file is kept open and every read
// regenerates it (seq_file at offset 0).
func TestFileCacheKernelFile(t *testing.T) {
	var fc fileCache
	defer fc.close()
	var last []byte
	changed := false
	for range 50 {
		b, err := fc.read("/proc", "uptime", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || b[len(b)-1] != '\n' {
			t.Fatalf("read %q, want a whole line", b)
		}
		if last != nil && !bytes.Equal(b, last) {
			changed = true
		}
		last = append(last[:0], b...)
		time.Sleep(2 * time.Millisecond) // uptime counts hundredths
	}
	if !changed {
		t.Error("/proc/uptime never changed: reads are not fresh")
	}
	if got := fc.openCount(); got != 1 {
		t.Errorf("%d descriptors open, want 1", got)
	}
	fc.close()
	if got := fc.openCount(); got != 0 {
		t.Errorf("after close %d descriptors open, want 0", got)
	}
}

// TestFileCacheGrows: a file larger than the buffer is read whole.
func TestFileCacheGrows(t *testing.T) {
	var fc fileCache
	defer fc.close()
	want, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	got, err := fc.read("/proc/self", "maps", make([]byte, 0, 600))
	if err != nil {
		t.Fatal(err)
	}
	// maps changes as the test runs; its size hardly does.
	if len(got) < len(want)/2 || len(got) <= 600 {
		t.Errorf("read %d bytes, want about %d", len(got), len(want))
	}
}

// TestFileCacheFixtureThroughPath: files that are not on a kernel file
// system are read through their path every time, so a fixture replaced or
// removed is seen at once.
func TestFileCacheFixtureThroughPath(t *testing.T) {
	var fc fileCache
	defer fc.close()
	dir := t.TempDir()
	p := filepath.Join(dir, "memory.limit_in_bytes")
	if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := fc.read(dir, "memory.limit_in_bytes", nil); err != nil || string(b) != "1\n" {
		t.Fatalf("read = %q, %v", b, err)
	}
	if err := os.WriteFile(p+".new", []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	if b, err := fc.read(dir, "memory.limit_in_bytes", nil); err != nil || string(b) != "2\n" {
		t.Fatalf("after replace: read = %q, %v; want the new content", b, err)
	}
	os.Remove(p)
	if _, err := fc.read(dir, "memory.limit_in_bytes", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after remove: %v, want ErrNotExist", err)
	}
	if got := fc.openCount(); got != 0 {
		t.Errorf("%d descriptors held for a fixture, want 0", got)
	}
}

// TestFileCacheMissing: a missing file is an ErrNotExist *os.PathError;
// it is looked for again after missingRetry.
func TestFileCacheMissing(t *testing.T) {
	var fc fileCache
	defer fc.close()
	dir := t.TempDir()
	_, err := fc.read(dir, "absent", nil)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != filepath.Join(dir, "absent") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read absent file: %v, want an ErrNotExist PathError naming it", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "absent"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.read(dir, "absent", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read right after: %v, want it still taken as missing", err)
	}
	time.Sleep(missingRetry + 10*time.Millisecond)
	if b, err := fc.read(dir, "absent", nil); err != nil || string(b) != "x" {
		t.Fatalf("read after missingRetry = %q, %v; want the new file", b, err)
	}
}

// TestFileCacheSweep: the idle timer keeps the descriptors of a used
// cache and closes those of an unused one.
func TestFileCacheSweep(t *testing.T) {
	var fc fileCache
	defer fc.close()
	if _, err := fc.read("/proc", "loadavg", nil); err != nil {
		t.Fatal(err)
	}
	fc.sweep() // used since the timer started: kept
	if fc.openCount() != 1 {
		t.Fatalf("a used cache was closed")
	}
	fc.sweep() // idle for a whole period: closed
	if fc.openCount() != 0 {
		t.Fatalf("an idle cache kept %d descriptors", fc.openCount())
	}
	if _, err := fc.read("/proc", "loadavg", nil); err != nil {
		t.Fatalf("read after the sweep: %v", err)
	}
}

// TestFileCacheDirectory: directory listings through a kept descriptor
// see entries added and removed (rewound at every read).
func TestFileCacheDirectory(t *testing.T) {
	var fc fileCache
	defer fc.close()
	// A fixture directory is listed through its path; /proc is kept open.
	for _, dir := range []string{t.TempDir(), "/proc/self/task"} {
		b, err := fc.readDir(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		names := subdirNames(b)
		if dir == "/proc/self/task" {
			found := false
			for _, n := range names {
				found = found || n == strconv.Itoa(unix.Getpid())
			}
			if !found {
				t.Errorf("%s: %v, want the main thread listed", dir, names)
			}
			continue
		}
		if len(names) != 0 {
			t.Fatalf("%s: %v, want none", dir, names)
		}
		os.Mkdir(filepath.Join(dir, "child"), 0o755)
		os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
		b, err = fc.readDir(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if names := subdirNames(b); len(names) != 1 || names[0] != "child" {
			t.Fatalf("%s: %v, want [child]", dir, names)
		}
	}
}

// TestFileCacheRemovedCgroup: on a real cgroup v1 hierarchy, a kept
// descriptor of a removed cgroup (ENODEV) is dropped and the path opened
// again: missing now, the new cgroup once it is recreated.
func TestFileCacheRemovedCgroup(t *testing.T) {
	root := "/sys/fs/cgroup/memory"
	var st unix.Statfs_t
	if os.Geteuid() != 0 || unix.Statfs(root, &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
		t.Skip("needs root and a cgroup v1 memory hierarchy")
	}
	dir := filepath.Join(root, "lxmount-test-kfile-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Rmdir(dir) })
	var fc fileCache
	defer fc.close()
	write := func(v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	write("1048576")
	if b, err := fc.read(dir, "memory.limit_in_bytes", nil); err != nil || string(b) != "1048576\n" {
		t.Fatalf("read = %q, %v", b, err)
	}
	if err := unix.Rmdir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.read(dir, "memory.limit_in_bytes", nil); !isVanished(err) {
		t.Fatalf("read of a removed cgroup: %v, want a vanished error", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write("2097152")
	time.Sleep(missingRetry + 10*time.Millisecond)
	if b, err := fc.read(dir, "memory.limit_in_bytes", nil); err != nil || string(b) != "2097152\n" {
		t.Fatalf("read of the recreated cgroup = %q, %v", b, err)
	}
}

// TestTaskFiles: a task's stat file is kept open between counts, an
// exited task reads as vanished, and a task no count sees any more has
// its file closed.
func TestTaskFiles(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Process.Kill()
	var tf taskFiles
	defer tf.close()
	var scratch [taskStatPrefix]byte
	count := func(tids ...int) (states []byte, errs []error) {
		tf.begin()
		defer tf.end()
		for _, tid := range tids {
			s, err := tf.state("/proc", tid, scratch[:])
			states, errs = append(states, s), append(errs, err)
		}
		return states, errs
	}
	runtime.LockOSThread() // Gettid stays the thread that reads
	defer runtime.UnlockOSThread()
	self, child := unix.Gettid(), cmd.Process.Pid
	// Wait until the child sleeps: right after fork it is runnable.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if s, err := readTaskState("/proc", child, scratch[:]); err == nil && s == 'S' {
			break
		}
	}
	for range 2 {
		states, errs := count(self, child)
		if errs[0] != nil || errs[1] != nil || states[0] != 'R' || states[1] != 'S' {
			t.Fatalf("states %q, errors %v; want R (this thread) and S (sleep)", states, errs)
		}
	}
	if len(tf.fds) != 2 {
		t.Fatalf("%d files kept, want 2", len(tf.fds))
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, errs := count(self, child); !isVanished(errs[1]) {
		t.Fatalf("exited task: %v, want a vanished error", errs[1])
	}
	count(self)
	if _, ok := tf.fds[child]; ok || len(tf.fds) != 1 {
		t.Fatalf("files kept for %v, want only this thread's", tf.fds)
	}
}
