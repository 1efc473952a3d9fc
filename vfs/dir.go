package vfs

import (
	"bytes"
	"os"
	"path"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
)

// Dir is the content of a directory Entry (Entry.Dir): a tree looked up
// name by name. Paths are relative to the entry, clean and slash
// separated, "" for the entry itself. Errors that wrap an errno (ENOENT
// for a path the tree does not have) answer that errno; others EIO.
type Dir interface {
	// Stat describes the node at path.
	Stat(path string) (DirNode, error)
	// List lists the directory at path (Name and the type bits of Mode
	// are used).
	List(path string) ([]DirNode, error)
	// Render writes the content of the file at path.
	Render(path string, buf *bytes.Buffer) error
}

// DirNode is one node of a Dir.
type DirNode struct {
	Name string      // last element of its path
	Mode os.FileMode // type bits (0, os.ModeDir, os.ModeSymlink) and permissions
	Link string      // a symlink's target
}

// treeValid is how long the kernel may cache a tree's names and
// attributes. A tree's content follows the container (a CPU directory
// appears when its quota grows), so not for long; a second spares the
// requests of one program's walk (lscpu stats each file a few times).
const treeValid = time.Second

// The node IDs of a tree's paths and the handle IDs of its open files and
// directories are numbered from these, far above the static entries'
// node IDs and the handle IDs of handleTable, so one look tells them
// apart.
const (
	treeNodeBase   fuse.NodeID   = 1 << 40
	treeHandleBase fuse.HandleID = 1 << 62
)

// treeFileSize is the size a tree's files report, as sysfs's do (one
// page: fs/sysfs/file.c), so that sendfile(2), which stops at the size,
// copies them; reads are direct I/O and come back short.
const treeFileSize = 4096

// treeKey names one path of one directory entry.
type treeKey struct {
	entry int // index of the Entry in the tree
	path  string
}

// trees holds a Server's tree paths and open tree handles. A path keeps
// its node ID for the life of the Server: IDs are stable, and the paths of
// a tree are finite (those of the host directory it stands for).
type trees struct {
	mu      sync.Mutex
	ids     map[treeKey]fuse.NodeID
	keys    map[fuse.NodeID]treeKey
	handles map[fuse.HandleID]*treeHandle
	nextID  fuse.NodeID
	nextH   fuse.HandleID
}

// treeHandle is one open file or directory of a tree.
type treeHandle struct {
	key treeKey
	dir bool

	mu    sync.Mutex
	buf   bytes.Buffer // a file's snapshot, or a directory's dirents
	ends  []int        // a directory's dirent boundaries in buf
	fresh bool         // a file's buf was rendered at OPEN and not read yet
}

// id returns the node ID of k, numbering it on first use.
func (t *trees) id(k treeKey) fuse.NodeID {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.ids[k]; ok {
		return id
	}
	if t.ids == nil {
		t.ids, t.keys = map[treeKey]fuse.NodeID{}, map[fuse.NodeID]treeKey{}
	}
	id := treeNodeBase + t.nextID
	t.nextID++
	t.ids[k], t.keys[id] = id, k
	return id
}

func (t *trees) addHandle(h *treeHandle) fuse.HandleID {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.handles == nil {
		t.handles = map[fuse.HandleID]*treeHandle{}
	}
	id := treeHandleBase + t.nextH
	t.nextH++
	t.handles[id] = h
	return id
}

func (t *trees) handle(id fuse.HandleID) *treeHandle {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.handles[id]
}

func (t *trees) removeHandle(id fuse.HandleID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.handles, id)
}

// treeKeyOf returns the tree path a node ID stands for: a directory
// entry's own node is its tree's root.
func (s *Server) treeKeyOf(id fuse.NodeID) (treeKey, bool) {
	if n := s.tree.node(id); n != nil {
		if n.Dir == nil {
			return treeKey{}, false
		}
		return treeKey{entry: int(id) - 2}, true
	}
	if id < treeNodeBase {
		return treeKey{}, false
	}
	s.trees.mu.Lock()
	defer s.trees.mu.Unlock()
	k, ok := s.trees.keys[id]
	return k, ok
}

