package supervisor

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/supervisor/discovery"
)

// TestWriteAtomicSyncsBeforeRename: the temp file is synced while path
// still holds the old content, and the directory after the rename.
func TestWriteAtomicSyncsBeforeRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFile)
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var synced []string
	sync := func(f *os.File) error {
		now, _ := os.ReadFile(path)
		synced = append(synced, filepath.Base(f.Name())+"="+string(now))
		return f.Sync()
	}
	if err := writeAtomic(path, []byte("new"), sync); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 2 || !strings.HasPrefix(synced[0], "."+StateFile+".") || !strings.HasSuffix(synced[0], "=old") ||
		synced[1] != filepath.Base(filepath.Dir(path))+"=new" {
		t.Errorf("syncs %q, want the temp file before the rename, then the directory", synced)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("content %q", b)
	}
}

// TestLockStateDirRefusesASecondDaemon: while one holder has the lock,
// a second gets a one-line ErrStateDirLocked naming the holder's PID.
func TestLockStateDirRefusesASecondDaemon(t *testing.T) {
	dir := t.TempDir()
	first, err := LockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePIDFile(dir); err != nil {
		t.Fatal(err)
	}
	_, err = LockStateDir(dir)
	if !errors.Is(err, ErrStateDirLocked) || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v, want a one-line ErrStateDirLocked naming the pid", err)
	}
	first.Close()
	again, err := LockStateDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Close()
}

// TestReadPreviousReportsUnusableFiles: a truncated, empty or garbage
// state file is an error (it was silently nothing); none is no error.
func TestReadPreviousReportsUnusableFiles(t *testing.T) {
	good, err := encodeForTest(Status{Containers: []ContainerInfo{{ID: "x", InitPID: 42, MountNS: 9}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"truncated": good[:len(good)/2],
		"empty":     {},
		"garbage":   []byte("\x00\x01 not json"),
		"two":       append(append([]byte{}, good...), good...),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, StateFile), content, 0o600)
			if p := readPrevious(dir); p.err == nil || len(p.containers) != 0 {
				t.Errorf("readPrevious = %+v, want an error", p)
			}
		})
	}
	dir := t.TempDir()
	if p := readPrevious(dir); p.err != nil || p.containers != nil {
		t.Errorf("no state file: %+v", p)
	}
	os.WriteFile(filepath.Join(dir, StateFile), good, 0o600)
	if p := readPrevious(dir); p.err != nil || len(p.containers) != 1 || p.containers[0].ID != "x" {
		t.Errorf("good state file: %+v", p)
	}
}

// TestRecoverSaysTheStateFileIsUnusable: Recover logs one line naming the
// file, then rediscovers (here on an empty procfs: nothing to attach).
func TestRecoverSaysTheStateFileIsUnusable(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"daemon": {"pid": 1`), 0o600)
	var logs bytes.Buffer
	s, err := New(Config{StateDir: dir, Host: sources.Host{ProcRoot: t.TempDir(), SysRoot: "/sys"}, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Recover()
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "state file unusable") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], filepath.Join(dir, StateFile)) {
		t.Errorf("log lines %q, want one naming %s:\n%s", lines, StateFile, logs.String())
	}
}

// TestRediscoverFindsContainersWithLxmountMounts: without a state file,
// the containers showing a fuse.lxmount mount are the previous daemon's.
func TestRediscoverFindsContainersWithLxmountMounts(t *testing.T) {
	root := t.TempDir()
	mountinfo := map[string]string{
		"10": "22 1 0:21 / / rw - overlay overlay rw\n30 22 0:50 / /proc/meminfo ro,nosuid - fuse.lxmount lxmount-web rw,user_id=0\n",
		"11": "22 1 0:21 / / rw - overlay overlay rw\n23 22 0:5 / /proc rw - proc proc rw\n",
	}
	for pid, mi := range mountinfo {
		os.MkdirAll(filepath.Join(root, pid), 0o755)
		os.WriteFile(filepath.Join(root, pid, "mountinfo"), []byte(mi), 0o644)
	}
	s := &Supervisor{disc: discovery.Options{ProcRoot: root}, log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	got := s.rediscover([]discovery.Container{{ID: "web", InitPID: 10, InitStart: 5, MountNS: 100}, {ID: "db", InitPID: 11, MountNS: 101}, {ID: "gone", InitPID: 12}})
	if len(got) != 1 || got[0].ID != "web" || got[0].InitPID != 10 || got[0].InitStart != 5 || got[0].MountNS != 100 {
		t.Errorf("rediscovered %+v, want web alone", got)
	}
}

// TestRemoveStaleMountpoints: only empty directories older than the
// daemon go; non-empty ones, files, symlinks and new directories stay.
func TestRemoveStaleMountpoints(t *testing.T) {
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	for _, d := range []string{"stale-a", "stale-b", "full/x"} {
		os.MkdirAll(filepath.Join(mnt, d), 0o700)
	}
	os.WriteFile(filepath.Join(mnt, "file"), nil, 0o600)
	os.Symlink("/tmp", filepath.Join(mnt, "link"))
	s := &Supervisor{cfg: Config{StateDir: dir}, started: time.Now().Add(time.Hour), log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	s.removeStaleMountpoints()
	left := listDir(t, mnt)
	if want := "file full link"; left != want {
		t.Errorf("left %q, want %q", left, want)
	}
	if listDir(t, filepath.Join(mnt, "full")) != "x" {
		t.Errorf("went below a directory")
	}
	// A directory this daemon made (after it started) stays.
	os.Mkdir(filepath.Join(mnt, "mine"), 0o700)
	s.started = time.Now()
	s.removeStaleMountpoints()
	if left := listDir(t, mnt); left != "file full link mine" {
		t.Errorf("left %q: the daemon's own directory went", left)
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func encodeForTest(st Status) ([]byte, error) {
	path := filepath.Join(os.TempDir(), "lxmount-state-test.json")
	defer os.Remove(path)
	if err := writeFileAtomic(path, st); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}
