package vfs

import (
	"bytes"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"bazil.org/fuse"
)

// Entry is one file of the tree: its name in the mount's root directory and
// the function that renders its content, or, when Dir is set, a directory
// whose tree Dir serves (Render is then unused; see dir.go).
type Entry struct {
	Name   string
	Render func(buf *bytes.Buffer) error
	Dir    Dir
}

// rootID is the FUSE node of the root directory; entry i is node i+2.
const rootID fuse.NodeID = 1

// cacheValid is how long the kernel may cache names and attributes. The tree
// is static for the life of a Server, so a long time is right; a size that
// must change is invalidated explicitly (see pagecache.go).
const cacheValid = time.Hour

// node is one served file with its counters and the state of its content
// in the kernel's page cache (pagecache.go). mu guards the fields below
// it and the handles of the node.
type node struct {
	Entry
	id     fuse.NodeID   // its node ID
	reads  atomic.Uint64 // snapshots served (Stats.Reads)
	errors atomic.Uint64 // renders that failed
	maxLen atomic.Int64  // longest content rendered so far

	mu sync.Mutex
	// open counts the node's handles not yet released. RELEASE comes
	// after the last request of its handle, so open is never below the
	// number of files the kernel has open.
	open int
	// snap is the snapshot the page cache holds (or is being given),
	// rendered at snapAt; nil before the first store.
	snap   *bytes.Buffer
	snapAt time.Time
	// epoch counts stores and expiries; young counts the handles open
	// since the last of them, which may be reading snap right now.
	epoch uint64
	young int
	// direct counts the open direct I/O handles.
	direct int
	// deferred are OPENs waiting for the young handles' release.
	deferred []deferredOpen
	// fills counts writes into the page cache (stores and page reads
	// answered); pagesGone says none happened since an invalidation of
	// the whole page cache completed.
	fills     uint64
	lastFill  time.Time
	pagesGone bool
	// cacheIsSnap says the page cache holds nothing but pages of snap
	// (the kernel's size aside): set by a store, cleared by a store that
	// failed half-way. stores counts the stores written (tests).
	cacheIsSnap  bool
	stores       uint64
	timerQueued  bool // an expiry is queued (Server.timers)
	invalidating bool // an invalidation runs (Server.invalidate)
	// pathFd is an O_PATH descriptor of the file on the mount, through
	// which the server reads the size the kernel holds (kernelSize); -1
	// if none.
	pathFd int
}

// sizeHint is the file size reported at LOOKUP: an upper bound of the content, at least one page.
//
// Why not 0 like procfs: sendfile(2) and splice(2) on a FUSE file go
// through the page cache even with direct I/O (fs/fuse/file.c
// fuse_splice_read -> filemap_splice_read), which stops at i_size, so a
// size of 0 makes busybox cat (which copies with sendfile) print nothing.
// An over-estimate is safe: the page read comes back short and the kernel
// trims i_size to what was read (fuse_short_read). Twice the longest
// content seen, in whole pages, leaves room for counters that grow;
// before the first rendering, unknownSize. (Rendering at the LOOKUP of
// every file that attaching a container does would cost the attach 11
// renderings and leave the kernel files they read open.)
func (n *node) sizeHint() int64 {
	if l := n.maxLen.Load(); l > 0 {
		return max((2*l+4095)/4096*4096, 4096)
	}
	return unknownSize
}

// unknownSize is the size hint of a file not rendered yet: more than any
// of lxmount's files (a /proc/cpuinfo of 1,000 CPUs is about 1 MiB).
const unknownSize = 4 << 20

// seen records a rendered content length.
func (n *node) seen(l int) {
	for {
		cur := n.maxLen.Load()
		if int64(l) <= cur || n.maxLen.CompareAndSwap(cur, int64(l)) {
			return
		}
	}
}

// tree is the static set of nodes of one Server.
type tree struct {
	nodes  []node
	byName map[string]fuse.NodeID
	uid    uint32
	gid    uint32
	mtime  time.Time
}

func newTree(entries []Entry) *tree {
	t := &tree{
		nodes:  make([]node, len(entries)),
		byName: make(map[string]fuse.NodeID, len(entries)),
		mtime:  time.Now(),
	}
	for i, e := range entries {
		t.nodes[i].Entry = e
		t.nodes[i].id = fuse.NodeID(i + 2)
		t.nodes[i].pathFd = -1
		t.byName[e.Name] = fuse.NodeID(i + 2)
	}
	return t
}

// node returns the file with the given node ID, or nil for the root or an
// unknown ID.
func (t *tree) node(id fuse.NodeID) *node {
	i := int(id) - 2
	if i < 0 || i >= len(t.nodes) {
		return nil
	}
	return &t.nodes[i]
}

// attr fills the attributes of node id; size is the size of a file (see
// Server.fileSize).
func (t *tree) attr(id fuse.NodeID, size int64) (fuse.Attr, bool) {
	a := fuse.Attr{
		Valid: cacheValid,
		Inode: uint64(id),
		Atime: t.mtime, Mtime: t.mtime, Ctime: t.mtime,
		Nlink:     1,
		BlockSize: 4096,
	}
	switch {
	case id == rootID, t.node(id) != nil && t.node(id).Dir != nil:
		a.Mode = os.ModeDir | 0o555
		a.Nlink = 2
	case t.node(id) != nil:
		a.Mode = 0o444
		a.Size = uint64(size)
		a.Blocks = (a.Size + 511) / 512
	default:
		return a, false
	}
	return a, true
}

// dirents is the root directory's listing.
func (t *tree) dirents() []byte {
	var b []byte
	b = fuse.AppendDirent(b, fuse.Dirent{Inode: uint64(rootID), Type: fuse.DT_Dir, Name: "."})
	b = fuse.AppendDirent(b, fuse.Dirent{Inode: uint64(rootID), Type: fuse.DT_Dir, Name: ".."})
	for i := range t.nodes {
		typ := fuse.DT_File
		if t.nodes[i].Dir != nil {
			typ = fuse.DT_Dir
		}
		b = fuse.AppendDirent(b, fuse.Dirent{Inode: uint64(i + 2), Type: typ, Name: t.nodes[i].Name})
	}
	return b
}
