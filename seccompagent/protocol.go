package seccompagent

import (
	"encoding/json"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// The holder talks to the daemon over a SOCK_SEQPACKET socket, one
// message per notify fd: a JSON header and, as SCM_RIGHTS, the notify fd
// and its in-flight record's memfd.
//
//	{"key": 7, "state": {...ProcessState...}}   [notify fd, memfd]
type message struct {
	Key   uint64          `json:"key"`
	State json.RawMessage `json:"state"`
}

// maxMessage bounds a header: a process state and its annotations.
const maxMessage = 1 << 20

// sendEntry sends one entry over c.
func sendEntry(c *net.UnixConn, key uint64, state []byte, notifyFD, memFD int) error {
	b, err := json.Marshal(message{Key: key, State: state})
	if err != nil {
		return err
	}
	_, _, err = c.WriteMsgUnix(b, unix.UnixRights(notifyFD, memFD), nil)
	return err
}

// recvEntry receives one entry from c; the fds are the caller's to close.
func recvEntry(c *net.UnixConn, buf, oob []byte) (message, []int, error) {
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return message{}, nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				if f, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, f...)
				}
			}
		}
	}
	if n == 0 && oobn == 0 {
		return message{}, nil, net.ErrClosed
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeAll(fds)
		return message{}, nil, fmt.Errorf("holder message truncated (%d bytes)", n)
	}
	var m message
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		closeAll(fds)
		return message{}, nil, fmt.Errorf("holder message: %w", err)
	}
	if len(fds) != 2 {
		closeAll(fds)
		return message{}, nil, fmt.Errorf("holder message %d: %d fds, want 2", m.Key, len(fds))
	}
	return m, fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