// nodeID is the node ID of k.
func (s *Server) nodeID(k treeKey) fuse.NodeID {
	if k.path == "" {
		return fuse.NodeID(k.entry + 2)
	}
	return s.trees.id(k)
}

// dirOf is the Dir of k's entry.
func (s *Server) dirOf(k treeKey) Dir { return s.tree.nodes[k.entry].Dir }

// serveTree answers the requests about a tree's nodes and handles, and
// reports whether req was one; handle answers the others.
func (s *Server) serveTree(req fuse.Request) bool {
	switch r := req.(type) {
	case *fuse.LookupRequest:
		k, ok := s.treeKeyOf(r.Node)
		if !ok {
			return false
		}
		s.treeLookup(k, r)
	case *fuse.GetattrRequest:
		k, ok := s.treeKeyOf(r.Node)
		if !ok {
			return false
		}
		dn, err := s.dirOf(k).Stat(k.path)
		if err != nil {
			r.RespondError(errno(err))
			return true
		}
		r.Respond(&fuse.GetattrResponse{Attr: s.treeAttr(s.nodeID(k), dn)})
	case *fuse.ReadlinkRequest:
		k, ok := s.treeKeyOf(r.Node)
		if !ok {
			return false
		}
		dn, err := s.dirOf(k).Stat(k.path)
		switch {
		case err != nil:
			r.RespondError(errno(err))
		case dn.Mode&os.ModeSymlink == 0:
			r.RespondError(fuse.Errno(syscall.EINVAL))
		default:
			r.Respond(dn.Link)
		}
	case *fuse.OpenRequest:
		k, ok := s.treeKeyOf(r.Node)
		if !ok {
			return false
		}
		s.treeOpen(k, r)
	case *fuse.ReadRequest:
		if r.Handle < treeHandleBase {
			return false
		}
		h := s.trees.handle(r.Handle)
		if h == nil {
			r.RespondError(fuse.Errno(syscall.EBADF))
			return true
		}
		s.treeRead(h, r)
	case *fuse.ReleaseRequest:
		if r.Handle < treeHandleBase {
			return false
		}
		s.trees.removeHandle(r.Handle)
		r.Respond()
	default:
		return false
	}
	return true
}

// treeLookup answers the LOOKUP of a name in the tree directory k.
func (s *Server) treeLookup(k treeKey, r *fuse.LookupRequest) {
	if r.Name == "" || r.Name == "." || r.Name == ".." || bytes.ContainsRune([]byte(r.Name), '/') {
		r.RespondError(fuse.ENOENT)
		return
	}
	child := treeKey{entry: k.entry, path: path.Join(k.path, r.Name)}
	dn, err := s.dirOf(k).Stat(child.path)
	if err != nil {
		r.RespondError(errno(err))
		return
	}
	id := s.nodeID(child)
	r.Respond(&fuse.LookupResponse{Node: id, EntryValid: treeValid, Attr: s.treeAttr(id, dn)})
}

// treeAttr are the attributes of a tree node.
func (s *Server) treeAttr(id fuse.NodeID, dn DirNode) fuse.Attr {
	a := fuse.Attr{
		Valid: treeValid,
		Inode: uint64(id),
		Atime: s.tree.mtime, Mtime: s.tree.mtime, Ctime: s.tree.mtime,
		Mode:      dn.Mode,
		Nlink:     1,
		BlockSize: 4096,
	}
	switch {
	case dn.Mode.IsDir():
		a.Nlink = 2
	case dn.Mode&os.ModeSymlink != 0:
		a.Size = uint64(len(dn.Link))
	case dn.Mode.IsRegular():
		a.Size = treeFileSize
	}
	return a
}

