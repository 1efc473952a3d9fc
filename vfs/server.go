package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"bazil.org/fuse"
	"golang.org/x/sys/unix"
)

// Options tune a Server. The zero value is usable.
type Options struct {
	// Readers is how many goroutines read and answer requests. One
	// waits for requests at a time, in the Go poller where the device
	// allows it (see device), holding no OS thread. Default 1: more
	// readers measured slower, not faster, even with concurrent clients
	// (docs/benchmarks.md), as they add a wakeup per request.
	Readers int
	// FusectlDir is where the fusectl filesystem is mounted (normally
	// /sys/fs/fuse/connections). When set, Close aborts the connection
	// through it, so that files still held open inside a container stop
	// being served at once.
	FusectlDir string
	// Name is the FUSE fsname shown in mountinfo (default "lxmount"); it
	// names the instance in log lines too.
	Name string
	// Log receives the one line logged for each recovered panic (a bug
	// while answering a request); nil means slog.Default().
	Log *slog.Logger

	// staleAfter overrides the constant of pagecache.go (tests).
	staleAfter time.Duration
}

// Stats are a Server's counters.
type Stats struct {
	Reads     uint64 // snapshots served: opens, and re-reads from offset 0
	Errors    uint64 // renders that failed
	LastError string // the last render error, if any
}

// Server is one mounted FUSE instance serving a static tree of Entries.
type Server struct {
	dir  string
	conn *fuse.Conn
	tree *tree
	opts Options
	dev  uint64 // st_dev of the mount: names the fusectl connection

	handles   handleTable
	trees     trees // the paths and handles of directory entries (dir.go)
	bufs      sync.Pool
	lastError atomic.Pointer[string]

	device   *device
	requests atomic.Uint64 // requests read, for tests

	declining  atomic.Bool    // declinePoll's OPEN is under way
	timers     timerQueue     // cached handles to expire (pagecache.go)
	background sync.WaitGroup // transfers and invalidations under way (pagecache.go)

	wg        sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Mount mounts a new FUSE instance on dir (an existing empty directory)
// serving entries, and starts its readers. The caller must Close it.
func Mount(dir string, entries []Entry, opts Options) (*Server, error) {
	if opts.Readers <= 0 {
		opts.Readers = 1
	}
	if opts.Name == "" {
		opts.Name = "lxmount"
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if e.Name == "" || e.Name == "." || e.Name == ".." || bytes.ContainsRune([]byte(e.Name), '/') || seen[e.Name] {
			return nil, fmt.Errorf("mount %s: bad or duplicate entry name %q", dir, e.Name)
		}
		seen[e.Name] = true
	}
	options := []fuse.MountOption{
		fuse.FSName(opts.Name),
		fuse.Subtype("lxmount"),
		fuse.AllowOther(), // every uid inside the container may read
		fuse.DefaultPermissions(),
		fuse.ReadOnly(),
		fuse.MaxReadahead(0),
	}
	// Kept descriptors need it to get fresh content from the page cache
	// (pagecache.go); without it every open gets direct I/O.
	autoInval, cacheable := autoInvalData()
	if cacheable {
		options = append(options, autoInval)
	}
	conn, err := fuse.Mount(dir, options...)
	if err != nil {
		return nil, fmt.Errorf("mount fuse on %s: %w", dir, err)
	}
	s := &Server{dir: dir, conn: conn, tree: newTree(entries), opts: opts, done: make(chan struct{}), device: newDevice(conn)}
	s.handles.m = make(map[fuse.HandleID]*handle)
	// The superblock is read-only already; the mount gets nosuid, nodev and
	// noexec too, as procfs files have no business being anything else.
	_ = unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	s.wg.Add(opts.Readers)
	for range opts.Readers {
		go s.reader(false)
	}
	go func() { s.wg.Wait(); close(s.done) }()
	// Stat only once readers run: the kernel asks us for the attributes.
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err == nil {
		s.dev = st.Dev
	}
	s.declinePoll()
	if s.device.pollable() && cacheable {
		// Without a poller, nobody runs the timers of pagecache.go:
		// direct I/O only.
		s.openPaths()
	}
	return s, nil
}

// Dir is the mountpoint.
func (s *Server) Dir() string { return s.dir }

// Path returns the path of the named entry below the mountpoint.
func (s *Server) Path(name string) string { return filepath.Join(s.dir, name) }

// Done is closed when the connection has ended: after Close, or when the
// kernel ended it (unmounted everywhere, or aborted).
func (s *Server) Done() <-chan struct{} { return s.done }

// Stats returns the counters summed over all entries.
func (s *Server) Stats() Stats {
	var st Stats
	for i := range s.tree.nodes {
		st.Reads += s.tree.nodes[i].reads.Load()
		st.Errors += s.tree.nodes[i].errors.Load()
	}
	if p := s.lastError.Load(); p != nil {
		st.LastError = *p
	}
	return st
}

// Close unmounts the instance, aborts the connection (see
// Options.FusectlDir), waits for the readers and releases the device.
// Mounts of its files elsewhere (inside containers) must be removed by the
// caller first; an aborted connection makes them answer ENOTCONN.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if err := unix.Unmount(s.dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, &os.PathError{Op: "umount", Path: s.dir, Err: err})
		}
		s.closePaths() // they pin the mount: the connection would not end
		if err := s.abort(); err != nil {
			errs = append(errs, err)
		}
		<-s.done
		s.background.Wait() // before the descriptor they write to goes
		if err := s.device.close(); err != nil {
			errs = append(errs, fmt.Errorf("close fuse device: %w", err))
		}
		if err := s.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close fuse device: %w", err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// abort ends the connection through fusectl, which wakes the readers even
