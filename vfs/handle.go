package vfs

import (
	"bytes"
	"sync"
	"syscall"

	"bazil.org/fuse"
)

// handle is one open file: its node and the snapshot rendered at the last
// read at offset 0.
type handle struct {
	mu   sync.Mutex
	id   fuse.NodeID
	node *node
	buf  *bytes.Buffer // nil until the first read
	// trimmed is set when a page cache read came back short: the kernel
	// then trimmed its size of the file (see node.attrValid).
	trimmed bool
}

// handleTable maps the kernel's handle IDs to open files.
type handleTable struct {
	mu   sync.Mutex
	next fuse.HandleID
	m    map[fuse.HandleID]*handle
}

func (t *handleTable) add(h *handle) fuse.HandleID {
	t.mu.Lock()
	t.next++
	id := t.next
	t.m[id] = h
	t.mu.Unlock()
	return id
}

func (t *handleTable) get(id fuse.HandleID) *handle {
	t.mu.Lock()
	h := t.m[id]
	t.mu.Unlock()
	return h
}

func (t *handleTable) remove(id fuse.HandleID) *handle {
	t.mu.Lock()
	h := t.m[id]
	delete(t.m, id)
	t.mu.Unlock()
	return h
}

// handle answers one request. Every request is answered exactly once.
func (s *Server) handle(req fuse.Request) {
	switch r := req.(type) {
	case *fuse.LookupRequest:
		id, ok := s.tree.byName[r.Name]
		if r.Node != rootID || !ok {
			r.RespondError(fuse.ENOENT)
			return
		}
		a, _ := s.tree.attr(id)
		r.Respond(&fuse.LookupResponse{Node: id, EntryValid: cacheValid, Attr: a})

	case *fuse.GetattrRequest:
		a, ok := s.tree.attr(r.Node)
		if !ok {
			r.RespondError(fuse.ENOENT)
			return
		}
		r.Respond(&fuse.GetattrResponse{Attr: a})

	case *fuse.OpenRequest:
		if r.Node == rootID {
			r.Respond(&fuse.OpenResponse{Flags: fuse.OpenCacheDir})
			return
		}
		n := s.tree.node(r.Node)
		if n == nil {
			r.RespondError(fuse.ENOENT)
			return
		}
		if !r.Flags.IsReadOnly() {
			r.RespondError(fuse.Errno(syscall.EACCES))
			return
		}
		id := s.handles.add(&handle{id: r.Node, node: n})
		// Direct I/O: every read reaches us, and sizes need not be known.
		r.Respond(&fuse.OpenResponse{Handle: id, Flags: fuse.OpenDirectIO})

	case *fuse.ReadRequest:
		if r.Dir {
			s.readDir(r)
			return
		}
		h := s.handles.get(r.Handle)
		if h == nil {
			r.RespondError(fuse.Errno(syscall.EBADF))
			return
		}
		s.read(h, r)

	case *fuse.ReleaseRequest:
		h := s.handles.remove(r.Handle)
		r.Respond()
		if h == nil {
			return
		}
		if h.trimmed && h.node.mayHoldAttr() {
			s.invalidateAttr(h.id)
		}
		if h.buf != nil {
			h.buf.Reset()
			s.bufs.Put(h.buf)
		}

	case *fuse.FlushRequest:
		// Nothing to flush on a read-only file. ENOSYS makes the kernel
		// stop sending FLUSH on this connection (fs/fuse/file.c
		// fuse_flush sets fc->no_flush and close returns 0), which
		// saves a round trip at every close.
		r.RespondError(fuse.ENOSYS)

	case *fuse.ForgetRequest:
		r.Respond()

	case *fuse.BatchForgetRequest:
		r.Respond()

	case *fuse.AccessRequest:
		r.Respond()

	case *fuse.StatfsRequest:
		r.Respond(&fuse.StatfsResponse{Bsize: 4096, Frsize: 4096, Namelen: 255})

	case *fuse.InterruptRequest:
		// Reads are answered inline and quickly; nothing to interrupt.
		r.Respond()

	case *fuse.DestroyRequest:
		r.Respond()

	case *fuse.GetxattrRequest, *fuse.ListxattrRequest:
		req.RespondError(fuse.ENODATA)

	case *fuse.WriteRequest, *fuse.SetattrRequest, *fuse.CreateRequest, *fuse.MkdirRequest,
		*fuse.RemoveRequest, *fuse.RenameRequest, *fuse.SymlinkRequest, *fuse.LinkRequest,
		*fuse.MknodRequest, *fuse.SetxattrRequest, *fuse.RemovexattrRequest:
		req.RespondError(fuse.Errno(syscall.EROFS))

	default:
		req.RespondError(fuse.ENOSYS)
	}
}

