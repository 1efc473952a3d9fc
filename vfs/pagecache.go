package vfs

import (
	"bytes"
	"sync"
	"time"

	"bazil.org/fuse"
	"golang.org/x/sys/unix"
)

// Serving from the page cache.
//
// With direct I/O, an open-read-until-EOF-close costs four requests, three
// of which the reader waits for: OPEN, READ, READ (the empty one that
// says EOF) and RELEASE (sent in the background at close). Each is a
// wake-up of the server and one of the reader. Instead, the OPEN renders
// the snapshot and stores it in the kernel's page cache of the file
// (FUSE_NOTIFY_STORE, fs/fuse/dev.c fuse_notify_store), makes the file
// size its length, and answers with FOPEN_KEEP_CACHE and without
// FOPEN_DIRECT_IO: the reads, the EOF too, are then served by the kernel
// from the page cache, for read(2) and sendfile(2) alike, and the reader
// waits for one request, the OPEN.
//
// The page cache of a file is one, shared by all its open descriptors, so
// the node keeps the one snapshot it holds (node.snap). What this must
// preserve:
//
//   - A snapshot rendered for every open, never one rendered for another.
//     Each OPEN renders; a store happens only when the node has no other
//     open handle: a store while another reader copies from the page
//     cache could tear that copy. An OPEN that finds only handles opened
//     since the last store open (node.young: a reader that opens, reads
//     and closes releases within microseconds) waits for their release
//     (node.deferred), then stores. OPENs that waited together get one
//     snapshot, rendered once the last of them arrived (so taken during
//     each one's open(2)), stored once and read by all of them: a
//     reader never gets a snapshot rendered before its open. Handles still open staleAfter after
//     the store are kept descriptors (top keeps /proc/stat open and
//     re-reads it); while one is open, OPENs are answered at once with
//     direct I/O, whose reads come to us and get the handle's own
//     snapshot (page reads, sendfile(2) of such a handle, get the page
//     cache's, see read).
//   - The exact size, for every kind of reader: sendfile(2) and splice(2)
//     copy up to the kernel's i_size without asking for attributes
//     (filemap_splice_read), read(2) asks only when they were
//     invalidated. The store reads the size the kernel holds
//     (kernelSize: statx with AT_STATX_DONT_SYNC, which never asks the
//     server); a store grows it to the snapshot's length, and a shorter
//     snapshot also drops the page cache from its last page on (and the
//     attributes), so that the page read that follows comes back short
//     and the kernel trims its size to the length (fuse_short_read), or
//     a read(2) asks for the size first (fileSize answers the length).
//   - Freshness for kept descriptors, which the kernel would otherwise
//     answer from the page cache forever: staleAfter after the last store
//     or page read (so between two passes of a reader, most likely), if
//     handles are open, the page cache and the attributes are
//     invalidated; once that completed with no page read
//     since (node.pagesGone), the GETATTR that the next read(2) makes
//     first (with FUSE_AUTO_INVAL_DATA, see autoInvalData, every read(2)
//     asks for invalidated attributes, fs/fuse/file.c
//     fuse_cache_read_iter) renders a new snapshot and answers its
//     length, and the page reads that follow get it. A kept descriptor
//     sees content at most about staleAfter old.
//   - No deadlock: a page read in flight holds its pages locked until we
//     answer it, and both a store and an invalidation of pages wait for
//     those locks. Stores happen only when the node has no other open
//     handle, so no read of it can be in flight; invalidations of a node
//     with open handles run on goroutines of their own, never on a
//     reader's.
//
// A kept descriptor whose pass over the file takes more than one read(2)
// and stalls for longer than staleAfter halfway (or whose pass an
// invalidation hits within microseconds of its start) may see the rest of
// the pass from a new snapshot. Readers of procfs files read them whole
// (procps, psutil, the JVM, Node), and a fresh open never sees this.
// staleAfter is how long the page cache may serve a snapshot to kept
// descriptors, and how long an OPEN may wait for young handles (see
// above).
const staleAfter = 10 * time.Millisecond

// stale is the server's staleAfter (Options.staleAfter, for tests).
func (s *Server) stale() time.Duration {
	if s.opts.staleAfter > 0 {
		return s.opts.staleAfter
	}
	return staleAfter
}

