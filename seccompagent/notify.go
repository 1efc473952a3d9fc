package seccompagent

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// notif is struct seccomp_notif (include/uapi/linux/seccomp.h):
//
//	u64 id; u32 pid; u32 flags;
//	struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }
type notif struct {
	ID    uint64
	PID   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// notifSize is sizeof(struct seccomp_notif).
const notifSize = int(unsafe.Sizeof(notif{}))

// notifResp is struct seccomp_notif_resp: u64 id; s64 val; s32 error; u32 flags.
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

var (
	_ [80 - notifSize]struct{}
	_ [notifSize - 80]struct{}
	_ [24 - unsafe.Sizeof(notifResp{})]struct{}
)

// recv receives one notification (SECCOMP_IOCTL_NOTIF_RECV). The struct
// must be zeroed: the kernel refuses one that is not (EINVAL).
func recv(fd int) (notif, error) {
	var n notif
	if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&n)); err != nil {
		return n, err
	}
	return n, nil
}

// respond answers notification id: the syscall returns val, or fails with
// errno when errno is not 0.
func respond(fd int, id uint64, val int64, errno unix.Errno) error {
	r := notifResp{ID: id, Val: val}
	if errno != 0 {
		r.Error = -int32(errno)
	}
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// pass lets notification id's syscall run in the kernel as if no filter
// had stopped it (SECCOMP_USER_NOTIF_FLAG_CONTINUE): the host's answer.
func pass(fd int, id uint64) error {
	r := notifResp{ID: id, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// idValid reports whether notification id is still waiting for an answer
// (SECCOMP_IOCTL_NOTIF_ID_VALID): its task has not been killed or
// interrupted, so its pid still names the caller.
func idValid(fd int, id uint64) bool {
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

// syncWakeUp asks the kernel to switch straight to the woken caller
// (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6): a lower round trip.
// Older kernels refuse it; that changes nothing else.
func syncWakeUp(fd int) {
	flags := uint64(1) // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
	_ = ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unsafe.Pointer(&flags))
}

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// bytes returns n as the kernel lays it out, for the in-flight record.
func (n notif) bytes() [80]byte {
	var b [80]byte
	binary.LittleEndian.PutUint64(b[0:], n.ID)
	binary.LittleEndian.PutUint32(b[8:], n.PID)
	binary.LittleEndian.PutUint32(b[12:], n.Flags)
	binary.LittleEndian.PutUint32(b[16:], uint32(n.Nr))
	binary.LittleEndian.PutUint32(b[20:], n.Arch)
	binary.LittleEndian.PutUint64(b[24:], n.IP)
	for i, a := range n.Args {
		binary.LittleEndian.PutUint64(b[32+8*i:], a)
	}
	return b
}

// notifFrom decodes what bytes wrote.
func notifFrom(b []byte) (notif, error) {
	if len(b) < 80 {
		return notif{}, fmt.Errorf("seccomp notification: %d bytes, want 80", len(b))
	}
	n := notif{
		ID:    binary.LittleEndian.Uint64(b[0:]),
		PID:   binary.LittleEndian.Uint32(b[8:]),
		Flags: binary.LittleEndian.Uint32(b[12:]),
		Nr:    int32(binary.LittleEndian.Uint32(b[16:])),
		Arch:  binary.LittleEndian.Uint32(b[20:]),
		IP:    binary.LittleEndian.Uint64(b[24:]),
	}
	for i := range n.Args {
		n.Args[i] = binary.LittleEndian.Uint64(b[32+8*i:])
	}
	return n, nil
}