// when container processes still hold files open. Without fusectl the
// connection ends when its last mount goes.
func (s *Server) abort() error {
	if s.opts.FusectlDir == "" || s.dev == 0 {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	// fs/fuse/control.c names each connection by the superblock's dev_t.
	p := filepath.Join(s.opts.FusectlDir, strconv.FormatUint(uint64(unix.Minor(s.dev))|uint64(unix.Major(s.dev))<<20, 10), "abort")
	if err := os.WriteFile(p, []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("abort fuse connection: %w", err)
	}
	return nil
}

// declinePoll makes the kernel stop forwarding poll(2) on the files, and
// must run before anybody else can open them. The first poll of a FUSE
// file is a FUSE_POLL request; the answer ENOSYS makes the kernel answer
// all later ones itself (fs/fuse/file.c fuse_file_poll sets fc->no_poll).
// Until then, a process that serves the mount from a reader parked in the
// Go poller must never let its own epoll reach one of its files: Go's
// os.Open adds every file to that epoll instance (epoll_ctl), which holds
// the instance's lock while it waits for the FUSE_POLL answer, and the
// reader that would answer waits for an event of that same instance.
// poll(2) on a raw descriptor uses no epoll instance.
func (s *Server) declinePoll() {
	// A directory entry will not do: the kernel answers poll(2) on a FUSE
	// directory itself (fuse_dir_operations has no poll).
	first := -1
	for i := range s.tree.nodes {
		if s.tree.nodes[i].Dir == nil {
			first = i
			break
		}
	}
	if !s.device.pollable() || first < 0 {
		return
	}
	// The OPEN renders nothing (see Server.open).
	s.declining.Store(true)
	defer s.declining.Store(false)
	fd, err := unix.Open(s.Path(s.tree.nodes[first].Name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
	unix.Close(fd)
}

// reader reads and answers requests until the connection ends. A cold
// reader waits in the Go poller, holding no thread. Having answered a
// request, it hands over to a hot reader, which waits on its thread
// (device.hotRequest) until hotWindow passes without a request, then hands
// over to a cold reader again. The hot reader also runs the timers of
// pagecache.go as they fall due, and stays hot until none is left. So a thread waits for a container only
// while it is being read; threads freed so go back to the runtime's pool,
// whose size is the most containers ever read at the same moment.
//
// The hot reader does not lock its thread (runtime.LockOSThread, which
// would let the thread end with the reader): a locked thread returning
// from ppoll without a P must be handed the goroutine by another thread,
// and a single reader's latency measured 204 µs instead of 27 µs.
func (s *Server) reader(hot bool) {
	defer s.wg.Done()
	windowEnd := time.Now().Add(hotWindow)
	for {
		var req fuse.Request
		var err error
		if hot {
			now := time.Now()
			s.runTimers(now)
			wake := windowEnd
			if due, ok := s.timers.next(); ok && due.Before(wake) {
				wake = due
			}
			var ok bool
			req, ok, err = s.device.hotRequest(wake)
			if err == nil && !ok {
				if time.Now().Before(windowEnd) {
					continue // a timer is due
				}
				// Nobody runs timers for a cold reader: stay hot
				// until none is left (they fall due within
				// staleAfter of the requests that queued them).
				s.runTimers(time.Now())
				if due, pending := s.timers.next(); pending {
					windowEnd = due
					continue
				}
				s.handOver(false)
				return
			}
		} else {
			req, err = s.device.readRequest()
		}
		if err != nil {
			if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EAGAIN) {
				continue
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ENODEV) && !errors.Is(err, os.ErrClosed) {
				msg := "fuse read: " + err.Error()
				s.lastError.Store(&msg)
			}
			return
		}
		s.requests.Add(1)
		s.handle(req)
		if !hot && s.device.pollable() {
			s.handOver(true)
			return
		}
		windowEnd = time.Now().Add(hotWindow)
	}
}

// handOver starts the reader that takes over from the calling one.
func (s *Server) handOver(hot bool) {
	s.wg.Add(1) // the caller is counted still: never from zero
	go s.reader(hot)
}
