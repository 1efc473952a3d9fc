package vfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// snapshotEntry renders snapshot k (counting from 1) as lines "k\n" up to
// length(k) bytes, so a read mixing two snapshots, cut short or padded
// shows.
func snapshotEntry(name string, n *atomic.Int64, length func(k int64) int) Entry {
	return Entry{Name: name, Render: func(b *bytes.Buffer) error {
		k := n.Add(1)
		line := strconv.FormatInt(k, 10) + "\n"
		l := length(k)
		for b.Len()+len(line) <= l {
			b.WriteString(line)
		}
		b.WriteString(line[:l-b.Len()])
		return nil
	}}
}

// checkSnapshot reports whether b is one whole snapshot, and which.
func checkSnapshot(b []byte, length func(k int64) int) (int64, error) {
	end := bytes.IndexByte(b, '\n')
	if end <= 0 {
		return 0, fmt.Errorf("no first line in %d bytes %q", len(b), b[:min(len(b), 20)])
	}
	k, err := strconv.ParseInt(string(b[:end]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("first line %q", b[:end])
	}
	var want bytes.Buffer
	line := strconv.FormatInt(k, 10) + "\n"
	for want.Len()+len(line) <= length(k) {
		want.WriteString(line)
	}
	want.WriteString(line[:length(k)-want.Len()])
	if !bytes.Equal(b, want.Bytes()) {
		i := 0
		for i < len(b) && i < want.Len() && b[i] == want.Bytes()[i] {
			i++
		}
		return k, fmt.Errorf("snapshot %d: got %d bytes, want %d, first difference at %d: %q", k, len(b), want.Len(), i, b[i:min(len(b), i+16)])
	}
	return k, nil
}

// sendfileAll copies path to /dev/null's like cat of busybox, with
// sendfile(2), and returns what went through a pipe.
func sendfileAll(path string) ([]byte, error) {
	in, err := openRaw(path, syscall.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, err
	}
	r := os.NewFile(uintptr(p[0]), "pipe-r")
	w := os.NewFile(uintptr(p[1]), "pipe-w")
	defer r.Close()
	var out []byte
	done := make(chan error, 1)
	go func() {
		b, err := io.ReadAll(r)
		out = b
		done <- err
	}()
	var serr error
	for {
		k, err := syscall.Sendfile(int(w.Fd()), int(in), nil, 1<<20)
		if err != nil {
			serr = err
			break
		}
		if k == 0 {
			break
		}
	}
	w.Close()
	if err := <-done; err != nil {
		return nil, err
	}
	return out, serr
}

// TestSizesFollowSnapshots: whatever the lengths of consecutive
// snapshots, read(2) and sendfile(2) see each one whole, no more.
func TestSizesFollowSnapshots(t *testing.T) {
	var n atomic.Int64
	lengths := []int{100, 5000, 100, 9000, 9000, 3, 4096, 8192, 4095, 12000, 7}
	length := func(k int64) int { return lengths[(k-1)%int64(len(lengths))] }
	s := mountTest(t, []Entry{snapshotEntry("f", &n, length)})
	for i := range 3 * len(lengths) {
		var b []byte
		var err error
		if i%2 == 0 {
			b, err = readFileRaw(s.Path("f"))
		} else {
			b, err = sendfileAll(s.Path("f"))
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := checkSnapshot(b, length); err != nil {
			t.Errorf("open %d (sendfile %v): %v", i, i%2 == 1, err)
		}
	}
}

// TestConcurrentReadersOwnSnapshots: readers opening the same file at the
// same time, some with read(2), some with sendfile(2), one keeping a
// descriptor open and re-reading it, never see a mixed, cut or padded
// snapshot, and nobody waits long.
func TestConcurrentReadersOwnSnapshots(t *testing.T) {
	var n atomic.Int64
	length := func(k int64) int { return 1000 + int(k%7)*1500 } // 1000..10000, across pages
	s := mountTest(t, []Entry{snapshotEntry("f", &n, length)})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	var reads atomic.Int64
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var b []byte
				var err error
				if g%3 == 2 {
					b, err = sendfileAll(s.Path("f"))
				} else {
					b, err = readFileRaw(s.Path("f"))
				}
				if err == nil {
					_, err = checkSnapshot(b, length)
				}
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", g, err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	// The kept descriptor: lseek(0) and read the whole file, like top.
	// (In pieces, a pass can straddle an invalidation: pagecache.go.)
	wg.Add(1)
	go func() {
		defer wg.Done()
		f, err := openRaw(s.Path("f"), syscall.O_RDONLY)
		if err != nil {
			errs <- err
			return
		}
		defer f.Close()
		seen := map[int64]bool{}
		for {
			select {
			case <-stop:
				if len(seen) < 3 {
					errs <- fmt.Errorf("kept descriptor saw %d snapshots in all, want it to see new ones", len(seen))
				}
				return
			default:
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				errs <- err
				return
			}
			var b []byte
			buf := make([]byte, 64<<10)
			for {
				k, err := f.Read(buf)
				b = append(b, buf[:k]...)
				if err == io.EOF || k == 0 {
					break
				}
				if err != nil {
					errs <- err
					return
				}
			}
			k, err := checkSnapshot(b, length)
			if err != nil {
				errs <- fmt.Errorf("kept descriptor: %w", err)
				return
			}
			seen[k] = true
			time.Sleep(3 * staleAfter)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads.Load() < 100 {
		t.Errorf("%d reads in 1.5 s, want many more", reads.Load())
	}
}

// mountWarm mounts e as "f" with opts and reads it past the first opens,
// which find the LOOKUP's size too big, until no handle is open.
func mountWarm(t *testing.T, e Entry, opts Options) *Server {
	t.Helper()
	s := mountTestOpts(t, []Entry{e}, opts)
	for range 3 {
		if _, err := readFileRaw(s.Path("f")); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, s)
	return s
}

// TestOpenWaitsForOwnerAtMostStaleAfter: an OPEN while another handle
// owns the page cache waits for its release, but not for longer than
// staleAfter when the owner stays open; it then reads its own snapshot.
func TestOpenWaitsForOwnerAtMostStaleAfter(t *testing.T) {
	var n atomic.Int64
	length := func(int64) int { return 50 }
	s := mountWarm(t, snapshotEntry("f", &n, length), Options{})
	a, err := openRaw(s.Path("f"), syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	start := time.Now()
	b, err := readFileRaw(s.Path("f"))
	waited := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	k, err := checkSnapshot(b, length)
	if err != nil || k != n.Load() {
		t.Errorf("second open read snapshot %d (%v), want its own, %d", k, err, n.Load())
	}
	if waited > 20*staleAfter {
		t.Errorf("second open took %v while the first stayed open, want about %v", waited, staleAfter)
	}
	buf := make([]byte, 100)
	m, _ := a.Read(buf)
	if _, err := checkSnapshot(buf[:m], length); err != nil {
		t.Errorf("first handle: %v", err)
	}
}

// TestWaitingOpensShareOneSnapshot: OPENs that wait for a young handle
// are answered together, when it is released, with one snapshot rendered
// after all of them arrived.
func TestWaitingOpensShareOneSnapshot(t *testing.T) {
	var n atomic.Int64
	length := func(int64) int { return 300 }
	// Young handles stay young for a second here: on a loaded machine
	// the openers may take more than staleAfter to queue up.
	const young = time.Second
	s := mountWarm(t, snapshotEntry("f", &n, length), Options{staleAfter: young})
	node := &s.tree.nodes[0]
	waiting := func() int {
		node.mu.Lock()
		defer node.mu.Unlock()
		return len(node.deferred)
	}
	const openers = 3
	a, err := openRaw(s.Path("f"), syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	first := n.Load()
	got := make(chan int64, openers)
	for range openers {
		go func() {
			b, err := readFileRaw(s.Path("f"))
			k, cerr := checkSnapshot(b, length)
			if err != nil || cerr != nil {
				t.Errorf("waiting opener: %v %v", err, cerr)
			}
			got <- k
		}()
	}
	deadline := time.Now().Add(young / 2)
	for waiting() < openers && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond)
	}
	all := waiting() == openers
	a.Close()
	var ks []int64
	for range openers {
		ks = append(ks, <-got)
	}
	settle(t, s)
	if !all {
		t.Fatalf("the %d openers did not all wait within %v", openers, young/2)
	}
	for _, k := range ks {
		if k != ks[0] || k <= first {
			t.Fatalf("waiting openers read snapshots %v, want one rendered after the first handle's %d", ks, first)
		}
	}
	if renders := n.Load() - first; renders > 2 {
		// One render at the first waiting OPEN's arrival (kept only
		// when it waits alone), one for the batch.
		t.Errorf("%d renders for %d waiting openers, want at most 2", renders, openers)
	}
}

// TestUnchangedSnapshotNotStoredAgain: an OPEN whose snapshot equals the
// one the page cache holds stores nothing, and readers still get it whole:
// from the page cache, and from the snapshot once the kernel dropped the
// pages (as under memory pressure). A changed snapshot is stored.
func TestUnchangedSnapshotNotStoredAgain(t *testing.T) {
	var content atomic.Pointer[string]
	set := func(v string) { content.Store(&v) }
	set("same 1\n" + string(bytes.Repeat([]byte("x"), 5000)) + "\n")
	e := Entry{Name: "f", Render: func(b *bytes.Buffer) error {
		b.WriteString(*content.Load())
		return nil
	}}
	// Handles stay young for a second: a release delayed on a loaded
	// machine must not let an expiry drop the pages between the opens.
	s := mountWarm(t, e, Options{staleAfter: time.Second})
	n := s.tree.node(s.tree.nodes[0].id)
	stores := func() uint64 {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.stores
	}
	check := func(what string) {
		t.Helper()
		got, err := readFileRaw(s.Path("f"))
		if err != nil {
			t.Fatal(err)
		}
		if want := *content.Load(); string(got) != want {
			t.Fatalf("%s: read %d bytes %q..., want %d bytes %q...", what, len(got), got[:min(len(got), 8)], len(want), want[:8])
		}
		sent, err := sendfileAll(s.Path("f"))
		if err != nil {
			t.Fatal(err)
		}
		if want := *content.Load(); string(sent) != want {
			t.Fatalf("%s: sendfile copied %d bytes, want %d", what, len(sent), len(want))
		}
	}
	before := stores()
	for range 20 {
		check("unchanged")
	}
	if got := stores() - before; got != 0 {
		t.Errorf("40 opens of an unchanged snapshot stored %d times, want 0", got)
	}

	// Drop the pages: page reads are answered from the snapshot.
	f, err := openRaw(s.Path("f"), syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	f.Close()
	reqs := settle(t, s)
	check("pages dropped")
	// Two opens and releases, and the page reads.
	if got := settle(t, s) - reqs; got <= 4 {
		t.Errorf("%d requests after the pages were dropped, want page reads besides OPEN and RELEASE twice: the test dropped nothing", got)
	}

	set("changed\n")
	before = stores()
	check("shorter")
	set("changed again, and longer: " + string(bytes.Repeat([]byte("y"), 9000)) + "\n")
	check("longer")
	if got := stores() - before; got != 2 {
		t.Errorf("4 opens of 2 new snapshots (each twice) stored %d times, want 2", got)
	}
}
