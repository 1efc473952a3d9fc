package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lxmount/lxmount/internal/testenv"
)

// needFUSE skips without root or /dev/fuse, but fails when CI=true: there
// the kernel paths must be tested.
func needFUSE(t *testing.T) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "needs root"
	} else if _, err := os.Stat("/dev/fuse"); err != nil {
		reason = "needs /dev/fuse"
	}
	if reason != "" {
		testenv.SkipOrFail(t, "%s", reason)
	}
}

// mountTest mounts a Server on a temp dir with t.Cleanup closing it.
func mountTest(t *testing.T, entries []Entry) *Server {
	t.Helper()
	return mountTestOpts(t, entries, Options{})
}

// mountTestOpts is mountTest with options.
func mountTestOpts(t *testing.T, entries []Entry, opts Options) *Server {
	t.Helper()
	needFUSE(t)
	dir := t.TempDir()
	s, err := Mount(dir, entries, opts)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// counterEntry renders "n=<count>\n" followed by pad bytes, counting renders.
func counterEntry(name string, pad int, n *atomic.Int64) Entry {
	return Entry{Name: name, Render: func(b *bytes.Buffer) error {
		fmt.Fprintf(b, "n=%d\n", n.Add(1))
		b.Write(bytes.Repeat([]byte("x"), pad))
		return nil
	}}
}

func TestServedTreeEqualsTable(t *testing.T) {
	var n atomic.Int64
	entries := []Entry{counterEntry("meminfo", 0, &n), counterEntry("stat", 0, &n), counterEntry("cpu_online", 0, &n)}
	s := mountTest(t, entries)
	des, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, de := range des {
		got = append(got, de.Name())
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != 0o444 || fi.Size() < 4096 || fi.Size()%4096 != 0 {
			t.Errorf("%s: mode %v size %d, want -r--r--r-- and a whole-page size hint", de.Name(), fi.Mode(), fi.Size())
		}
	}
	sort.Strings(got)
	want := []string{"cpu_online", "meminfo", "stat"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("tree = %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat unknown name: %v, want ENOENT", err)
	}
}

func TestReadRendersAtOffsetZeroOnly(t *testing.T) {
	var n atomic.Int64
	s := mountTest(t, []Entry{counterEntry("f", 10000, &n)})
	f, err := openRaw(s.Path("f"), syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Small reads walk through one snapshot: one render.
	var all []byte
	buf := make([]byte, 100)
	for {
		k, err := f.Read(buf)
		all = append(all, buf[:k]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// The first stat may render once for the size hint: count from here.
	var first int
	if _, err := fmt.Sscanf(string(all), "n=%d\n", &first); err != nil || len(all) != len(fmt.Sprintf("n=%d\n", first))+10000 {
		t.Fatalf("read %d bytes starting %q, want one whole snapshot", len(all), all[:8])
	}
	// lseek(0) + read, as top does, renders afresh: at once with direct
	// I/O, within staleAfter from the page cache (pagecache.go).
	time.Sleep(3 * staleAfter)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	k, _ := f.Read(buf)
	want := fmt.Sprintf("n=%d\n", first+1)
	if !bytes.HasPrefix(buf[:k], []byte(want)) {
		t.Fatalf("after lseek(0): %q, want %q", buf[:k], want)
	}
	// A read at an offset continues the handle's snapshot.
	p := make([]byte, len(want)-1)
	if _, err := f.ReadAt(p, 1); err != nil || string(p) != want[1:] {
		t.Fatalf("pread(1) = %q, %v; want the same snapshot", p, err)
	}
}

func TestWritesAreRefused(t *testing.T) {
	var n atomic.Int64
	s := mountTest(t, []Entry{counterEntry("f", 0, &n)})
	_, err := openRaw(s.Path("f"), syscall.O_WRONLY)
	if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EROFS) {
		t.Errorf("open for write: %v, want EACCES or EROFS", err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EACCES) {
		t.Errorf("create: %v, want EROFS", err)
	}
}

func TestRenderErrorIsEIOAndCounted(t *testing.T) {
	s := mountTest(t, []Entry{{Name: "bad", Render: func(*bytes.Buffer) error { return errors.New("host meminfo unreadable") }}})
	_, err := readFileRaw(s.Path("bad"))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("read: %v, want EIO", err)
	}
	st := s.Stats()
	if st.Errors != 1 || st.LastError == "" {
		t.Errorf("stats = %+v, want one error recorded", st)
	}
}

func TestConcurrentReaders(t *testing.T) {
	var n atomic.Int64
	s := mountTest(t, []Entry{counterEntry("f", 5000, &n)})
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				b, err := readFileRaw(s.Path("f"))
				if err != nil || len(b) < 5000 {
					errs <- fmt.Errorf("read %d bytes: %v", len(b), err)
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats().Reads; got < 400 {
		t.Errorf("reads = %d, want >= 400", got)
	}
}

func TestCloseEndsServing(t *testing.T) {
	needFUSE(t)
	var n atomic.Int64
	dir := t.TempDir()
	s, err := Mount(dir, []Entry{counterEntry("f", 0, &n)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after Close")
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close the mount is still there: %v", err)
	}
}

// TestSendfileSeesContent: sendfile(2) goes through the page cache and
// stops at i_size (busybox cat copies with it); the size hint must let the
// whole content through, also when it grows.
func TestSendfileSeesContent(t *testing.T) {
	var n atomic.Int64
	var pad atomic.Int64 // written here, read by the server's render
	pad.Store(100)
	s := mountTest(t, []Entry{{Name: "f", Render: func(b *bytes.Buffer) error {
		fmt.Fprintf(b, "n=%d\n", n.Add(1))
		b.Write(bytes.Repeat([]byte("y"), int(pad.Load())))
		return nil
	}}})
	for _, p := range []int{100, 3000, 5000, 100} {
		pad.Store(int64(p))
		out, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		in, err := openRaw(s.Path("f"), syscall.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		var total int
		for {
			k, err := syscall.Sendfile(int(out.Fd()), int(in), nil, 1<<20)
			if err != nil {
				t.Fatalf("sendfile: %v", err)
			}
			if k == 0 {
				break
			}
			total += k
		}
		in.Close()
		out.Close()
		if total < p || total > p+12 {
			t.Errorf("pad %d: sendfile copied %d bytes, want the whole content", p, total)
		}
	}
}

func TestBadEntryNamesRefused(t *testing.T) {
	for _, name := range []string{"", "a/b", "..", "dup"} {
		entries := []Entry{{Name: name}}
		if name == "dup" {
			entries = append(entries, Entry{Name: "dup"})
		}
		if _, err := Mount(t.TempDir(), entries, Options{}); err == nil {
			t.Errorf("Mount with entry %q succeeded", name)
		}
	}
}
