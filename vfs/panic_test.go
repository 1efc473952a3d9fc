package vfs

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"bazil.org/fuse"
)

// lockedBuffer is a bytes.Buffer safe for the log handler's writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRenderPanicIsEIO: a Render that panics fails that read with EIO,
// is logged once with the server's name, and neither the other file of
// the instance nor another instance stops being served.
func TestRenderPanicIsEIO(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var n atomic.Int64
	boom := Entry{Name: "boom", Render: func(*bytes.Buffer) error { panic("render bug") }}
	s := mountTestOpts(t, []Entry{boom, counterEntry("ok", 0, &n)}, Options{Name: "lxmount-web-1", Log: log})
	other := mountTestOpts(t, []Entry{counterEntry("ok", 0, &n)}, Options{Name: "lxmount-db-1", Log: log})
	for range 3 {
		_, err := os.ReadFile(s.Path("boom"))
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("read of a panicking file: %v, want EIO", err)
		}
	}
	for _, p := range []string{s.Path("ok"), other.Path("ok")} {
		if b, err := os.ReadFile(p); err != nil || !strings.HasPrefix(string(b), "n=") {
			t.Fatalf("read %s after a panic: %q, %v", p, b, err)
		}
	}
	got := logs.String()
	if !strings.Contains(got, "name=lxmount-web-1") || !strings.Contains(got, "render bug") || !strings.Contains(got, "file=boom") {
		t.Errorf("panic not logged with the container's name and file:\n%s", got)
	}
	if strings.Contains(got, "lxmount-db-1") {
		t.Errorf("other instance logged:\n%s", got)
	}
	if st := s.Stats(); st.Errors == 0 || !strings.Contains(st.LastError, "panic") {
		t.Errorf("stats %+v: the panic is not counted as a render error", st)
	}
}

// TestRequestPanicIsEIO: a panic anywhere else in answering a request is
// recovered at the dispatch, answered EIO and logged.
func TestRequestPanicIsEIO(t *testing.T) {
	var logs lockedBuffer
	s := &Server{opts: Options{Name: "lxmount-x", Log: slog.New(slog.NewTextHandler(&logs, nil))}}
	r := &panicRequest{}
	s.handle(r)
	if r.errno != syscall.EIO {
		t.Errorf("answered %v, want EIO", r.errno)
	}
	if !strings.Contains(logs.String(), "name=lxmount-x") {
		t.Errorf("not logged with the name: %s", logs.String())
	}
}

// panicRequest is a request whose handling panics: answering it ENOSYS
// (what the dispatch does with a request it does not know) panics, any
// other answer is recorded.
type panicRequest struct {
	fuse.Header
	errno syscall.Errno
}

func (r *panicRequest) Hdr() *fuse.Header { return &r.Header }
func (r *panicRequest) String() string    { return "panicRequest" }
func (r *panicRequest) RespondError(err error) {
	if errors.Is(err, fuse.ENOSYS) {
		panic("bug while answering")
	}
	var en fuse.Errno
	if errors.As(err, &en) {
		r.errno = syscall.Errno(en)
	}
}