// open answers an OPEN of node n, or defers it.
func (s *Server) open(n *node, r *fuse.OpenRequest) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.open > 0 && n.young == n.open {
		// The first waiting OPEN renders now, while the young handles
		// are read: if it is still alone when they are released, only
		// the store is left to do (still a snapshot taken during its
		// open(2)). When several wait, they share one snapshot rendered
		// once they all arrived (openBatch).
		d := deferredOpen{r: r}
		if len(n.deferred) == 0 && !s.declining.Load() {
			d.b = s.getBuf()
			d.err = s.render(n, d.b)
		}
		n.deferred = append(n.deferred, d)
		s.queueExpiry(n, n.snapAt.Add(s.stale()))
		return
	}
	s.openLocked(n, deferredOpen{r: r})
}

// deferredOpen is an OPEN waiting for the young handles' release, and
// the snapshot rendered for it (b nil: none yet).
type deferredOpen struct {
	r   *fuse.OpenRequest
	b   *bytes.Buffer
	err error
}

// openLocked creates the handle of d.r and answers it: with the page
// cache if the node has no other open handle, else with direct I/O. It
// renders unless d holds a snapshot. n.mu is held.
func (s *Server) openLocked(n *node, d deferredOpen) {
	r := d.r
	h := &handle{id: r.Header.Node, node: n}
	n.open++
	if d.b == nil && s.declining.Load() {
		// declinePoll's OPEN: no render, no store.
		s.respondDirect(n, h, r)
		return
	}
	b, err := d.b, d.err
	if b == nil {
		b = s.getBuf()
		err = s.render(n, b)
	}
	switch {
	case err != nil || n.pathFd < 0:
	case n.open == 1:
		if s.store(n, h, b) {
			r.Respond(&fuse.OpenResponse{Handle: s.handles.add(h), Flags: fuse.OpenKeepCache})
			return
		}
	}
	h.buf, h.err, h.fresh = b, err, true
	s.respondDirect(n, h, r)
}

// respondDirect answers r with h as a direct I/O handle. Such handles keep
// the page cache (FOPEN_KEEP_CACHE): dropping it at their open would pull
// pages from under a reader copying them.
func (s *Server) respondDirect(n *node, h *handle, r *fuse.OpenRequest) {
	n.direct++
	s.makeYoung(n, h)
	r.Respond(&fuse.OpenResponse{Handle: s.handles.add(h), Flags: fuse.OpenDirectIO | fuse.OpenKeepCache})
}

// makeYoung counts h among the young handles of n. n.mu is held.
func (s *Server) makeYoung(n *node, h *handle) {
	h.epoch = n.epoch
	n.young++
}

// adopt makes b the node's snapshot, once stored. n.mu is held.
func (s *Server) adopt(n *node, h *handle, b *bytes.Buffer) {
	s.putBuf(n.snap)
	n.snap, n.snapAt = b, time.Now()
	n.epoch++
	n.young = 0
	h.cached = true
	s.makeYoung(n, h)
	n.fills++
	n.lastFill = n.snapAt
	n.pagesGone = false
	n.cacheIsSnap = true
	s.queueExpiry(n, n.snapAt.Add(s.stale()))
}

// store writes snapshot b into n's page cache, for handle h, and makes it
// the node's. n.mu is held, and h is n's only open handle.
func (s *Server) store(n *node, h *handle, b *bytes.Buffer) bool {
	if !s.storeNode(n, b) {
		return false
	}
	s.adopt(n, h, b)
	return true
}

// storeNode stores b as n's content (storeData), unless the page cache
// already holds exactly b: the snapshot is unchanged since the last store
// (uptime's content changes every 10 ms, cpu/online's hardly ever, and
// readers open them many times in between), no page was dropped since,
// and the kernel's size is b's length. Pages the kernel evicted meanwhile
// are read from n.snap, which equals b. n.mu is held, and n has no other
// open handle.
func (s *Server) storeNode(n *node, b *bytes.Buffer) bool {
	size := s.kernelSize(n)
	if n.cacheIsSnap && !n.pagesGone && !n.invalidating && n.snap != nil &&
		size == int64(b.Len()) && bytes.Equal(n.snap.Bytes(), b.Bytes()) {
		return true
	}
	// A store that fails half-way may leave pages of b next to pages of
	// n.snap.
	n.cacheIsSnap = false
	if !s.storeData(n.id, b.Bytes(), size) {
		return false
	}
	n.stores++
	return true
}

