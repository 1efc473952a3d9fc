package procevents

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The datagrams here are built the way drivers/connector/cn_proc.c and
// connector.c build them: a struct nlmsghdr (nlmsg_put with type
// NLMSG_DONE), a struct cn_msg, and a struct proc_event of
// sizeof(struct proc_event) = 40 bytes as its data, field by field at the
// offsets of the C structures (not through decode's constants).

var ne = binary.NativeEndian

// kernelEvent returns one netlink message carrying a proc_event whose
// what, cpu and timestamp are given and whose event_data starts with the
// 32-bit words data (the rest of the 24-byte union is zero), from
// connector idx/val.
func kernelEvent(idx, val, seq, ack, what, cpu uint32, ts uint64, data ...uint32) []byte {
	const procEventSize = 40 // 4 + 4 + 8 + 24 (the largest union members: exit, comm)
	ev := make([]byte, procEventSize)
	ne.PutUint32(ev[0:], what)
	ne.PutUint32(ev[4:], cpu)
	ne.PutUint64(ev[8:], ts) // __aligned_u64: offset 8 of proc_event
	for i, w := range data {
		ne.PutUint32(ev[16+4*i:], w)
	}
	cn := make([]byte, 20, 20+len(ev))
	ne.PutUint32(cn[0:], idx) // cb_id.idx
	ne.PutUint32(cn[4:], val) // cb_id.val
	ne.PutUint32(cn[8:], seq)
	ne.PutUint32(cn[12:], ack)
	ne.PutUint16(cn[16:], uint16(len(ev))) // len
	ne.PutUint16(cn[18:], 0)               // flags
	cn = append(cn, ev...)
	nl := make([]byte, 16, 16+len(cn))
	ne.PutUint32(nl[0:], uint32(16+len(cn))) // nlmsg_len = NLMSG_LENGTH(size)
	ne.PutUint16(nl[4:], 3)                  // NLMSG_DONE
	ne.PutUint32(nl[8:], seq)
	return append(nl, cn...)
}

func TestDecodeExec(t *testing.T) {
	// Values 1...N so a field read from the wrong place shows.
	b := kernelEvent(1, 1, 1, 0, 0x2, 3, 4, 5, 6)
	got, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := message{what: whatExec, exec: Exec{PID: 5, TGID: 6, CPU: 3, Time: 4 * time.Nanosecond}}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("decode = %+v, want [%+v]", got, want)
	}
}

func TestDecodeAckCarriesErrAndAck(t *testing.T) {
	// cn_proc_ack: what = PROC_EVENT_NONE, ack.err, msg->ack = request's ack + 1.
	got, err := decode(kernelEvent(1, 1, 7, ackCookie+1, 0, 0, 9, uint32(unix.EPERM)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].what != whatNone || got[0].ackErr != uint32(unix.EPERM) || got[0].ack != ackCookie+1 {
		t.Fatalf("decode = %+v", got)
	}
}

// TestDecodeOtherKinds: a kernel without event filtering (before 6.6)
// sends fork and exit events too; they decode as their kind, not as execs.
func TestDecodeOtherKinds(t *testing.T) {
	for _, what := range []uint32{whatFork, whatExit, 0x200 /* PROC_EVENT_COMM */} {
		got, err := decode(kernelEvent(1, 1, 1, 0, what, 2, 3, 4, 5, 6, 7))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].what != what || got[0].exec != (Exec{}) {
			t.Errorf("what %#x: decode = %+v", what, got)
		}
	}
}

func TestDecodeSkipsOtherConnectors(t *testing.T) {
	// CN_IDX_CIFS is 0x2; same payload shape, not ours.
	got, err := decode(kernelEvent(2, 1, 1, 0, whatExec, 3, 4, 5, 6))
	if err != nil || len(got) != 0 {
		t.Fatalf("decode = %+v, %v; want nothing", got, err)
	}
}

// TestDecodeSeveralMessages: one datagram may hold several netlink
// messages, each starting at a 4-byte boundary (the 76-byte ones here
// need no padding; a 3-byte tail of padding after the last is allowed).
func TestDecodeSeveralMessages(t *testing.T) {
	b := append(kernelEvent(1, 1, 1, 0, whatExec, 0, 1, 10, 10), kernelEvent(1, 1, 2, 0, whatExec, 1, 2, 20, 20)...)
	got, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].exec.TGID != 10 || got[1].exec.TGID != 20 {
		t.Fatalf("decode = %+v", got)
	}
}

func TestDecodeTruncated(t *testing.T) {
	full := kernelEvent(1, 1, 1, 0, whatExec, 3, 4, 5, 6)
	shortCn := kernelEvent(1, 1, 1, 0, whatExec, 3, 4, 5, 6)
	ne.PutUint16(shortCn[16+16:], 12) // cn_msg.len: less than the event head
	longCn := kernelEvent(1, 1, 1, 0, whatExec, 3, 4, 5, 6)
	ne.PutUint16(longCn[16+16:], 200) // more than the message holds
	shortExec := kernelEvent(1, 1, 1, 0, whatExec, 3, 4, 5, 6)
	ne.PutUint16(shortExec[16+16:], 20) // head + 4 bytes: no tgid
	for name, b := range map[string][]byte{
		"datagram cut inside the netlink header": full[:10],
		"datagram cut inside the message":        full[:60],
		"netlink message shorter than a cn_msg":  append(ne.AppendUint32(nil, 16+8), make([]byte, 20)...),
		"cn_msg len below the event head":        shortCn,
		"cn_msg len beyond the message":          longCn,
		"exec without its tgid":                  shortExec,
	} {
		if got, err := decode(b); err == nil {
			t.Errorf("%s: decode = %+v, want an error", name, got)
		}
	}
}

// TestControlLayout: the subscription request is what cn_proc_mcast_ctl
// reads: a cn_msg for CN_IDX_PROC/CN_VAL_PROC whose len is 4 (the
// operation alone) or 8 (struct proc_input), after an nlmsghdr whose
// nlmsg_len covers it all.
func TestControlLayout(t *testing.T) {
	for _, tc := range []struct {
		payload   []byte
		wantLen   int
		wantWords []uint32
	}{
		{listenAll(), 4, []uint32{mcastListen}},
		{listenExec(), 8, []uint32{mcastListen, whatExec}},
	} {
		b := control(42, tc.payload)
		if got := int(ne.Uint32(b[0:])); got != len(b) || got != 16+20+tc.wantLen {
			t.Errorf("nlmsg_len %d, message %d bytes, want %d", got, len(b), 16+20+tc.wantLen)
		}
		if got := ne.Uint16(b[4:]); got != unix.NLMSG_DONE {
			t.Errorf("nlmsg_type %d, want NLMSG_DONE", got)
		}
		cn := b[16:]
		if ne.Uint32(cn[0:]) != 1 || ne.Uint32(cn[4:]) != 1 || ne.Uint32(cn[12:]) != 42 || int(ne.Uint16(cn[16:])) != tc.wantLen {
			t.Errorf("cn_msg header % x", cn[:20])
		}
		for i, w := range tc.wantWords {
			if got := ne.Uint32(cn[20+4*i:]); got != w {
				t.Errorf("payload word %d = %d, want %d", i, got, w)
			}
		}
	}
}

func TestErrOverrunIsDistinct(t *testing.T) {
	if errors.Is(ErrOverrun, unix.ENOBUFS) {
		t.Errorf("ErrOverrun should be a sentinel of its own, not the errno")
	}
}
