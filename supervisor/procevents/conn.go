package procevents

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// RecvBuffer is the receive buffer Open asks for (SO_RCVBUFFORCE, which
// root may set above net.core.rmem_max; the kernel doubles it for its
// bookkeeping). Each queued event costs about 1 KiB of it (the skb's
// truesize, not the 76 bytes of the message), so 4 MiB hold some 8,000
// events: a burst of execs while the reader attaches a container.
const RecvBuffer = 4 << 20

// Conn is a subscription to exec events. Read must be called from one
// goroutine at a time; Close may be called from any, also while Read
// blocks.
type Conn struct {
	f       *os.File
	rc      syscall.RawConn
	buf     []byte
	pending []Exec
	closed  atomic.Bool
}

// ackCookie is the ack number of Open's first request; the kernel answers
// it with ackCookie+1, which tells our ack from those of other listeners'
// requests (acks are multicast to every listener).
const ackCookie = 0x6c786d00 // "lxm\0"

// Open subscribes to the proc connector's exec events. It fails when the
// kernel has no proc connector (EPROTONOSUPPORT without CONFIG_CONNECTOR;
// a refused subscription without CONFIG_PROC_EVENTS or privileges).
func Open() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("proc connector: %w", os.NewSyscallError("socket", err))
	}
	c := &Conn{buf: make([]byte, 64<<10)}
	if err := c.setup(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c.f = os.NewFile(uintptr(fd), "netlink:proc-connector")
	if c.rc, err = c.f.SyscallConn(); err != nil {
		c.f.Close()
		return nil, fmt.Errorf("proc connector: %w", err)
	}
	return c, nil
}

// setup sizes the receive buffer, joins the multicast group and
// subscribes, on the still blocking-free raw descriptor.
func (c *Conn) setup(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, RecvBuffer); err != nil {
		// Without CAP_NET_ADMIN: as much as net.core.rmem_max allows.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, RecvBuffer); err != nil {
			return fmt.Errorf("proc connector: %w", os.NewSyscallError("setsockopt SO_RCVBUF", err))
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return fmt.Errorf("proc connector: %w", os.NewSyscallError("bind", err))
	}
	kernel := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	if err := unix.Sendto(fd, control(ackCookie, listenAll()), 0, kernel); err != nil {
		return fmt.Errorf("proc connector: subscribe: %w", os.NewSyscallError("sendto", err))
	}
	// The kernel handles the request within sendto and queues its ack
	// before sendto returns; events that came first are kept.
	if err := c.awaitAck(fd); err != nil {
		return err
	}
	// Linux 6.6+: narrow the subscription to exec events (the fork and
	// exit events of every process would otherwise fill the buffer).
	// Older kernels ignore this request; Read then drops the other kinds.
	if err := unix.Sendto(fd, control(ackCookie+2, listenExec()), 0, kernel); err != nil {
		return fmt.Errorf("proc connector: subscribe to exec events: %w", os.NewSyscallError("sendto", err))
	}
	return nil
}

// awaitAck reads what is queued on fd (non-blocking) until the ack of the
// first request, and returns the error it carries. No ack queued at all
// is taken as a subscription without one (the kernel always sends it to a
// listener, so that does not happen on the kernels known here).
func (c *Conn) awaitAck(fd int) error {
	for {
		n, _, err := unix.Recvfrom(fd, c.buf, 0)
		if errors.Is(err, unix.EAGAIN) {
			return nil
		}
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) {
			continue
		}
		if err != nil {
			return fmt.Errorf("proc connector: subscribe: %w", os.NewSyscallError("recvfrom", err))
		}
		msgs, err := decode(c.buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			switch {
			case m.what == whatExec:
				c.pending = append(c.pending, m.exec)
			case m.what == whatNone && m.ack == ackCookie+1:
				if m.ackErr != 0 {
					return fmt.Errorf("proc connector: subscription refused: %w", syscall.Errno(m.ackErr))
				}
				return nil
			}
		}
	}
}

// Read returns the next exec event, blocking until there is one. It
// returns ErrOverrun when events were lost and ErrMalformed for a datagram
// it could not decode (then call Read again), and an error that errors.Is
// os.ErrClosed once Close was called.
//
// A socket that overran drops every event until its queue is empty
// (NETLINK_S_CONGESTED, net/netlink/af_netlink.c), so before it returns
// ErrOverrun Read empties the queue into its own: an exec that happens
// after ErrOverrun is returned is reported again, and a look at the whole
// host made from then on misses nothing.
func (c *Conn) Read() (Exec, error) {
	for len(c.pending) == 0 {
		if err := c.fill(); err != nil {
			return Exec{}, err
		}
	}
	e := c.pending[0]
	c.pending = c.pending[1:]
	return e, nil
}

// fill waits for a datagram and queues the exec events in it; after an
// overrun it also queues everything else the socket holds.
func (c *Conn) fill() error {
	c.pending = c.pending[:0]
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		rerr = c.recv(int(fd))
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err == nil && errors.Is(rerr, ErrOverrun) {
		err = c.rc.Read(func(fd uintptr) bool {
			for {
				if derr := c.recv(int(fd)); errors.Is(derr, unix.EAGAIN) {
					return true
				} else if derr != nil && !errors.Is(derr, ErrOverrun) && !errors.Is(derr, ErrMalformed) {
					rerr = derr
					return true
				}
			}
		})
	}
	if err != nil {
		if c.closed.Load() {
			return fmt.Errorf("proc connector: %w", os.ErrClosed)
		}
		return fmt.Errorf("proc connector: %w", err)
	}
	return rerr
}

// recv receives one datagram from fd and queues its exec events. It
// returns unix.EAGAIN when there is none, ErrOverrun for ENOBUFS.
func (c *Conn) recv(fd int) error {
	n, from, err := unix.Recvfrom(fd, c.buf, 0)
	switch {
	case errors.Is(err, unix.EAGAIN):
		return unix.EAGAIN
	case errors.Is(err, unix.ENOBUFS):
		return ErrOverrun
	case errors.Is(err, unix.EINTR):
		return nil
	case err != nil:
		return fmt.Errorf("proc connector: %w", os.NewSyscallError("recvfrom", err))
	}
	if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
		return nil // not from the kernel
	}
	msgs, err := decode(c.buf[:n])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	for _, m := range msgs {
		if m.what == whatExec {
			c.pending = append(c.pending, m.exec)
		}
	}
	return nil
}

// Close ends the subscription; a blocked Read returns at once.
func (c *Conn) Close() error {
	c.closed.Store(true)
	return c.f.Close()
}