// read serves a read: at offset 0 (or before any snapshot) it renders a
// fresh snapshot into the handle, later offsets are slices of it, like
// fs/seq_file.c. Never "EOF if offset > 0": partial reads work.
//
// Reads through read(2) are direct I/O and carry the caller's lock owner
// (fs/fuse/file.c fuse_direct_io -> fuse_send_read); page cache reads
// (sendfile, splice, mmap) do not, which tells them apart for the
// attribute caching of node.attrValid. The cached size is invalidated
// when a rendering outgrows it, at once, and after a short page cache
// read at the handle's release: sent right after the reply, the
// invalidation would reach the inode before the reading task processes
// the short read, and the kernel, seeing the attributes changed since the
// read began, would skip the trim and leave zeros past the content in the
// page (fuse_read_update_size).
func (s *Server) read(h *handle, r *fuse.ReadRequest) {
	if s.readLocked(h, r) && h.node.mayHoldAttr() {
		s.invalidateAttr(h.id)
	}
}

// readLocked answers r from h and reports whether the rendered content
// outgrew the size the kernel was told.
func (s *Server) readLocked(h *handle, r *fuse.ReadRequest) (outgrown bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	direct := r.Flags&fuse.ReadLockOwner != 0
	if !direct {
		h.node.uncacheAttr()
	}
	if r.Offset == 0 || h.buf == nil {
		if h.buf == nil {
			if b, ok := s.bufs.Get().(*bytes.Buffer); ok {
				h.buf = b
			} else {
				h.buf = new(bytes.Buffer)
			}
		}
		h.buf.Reset()
		h.node.reads.Add(1)
		if err := h.node.Render(h.buf); err != nil {
			h.node.errors.Add(1)
			msg := h.node.Name + ": " + err.Error()
			s.lastError.Store(&msg)
			h.buf.Reset()
			r.RespondError(errno(err))
			return false
		}
		if outgrown = h.node.seen(h.buf.Len()); outgrown {
			h.node.uncacheAttr()
		} else if direct {
			h.node.directRender()
		}
	}
	data := h.buf.Bytes()
	if r.Offset >= int64(len(data)) {
		data = nil
	} else {
		data = data[r.Offset:]
	}
	if len(data) > r.Size {
		data = data[:r.Size]
	}
	if !direct && len(data) < r.Size {
		h.trimmed = true
	}
	r.Respond(&fuse.ReadResponse{Data: data})
	return outgrown
}

// invalidateAttr drops the kernel's cached attributes of a node (offset
// -1: attributes only, fs/fuse/inode.c fuse_reverse_inval_inode).
// ErrNotCached just means the kernel holds nothing to forget.
func (s *Server) invalidateAttr(id fuse.NodeID) {
	_ = s.conn.InvalidateNode(id, -1, 0)
}

// readDir serves the root directory listing.
func (s *Server) readDir(r *fuse.ReadRequest) {
	if r.Node != rootID {
		r.RespondError(fuse.Errno(syscall.ENOTDIR))
		return
	}
	data := s.tree.dirents()
	if r.Offset >= int64(len(data)) {
		r.Respond(&fuse.ReadResponse{})
		return
	}
	data = data[r.Offset:]
	if len(data) > r.Size {
		// Dirents must not be split; the listing is tiny, so a short
		// buffer means the caller asked for less than one page.
		data = data[:0]
	}
	r.Respond(&fuse.ReadResponse{Data: data})
}
