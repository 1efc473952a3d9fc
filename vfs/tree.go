package vfs

import (
	"bytes"
	"os"
	"sync/atomic"
	"time"

	"bazil.org/fuse"
)

// Entry is one file of the tree: its name in the mount's root directory and
// the function that renders its content.
type Entry struct {
	Name   string
	Render func(buf *bytes.Buffer) error
}

// rootID is the FUSE node of the root directory; entry i is node i+2.
const rootID fuse.NodeID = 1

// cacheValid is how long the kernel may cache names and attributes. The tree
// is static for the life of a Server, so a long time is right; content is
// never cached (direct I/O).
const cacheValid = time.Hour

// node is one served file with its counters.
type node struct {
	Entry
	reads  atomic.Uint64 // reads at offset 0 (renders) served
	errors atomic.Uint64 // renders that failed
	maxLen atomic.Int64  // longest content rendered so far
	size   atomic.Int64  // the size last reported to the kernel

	// cacheAttr: the kernel may keep the attributes for cacheValid
	// instead of asking again at every open (see attrValid).
	cacheAttr atomic.Bool
	// cachedOut: attributes valid for cacheValid were handed out since
	// the last invalidation, so the kernel may hold them.
	cachedOut atomic.Bool
	// quiet counts renders for read(2) since the last page cache read.
	quiet atomic.Uint32
}

// sizeHint is the file size reported to the kernel: an upper bound of the
// content, at least one page.
//
// Why not 0 like procfs: sendfile(2) and splice(2) on a FUSE file go
// through the page cache even with direct I/O (fs/fuse/file.c
// fuse_splice_read -> filemap_splice_read), which stops at i_size, so a
// size of 0 makes busybox cat (which copies with sendfile) print nothing.
// An over-estimate is safe: the page read comes back short and the kernel
// trims i_size to what was read (fuse_short_read). Twice the longest
// content seen, in whole pages, leaves room for counters that grow;
// before the first rendering, unknownSize. (Rendering here, at the
// LOOKUP of every file that attaching a container does, would cost the
// attach 11 renderings and leave the kernel files they read open.)
func (n *node) sizeHint() uint64 {
	size := int64(unknownSize)
	if l := n.maxLen.Load(); l > 0 {
		size = max((2*l+4095)/4096*4096, 4096)
	}
	n.size.Store(size)
	return uint64(size)
}

// unknownSize is the size hint of a file not rendered yet: more than any
// of lxmount's files (a /proc/cpuinfo of 1,000 CPUs is about 1 MiB).
const unknownSize = 4 << 20

// seen records a rendered content length and reports whether it exceeds
// the size last reported to the kernel.
func (n *node) seen(l int) (outgrown bool) {
	for {
		cur := n.maxLen.Load()
		if int64(l) <= cur || n.maxLen.CompareAndSwap(cur, int64(l)) {
			break
		}
	}
	size := n.size.Load()
	return size > 0 && int64(l) > size
}

// quietRenders is how many renders for read(2), with no page cache read
// in between, make a node's attributes cacheable.
const quietRenders = 64

// attrValid is how long the kernel may cache the node's attributes.
//
// The size is all that changes, and it matters only to page cache reads
// (sendfile, splice, mmap): a short one trims the kernel's size to the
// content read, which would cut the next one short should the content
// grow. So a node starts with attributes valid for no time: with
// default_permissions every open asks for them (fs/fuse/dir.c
// fuse_permission), restoring the hint. That GETATTR is a round trip at
// every open, though, about a fifth of an open-read-close; so once
// quietRenders renders came through read(2) (direct I/O, which ignores the
// size) with no page cache read, the attributes are cached like the tree.
// The next page cache read turns that off again (Server.read), and the
// release of its handle invalidates the cached size.
func (n *node) attrValid() time.Duration {
	if n.cacheAttr.Load() {
		n.cachedOut.Store(true)
		return cacheValid
	}
	return 0
}

// mayHoldAttr reports whether the kernel may hold cached attributes of
// the node, and forgets that it did: the caller invalidates them. An
// invalidation when the kernel asks at every open anyway would only
// race with a GETATTR in flight, whose answer the kernel then drops
// (fs/fuse/inode.c fuse_change_attributes compares attr versions).
func (n *node) mayHoldAttr() bool { return n.cachedOut.Swap(false) }

// directRender notes a render for read(2).
func (n *node) directRender() {
	if !n.cacheAttr.Load() && n.quiet.Add(1) >= quietRenders {
		n.cacheAttr.Store(true)
	}
}

// uncacheAttr makes every open ask for the attributes again: after a page
// cache read, or when the content outgrew the size hint.
func (n *node) uncacheAttr() {
	n.cacheAttr.Store(false)
	n.quiet.Store(0)
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

// attr fills the attributes of node id.
func (t *tree) attr(id fuse.NodeID) (fuse.Attr, bool) {
	a := fuse.Attr{
		Valid: cacheValid,
		Inode: uint64(id),
		Atime: t.mtime, Mtime: t.mtime, Ctime: t.mtime,
		Nlink:     1,
		BlockSize: 4096,
	}
	switch {
	case id == rootID:
		a.Mode = os.ModeDir | 0o555
		a.Nlink = 2
	case t.node(id) != nil:
		// Direct I/O makes read(2) ask us whatever the size; the size
		// matters to sendfile(2), see node.sizeHint and node.attrValid.
		n := t.node(id)
		a.Mode = 0o444
		a.Valid = n.attrValid()
		a.Size = n.sizeHint()
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
		b = fuse.AppendDirent(b, fuse.Dirent{Inode: uint64(i + 2), Type: fuse.DT_File, Name: t.nodes[i].Name})
	}
	return b
}
