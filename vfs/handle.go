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
	node *node
	buf  *bytes.Buffer // nil until the first read
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
		id := s.handles.add(&handle{node: n})
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
		if h := s.handles.remove(r.Handle); h != nil && h.buf != nil {
			h.buf.Reset()
			s.bufs.Put(h.buf)
		}
		r.Respond()

	case *fuse.FlushRequest:
		r.Respond()

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
func (s *Server) read(h *handle, r *fuse.ReadRequest) {
	h.mu.Lock()
	defer h.mu.Unlock()
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
			return
		}
		h.node.seen(h.buf.Len())
	}
	data := h.buf.Bytes()
	if r.Offset >= int64(len(data)) {
		r.Respond(&fuse.ReadResponse{})
		return
	}
	data = data[r.Offset:]
	if len(data) > r.Size {
		data = data[:r.Size]
	}
	r.Respond(&fuse.ReadResponse{Data: data})
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
