package procevents

import (
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Identifiers of include/uapi/linux/connector.h and cn_proc.h. x/sys/unix
// has NETLINK_CONNECTOR but none of these.
const (
	cnIdxProc = 0x1 // CN_IDX_PROC: the connector's index, also the multicast group
	cnValProc = 0x1 // CN_VAL_PROC

	mcastListen = 1 // PROC_CN_MCAST_LISTEN (enum proc_cn_mcast_op)

	whatNone = 0x00000000 // PROC_EVENT_NONE: an ack of a subscription
	whatFork = 0x00000001 // PROC_EVENT_FORK
	whatExec = 0x00000002 // PROC_EVENT_EXEC
	whatExit = 0x80000000 // PROC_EVENT_EXIT
)

// Sizes of the structures a datagram holds, as the kernel lays them out
// (all fields are host-endian):
//
//	struct nlmsghdr  16 bytes  len u32 | type u16 | flags u16 | seq u32 | pid u32
//	struct cn_msg    20 bytes  idx u32 | val u32 | seq u32 | ack u32 | len u16 | flags u16 | data[len]
//	struct proc_event (the data of a cn_msg, 40 bytes):
//	  what u32 | cpu u32 | timestamp_ns u64 | event_data (union, 24 bytes)
//	  (0)        (4)       (8)                (16)
//	event_data for exec: process_pid i32 | process_tgid i32
//	event_data for an ack: err u32
//
// cn_msg is 20 bytes, so the proc_event after it is not 8-byte aligned
// in the datagram (cn_proc.c, buffer_to_cn_msg): its fields are read at
// byte offsets, never through a cast.
const (
	sizeofCnMsg     = 20
	sizeofEventHead = 16 // what, cpu, timestamp_ns
	sizeofExec      = 8  // process_pid, process_tgid
	sizeofAck       = 4  // err
	sizeofMcastOp   = 4  // enum proc_cn_mcast_op
	sizeofProcInput = 8  // struct proc_input: mcast_op, event_type (Linux 6.6+)
)

// Exec is one successful execve(2) (PROC_EVENT_EXEC, sent by
// proc_exec_connector once the new program is loaded, before it runs a
// single instruction of its own).
type Exec struct {
	// PID is the thread that called execve, TGID its process, both in the
	// initial pid namespace. They are equal: an exec from another thread
	// makes that thread the process's leader (de_thread in fs/exec.c).
	PID, TGID int
	// CPU is the CPU the exec ran on.
	CPU uint32
	// Time is when, as CLOCK_MONOTONIC (the kernel's ktime_get_ns); compare
	// it with unix.ClockGettime(unix.CLOCK_MONOTONIC, ...).
	Time time.Duration
}

// message is one decoded proc connector message: an exec, an ack or
// another kind of event (what only).
type message struct {
	what uint32
	exec Exec
	// For an ack: the error number it carries and the cn_msg ack field,
	// which the kernel sets to the request's ack + 1 (cn_proc_ack).
	ackErr, ack uint32
}

// decode returns the proc connector messages of one datagram: every
// netlink message in it whose cn_msg is CN_IDX_PROC/CN_VAL_PROC. Messages
// of another connector are skipped; a message too short for what it says
// it holds is an error.
func decode(b []byte) ([]message, error) {
	ne := binary.NativeEndian
	var out []message
	for len(b) > 0 {
		if len(b) < unix.SizeofNlMsghdr {
			return nil, fmt.Errorf("proc connector: %d trailing bytes, shorter than a netlink header", len(b))
		}
		size := int(ne.Uint32(b[0:]))
		if size < unix.SizeofNlMsghdr || size > len(b) {
			return nil, fmt.Errorf("proc connector: netlink message of length %d in %d bytes", size, len(b))
		}
		d := b[unix.SizeofNlMsghdr:size]
		b = b[min(nlmsgAlign(size), len(b)):]
		if len(d) < sizeofCnMsg {
			return nil, fmt.Errorf("proc connector: netlink message of %d bytes, shorter than a cn_msg (%d)", len(d), sizeofCnMsg)
		}
		if ne.Uint32(d[0:]) != cnIdxProc || ne.Uint32(d[4:]) != cnValProc {
			continue
		}
		ack := ne.Uint32(d[12:])
		n := int(ne.Uint16(d[16:]))
		ev := d[sizeofCnMsg:]
		if n > len(ev) || n < sizeofEventHead {
			return nil, fmt.Errorf("proc connector: cn_msg of %d data bytes (%d present), want at least %d", n, len(ev), sizeofEventHead)
		}
		ev = ev[:n]
		msg := message{what: ne.Uint32(ev[0:])}
		data := ev[sizeofEventHead:]
		switch msg.what {
		case whatExec:
			if len(data) < sizeofExec {
				return nil, fmt.Errorf("proc connector: exec event of %d bytes, want %d", len(ev), sizeofEventHead+sizeofExec)
			}
			msg.exec = Exec{
				PID:  int(int32(ne.Uint32(data[0:]))),
				TGID: int(int32(ne.Uint32(data[4:]))),
				CPU:  ne.Uint32(ev[4:]),
				Time: time.Duration(ne.Uint64(ev[8:])),
			}
		case whatNone:
			if len(data) < sizeofAck {
				return nil, fmt.Errorf("proc connector: ack of %d bytes, want %d", len(ev), sizeofEventHead+sizeofAck)
			}
			msg.ackErr, msg.ack = ne.Uint32(data[0:]), ack
		}
		out = append(out, msg)
	}
	return out, nil
}

// nlmsgAlign rounds a netlink message length up to the 4-byte boundary
// the next message starts at (NLMSG_ALIGN).
func nlmsgAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// control returns the request a listener sends the connector: a netlink
// message (type NLMSG_DONE, as the connector expects) holding a cn_msg for
// CN_IDX_PROC/CN_VAL_PROC with ack set to ack and payload as its data.
func control(ack uint32, payload []byte) []byte {
	ne := binary.NativeEndian
	size := unix.SizeofNlMsghdr + sizeofCnMsg + len(payload)
	b := make([]byte, size)
	ne.PutUint32(b[0:], uint32(size))
	ne.PutUint16(b[4:], unix.NLMSG_DONE)
	c := b[unix.SizeofNlMsghdr:]
	ne.PutUint32(c[0:], cnIdxProc)
	ne.PutUint32(c[4:], cnValProc)
	ne.PutUint32(c[12:], ack)
	ne.PutUint16(c[16:], uint16(len(payload)))
	copy(c[sizeofCnMsg:], payload)
	return b
}

// listenAll is the payload of PROC_CN_MCAST_LISTEN as every kernel takes
// it: the operation alone, which subscribes to every kind of event.
func listenAll() []byte {
	b := make([]byte, sizeofMcastOp)
	binary.NativeEndian.PutUint32(b, mcastListen)
	return b
}

// listenExec is the payload of PROC_CN_MCAST_LISTEN with an event filter
// (struct proc_input, Linux 6.6+): exec events only. Older kernels drop a
// request of this size without an answer (cn_proc_mcast_ctl checks
// msg->len).
func listenExec() []byte {
	b := make([]byte, sizeofProcInput)
	binary.NativeEndian.PutUint32(b[0:], mcastListen)
	binary.NativeEndian.PutUint32(b[4:], whatExec)
	return b
}
