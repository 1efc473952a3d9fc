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
}

// sizeHint is the file size reported to the kernel: an upper bound of the
// content, never 0.
//
// Why not 0 like procfs: sendfile(2) and splice(2) on a FUSE file go
// through the page cache even with direct I/O (fs/fuse/file.c
// fuse_splice_read -> filemap_splice_read), which stops at i_size, so a
// size of 0 makes busybox cat (which copies with sendfile) print nothing.
// An over-estimate is safe: the page read comes back short and the kernel
// trims i_size to what was read (fuse_short_read). Twice the longest
// content seen, in whole pages, leaves room for counters that grow.
func (n *node) sizeHint(render func() int) uint64 {
	l := n.maxLen.Load()
	if l == 0 {
		l = int64(render())
	}
	return uint64((2*l + 4095) / 4096 * 4096)
}

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
		// matters to sendfile(2), see node.sizeHint. Attributes are not
		// cached (Valid 0): with default_permissions the kernel then asks
		// for them at every open (fs/fuse/dir.c fuse_permission), which
		// resets i_size after a short read trimmed it.
		n := t.node(id)
		a.Mode = 0o444
		a.Valid = 0
		a.Size = n.sizeHint(func() int {
			var b bytes.Buffer
			if n.Render(&b) != nil {
				return 4096
			}
			n.seen(b.Len())
			return b.Len()
		})
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
