package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"syscall"

	"bazil.org/fuse"
)

// handle is one open file. The node's mu guards the fields below node.
type handle struct {
	id   fuse.NodeID
	node *node

	// cached: the kernel reads this open file from the page cache,
	// which holds the node's snapshot (see pagecache.go). Otherwise
	// reads are direct I/O, from buf.
	cached bool
	epoch  uint64 // the node's epoch at the open

	buf *bytes.Buffer // a direct handle's snapshot; nil if none
	err error         // the render at OPEN failed with this
	// fresh: buf was rendered at OPEN and no read at offset 0 has
	// used it yet.
	fresh bool
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

// handle answers one request. Every request is answered exactly once,
// and a panic while answering it answers EIO (recoverRequest).
func (s *Server) handle(req fuse.Request) {
	defer s.recoverRequest(req)
	if s.serveTree(req) {
		return
	}
	switch r := req.(type) {
	case *fuse.LookupRequest:
		id, ok := s.tree.byName[r.Name]
		if r.Node != rootID || !ok {
			r.RespondError(fuse.ENOENT)
			return
		}
		a, _ := s.tree.attr(id, s.lookupSize(id))
		r.Respond(&fuse.LookupResponse{Node: id, EntryValid: cacheValid, Attr: a})

	case *fuse.GetattrRequest:
		a, ok := s.tree.attr(r.Node, s.fileSize(r.Node))
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
		s.open(n, r)

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
		s.release(h)

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

// recoverRequest, deferred by handle, answers a request whose handling
// panicked with EIO and logs it: one request fails, not the daemon nor
// the other containers. A request answered before the panic gets a second
// answer, which the kernel refuses (its unique is not pending any more).
func (s *Server) recoverRequest(req fuse.Request) {
	r := recover()
	if r == nil {
		return
	}
	s.log().Error("panic while answering a FUSE request; answered EIO", "name", s.opts.Name, "request", req.String(), "panic", r, "stack", string(debug.Stack()))
	req.RespondError(fuse.Errno(syscall.EIO))
}

// log is the logger of Options.Log.
func (s *Server) log() *slog.Logger {
	if s.opts.Log != nil {
		return s.opts.Log
	}
	return slog.Default()
}

// errRenderPanic wraps a panic in an Entry's Render.
var errRenderPanic = errors.New("render panicked")

// safeRender runs n.Render, turning a panic into an error (logged once
// here): renders also run outside requests (pagecache.go), and the
// node's lock and page-cache state stay consistent this way.
func (s *Server) safeRender(n *node, b *bytes.Buffer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log().Error("panic in a render; the read fails with EIO", "name", s.opts.Name, "file", n.Name, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", errRenderPanic, r)
		}
	}()
	return n.Render(b)
}

// render renders a fresh snapshot of n into b, with n.mu held.
func (s *Server) render(n *node, b *bytes.Buffer) error {
	b.Reset()
	n.reads.Add(1)
	if err := s.safeRender(n, b); err != nil {
		n.errors.Add(1)
		msg := n.Name + ": " + err.Error()
		s.lastError.Store(&msg)
		b.Reset()
		return err
	}
	n.seen(b.Len())
	return nil
}

// getBuf returns an empty buffer from the pool.
func (s *Server) getBuf() *bytes.Buffer {
	if b, ok := s.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

// putBuf returns b to the pool.
func (s *Server) putBuf(b *bytes.Buffer) {
	if b != nil {
		b.Reset()
		s.bufs.Put(b)
	}
}

// read serves a read.
//
// Page reads (those of a cached handle, and sendfile, splice or mmap of
// any) fill the page cache, which holds the node's snapshot: they are
// answered from it, whatever the handle (pagecache.go).
//
// Reads through read(2) of a direct handle (and O_DIRECT reads) carry the
// caller's lock owner (fs/fuse/file.c fuse_direct_io -> fuse_send_read)
// and are answered from the handle's own snapshot, like fs/seq_file.c: a
// read at offset 0 renders afresh (but the first one uses the snapshot of
// the OPEN), later offsets are slices of it. Never "EOF if offset > 0":
// partial reads work.
func (s *Server) read(h *handle, r *fuse.ReadRequest) {
	n := h.node
	n.mu.Lock()
	defer n.mu.Unlock()
	var data []byte
	if r.Flags&fuse.ReadLockOwner == 0 && n.snap != nil {
		data = n.snap.Bytes()
		s.filled(n)
	} else {
		if r.Offset == 0 || h.buf == nil {
			var err error
			if h.fresh {
				err = h.err // counted by the render at OPEN
			} else {
				if h.buf == nil {
					h.buf = s.getBuf()
				}
				err = s.render(n, h.buf)
			}
			h.fresh, h.err = false, nil
			if err != nil {
				r.RespondError(errno(err))
				return
			}
		}
		data = h.buf.Bytes()
	}
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