// storeData stores data as the content of node id and makes the kernel's
// size its length (see above); size is the size the kernel holds. It may
// wait for page locks: only for a node with no other open handle.
func (s *Server) storeData(id fuse.NodeID, data []byte, size int64) bool {
	if size < 0 {
		return false
	}
	if err := s.conn.NotifyStore(id, 0, data); err != nil {
		return false
	}
	if l := int64(len(data)); l < size {
		// Drop the page holding the end and those after it: a page
		// read there comes back short and trims the size to l.
		if err := s.conn.InvalidateNode(id, l&^4095, -1); err != nil {
			return false
		}
	}
	return true
}

// kernelSize is the size the kernel holds for n, or -1. AT_STATX_DONT_SYNC
// makes FUSE answer from its cached attributes, whether valid or not,
// without a request (fs/fuse/dir.c fuse_update_get_attr), and an O_PATH
// descriptor needs no path walk, so no LOOKUP either: safe to call from
// a reader. n.mu is held.
func (s *Server) kernelSize(n *node) int64 {
	if n.pathFd < 0 {
		return -1
	}
	var st unix.Statx_t
	if err := unix.Statx(n.pathFd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, unix.STATX_SIZE, &st); err != nil {
		return -1
	}
	return int64(st.Size)
}

// release ends handle h after its RELEASE: a deferred OPEN may proceed.
func (s *Server) release(h *handle) {
	n := h.node
	n.mu.Lock()
	defer n.mu.Unlock()
	n.open--
	if h.epoch == n.epoch {
		n.young--
	}
	if !h.cached {
		n.direct--
	}
	s.putBuf(h.buf)
	h.buf = nil
	s.openNextDeferred(n)
}

// openNextDeferred answers the first deferred OPEN once not all open
// handles are young; it makes a young handle itself, so the others keep
// waiting for it. n.mu is held.
func (s *Server) openNextDeferred(n *node) {
	if n.open > 0 && n.young == n.open || len(n.deferred) == 0 {
		return
	}
	if len(n.deferred) > 1 && n.open == 0 && s.openBatch(n) {
		return
	}
	d := n.deferred[0]
	n.deferred[0] = deferredOpen{}
	n.deferred = n.deferred[1:]
	if len(n.deferred) == 0 {
		n.deferred = nil
	}
	s.openLocked(n, d) // renders for d if it waited behind the first
}

// openBatch answers all the waiting OPENs of n, which has no open handle,
// with one snapshot rendered now, after the last of them arrived: a
// snapshot taken during each of their open(2) calls, stored once, and
// read by all of them from the page cache, where nothing replaces it
// until all of them are released. It reports false, having answered
// none, if the render or the store failed. n.mu is held.
func (s *Server) openBatch(n *node) bool {
	b := s.getBuf()
	if s.render(n, b) != nil || !s.storeNode(n, b) {
		s.putBuf(b)
		return false
	}
	batch := n.deferred
	n.deferred = nil
	n.reads.Add(uint64(len(batch) - 1)) // one render, served len(batch) times
	for i, d := range batch {
		s.putBuf(d.b)
		h := &handle{id: d.r.Header.Node, node: n}
		n.open++
		if i == 0 {
			s.adopt(n, h, b)
		} else {
			h.cached = true
			s.makeYoung(n, h)
		}
		d.r.Respond(&fuse.OpenResponse{Handle: s.handles.add(h), Flags: fuse.OpenKeepCache})
	}
	return true
}

