package seccompagent

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// inflightSize is the size of an in-flight record's memfd: one page.
const inflightSize = 4096

// inflight is a notify fd's record of the call being answered, kept in a
// memfd page that the holder creates beside each notify fd and keeps as
// long as the fd. A notification the daemon has received is no longer
// pending: if the daemon dies before answering it, nothing but its id
// can answer it, and the caller would wait until a signal interrupts it.
// The daemon therefore notes each notification here before answering it
// (a memory store, no syscall) and clears it after; the next daemon, or
// the holder, answers a notification left noted and still valid.
//
//	offset 0: u64 state (0 idle, 1 answering)   offset 8: struct seccomp_notif (80 bytes)
type inflight struct{ mem []byte }

// newInflightFD creates the memfd of an in-flight record.
func newInflightFD() (int, error) {
	fd, err := unix.MemfdCreate("lxmount-seccomp-inflight", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, inflightSize); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("ftruncate memfd: %w", err)
	}
	return fd, nil
}

// mapInflight maps the record of memfd fd.
func mapInflight(fd int) (*inflight, error) {
	mem, err := unix.Mmap(fd, 0, inflightSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap in-flight record: %w", err)
	}
	return &inflight{mem: mem}, nil
}

func (r *inflight) state() *uint64 { return (*uint64)(unsafe.Pointer(&r.mem[0])) }

// begin notes n as being answered.
func (r *inflight) begin(n notif) {
	b := n.bytes()
	copy(r.mem[8:], b[:])
	atomic.StoreUint64(r.state(), 1)
}

// end notes that the noted notification is answered.
func (r *inflight) end() { atomic.StoreUint64(r.state(), 0) }

// pending returns the notification left noted, if any.
func (r *inflight) pending() (notif, bool) {
	if atomic.LoadUint64(r.state()) != 1 {
		return notif{}, false
	}
	n, err := notifFrom(r.mem[8:88])
	return n, err == nil
}

func (r *inflight) close() { _ = unix.Munmap(r.mem) }