// treeOpen answers the OPEN of a tree file (rendered now, served with
// direct I/O) or directory (listed at its first read).
func (s *Server) treeOpen(k treeKey, r *fuse.OpenRequest) {
	if !r.Flags.IsReadOnly() {
		r.RespondError(fuse.Errno(syscall.EROFS))
		return
	}
	h := &treeHandle{key: k, dir: r.Dir}
	if r.Dir {
		r.Respond(&fuse.OpenResponse{Handle: s.trees.addHandle(h)})
		return
	}
	if err := s.dirOf(k).Render(k.path, &h.buf); err != nil {
		r.RespondError(errno(err))
		return
	}
	h.fresh = true
	s.tree.nodes[k.entry].reads.Add(1)
	r.Respond(&fuse.OpenResponse{Handle: s.trees.addHandle(h), Flags: fuse.OpenDirectIO})
}

// treeRead answers a read of a tree handle. A file's read at offset 0
// renders afresh (but the first uses the OPEN's snapshot), later offsets
// are slices of it, like fs/seq_file.c. A directory is listed at offset 0
// and answered in whole dirents.
func (s *Server) treeRead(h *treeHandle, r *fuse.ReadRequest) {
	h.mu.Lock()
	defer h.mu.Unlock()
	dir := s.dirOf(h.key)
	if h.dir {
		if r.Offset == 0 || h.ends == nil {
			if err := s.treeList(h, dir); err != nil {
				r.RespondError(errno(err))
				return
			}
		}
		r.Respond(&fuse.ReadResponse{Data: direntSlice(h.buf.Bytes(), h.ends, r.Offset, r.Size)})
		return
	}
	if r.Offset == 0 && !h.fresh {
		h.buf.Reset()
		if err := dir.Render(h.key.path, &h.buf); err != nil {
			r.RespondError(errno(err))
			return
		}
		s.tree.nodes[h.key.entry].reads.Add(1)
	}
	h.fresh = false
	data := h.buf.Bytes()
	if r.Offset >= int64(len(data)) {
		data = nil
	} else {
		data = data[r.Offset:]
	}
	if len(data) > r.Size {
		data = data[:r.Size]
	}
	r.Respond(&fuse.ReadResponse{Data: data})
}

// treeList lists h's directory into its buffer as dirents.
func (s *Server) treeList(h *treeHandle, dir Dir) error {
	list, err := dir.List(h.key.path)
	if err != nil {
		return err
	}
	self := s.nodeID(h.key)
	parent := uint64(self)
	if h.key.path != "" {
		parent = uint64(s.nodeID(treeKey{entry: h.key.entry, path: parentPath(h.key.path)}))
	}
	var b []byte
	ends := make([]int, 0, len(list)+2)
	b = fuse.AppendDirent(b, fuse.Dirent{Inode: uint64(self), Type: fuse.DT_Dir, Name: "."})
	ends = append(ends, len(b))
	b = fuse.AppendDirent(b, fuse.Dirent{Inode: parent, Type: fuse.DT_Dir, Name: ".."})
	ends = append(ends, len(b))
	for _, dn := range list {
		id := s.nodeID(treeKey{entry: h.key.entry, path: path.Join(h.key.path, dn.Name)})
		b = fuse.AppendDirent(b, fuse.Dirent{Inode: uint64(id), Type: direntType(dn.Mode), Name: dn.Name})
		ends = append(ends, len(b))
	}
	h.buf.Reset()
	h.buf.Write(b)
	h.ends = ends
	return nil
}

// parentPath is the parent of a non-empty tree path ("" for a top name).
func parentPath(p string) string {
	if d := path.Dir(p); d != "." {
		return d
	}
	return ""
}

// direntSlice returns the whole dirents of data from offset off (a dirent
// boundary, as the kernel passes back the offsets it was given) that fit
// in size bytes.
func direntSlice(data []byte, ends []int, off int64, size int) []byte {
	if off >= int64(len(data)) {
		return nil
	}
	end := int(off)
	for _, e := range ends {
		if e <= int(off) {
			continue
		}
		if e-int(off) > size {
			break
		}
		end = e
	}
	return data[off:end]
}

// direntType is the dirent type of a mode.
func direntType(m os.FileMode) fuse.DirentType {
	switch {
	case m.IsDir():
		return fuse.DT_Dir
	case m&os.ModeSymlink != 0:
		return fuse.DT_Link
	}
	return fuse.DT_File
}