// lookupSize is the size told at LOOKUP: the snapshot's length, else the
// size the kernel holds if it holds one, else the hint.
func (s *Server) lookupSize(id fuse.NodeID) int64 {
	n := s.tree.node(id)
	if n == nil {
		return 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.snap != nil {
		return int64(n.snap.Len())
	}
	if size := s.kernelSize(n); size >= 0 {
		return size
	}
	return n.sizeHint()
}

// fileSize is the size told at GETATTR of node id: the snapshot's length,
// after rendering a new one if the page cache of a file with open handles
// was invalidated (see above); before any snapshot, as lookupSize.
//
// A new snapshot of another length is taken only while no direct handle
// is open: their sendfile(2) may have page reads in flight, sent for the
// old size, whose answers from the new snapshot would trim the size and
// make the kernel drop this answer (it drops attributes older than a
// size change, fs/fuse/inode.c fuse_change_attributes).
func (s *Server) fileSize(id fuse.NodeID) int64 {
	n := s.tree.node(id)
	if n == nil {
		return 0
	}
	n.mu.Lock()
	if n.snap == nil {
		n.mu.Unlock()
		return s.lookupSize(id)
	}
	defer n.mu.Unlock()
	if n.pagesGone && n.open > 0 && time.Since(n.snapAt) >= s.stale() && time.Since(n.lastFill) >= s.stale() {
		b := s.getBuf()
		if s.render(n, b) == nil && (n.direct == 0 || b.Len() == n.snap.Len()) {
			s.putBuf(n.snap)
			n.snap, n.snapAt = b, time.Now()
		} else {
			s.putBuf(b) // keep the last one (a render error is counted)
		}
	}
	return int64(n.snap.Len())
}

// filled records a page read answered from the snapshot. n.mu is held.
func (s *Server) filled(n *node) {
	n.fills++
	n.lastFill = time.Now()
	n.pagesGone = false
	s.queueExpiry(n, n.lastFill.Add(s.stale()))
}

// expire runs for n staleAfter after the last store or page read. Handles
// open since the last store stop being young: the first deferred OPEN may
// proceed. If handles are open, the page cache is invalidated: they have
// not read it for staleAfter, so they are likely between passes.
func (s *Server) expire(n *node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.timerQueued = false
	if due := n.lastFill.Add(s.stale()); time.Now().Before(due) {
		s.queueExpiry(n, due) // filled again since
		return
	}
	if n.young > 0 {
		n.epoch++
		n.young = 0
	}
	s.openNextDeferred(n)
	if n.open == 0 || n.invalidating || n.snap == nil {
		return
	}
	n.invalidating = true
	n.pagesGone = false
	fills := n.fills
	id := n.id
	s.background.Add(1)
	go s.invalidate(n, id, fills)
}

// invalidate drops the page cache and the attributes of n, on a goroutine
// of its own: it waits for the page locks of any page read in flight,
// which a reader of this server answers meanwhile.
func (s *Server) invalidate(n *node, id fuse.NodeID, fills uint64) {
	defer s.background.Done()
	_ = s.conn.InvalidateNode(id, 0, -1)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.invalidating = false
	if n.fills == fills {
		n.pagesGone = true
		return
	}
	// A read filled pages meanwhile, maybe after they were dropped:
	// once more.
	s.queueExpiry(n, time.Now().Add(s.stale()))
}

// queueExpiry queues an expiry of n at due unless one is queued. n.mu is
// held.
func (s *Server) queueExpiry(n *node, due time.Time) {
	if n.timerQueued {
		return
	}
	n.timerQueued = true
	s.timers.add(due, n)
}

// openPaths opens the O_PATH descriptors of kernelSize, once readers
// answer (the walk looks the names up). Without them, every open gets
// direct I/O.
func (s *Server) openPaths() {
	for i := range s.tree.nodes {
		n := &s.tree.nodes[i]
		if n.Dir != nil {
			continue // no page cache: dir.go serves it with direct I/O
		}
		fd, err := unix.Open(s.Path(n.Name), unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		n.mu.Lock()
		n.pathFd = fd
		n.mu.Unlock()
	}
}

// closePaths closes them.
func (s *Server) closePaths() {
	for i := range s.tree.nodes {
		n := &s.tree.nodes[i]
		n.mu.Lock()
		if n.pathFd >= 0 {
			unix.Close(n.pathFd)
			n.pathFd = -1
		}
		n.mu.Unlock()
	}
}

// timerQueue holds the nodes to expire, at most one entry per node
// (node.timerQueued). The serving reader runs them (Server.reader): a hot
// reader wakes up for them and does not go cold while one is queued.
type timerQueue struct {
	mu sync.Mutex
	q  []timer
}

type timer struct {
	due time.Time
	n   *node
}

func (t *timerQueue) add(due time.Time, n *node) {
	t.mu.Lock()
	t.q = append(t.q, timer{due, n})
	t.mu.Unlock()
}

// next returns the earliest due time.
func (t *timerQueue) next() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var first time.Time
	for _, e := range t.q {
		if first.IsZero() || e.due.Before(first) {
			first = e.due
		}
	}
	return first, len(t.q) > 0
}

// take removes and returns the nodes due by now.
func (t *timerQueue) take(now time.Time, into []*node) []*node {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.q[:0]
	for _, e := range t.q {
		if !e.due.After(now) {
			into = append(into, e.n)
		} else {
			kept = append(kept, e)
		}
	}
	clear(t.q[len(kept):])
	t.q = kept
	return into
}

// runTimers expires the nodes due by now.
func (s *Server) runTimers(now time.Time) {
	var buf [16]*node
	for _, n := range s.timers.take(now, buf[:0]) {
		s.expire(n)
	}
}
