package procevents

import "errors"

// ErrOverrun means the socket's receive buffer overran and the kernel
// dropped events (recvmsg(2) failed with ENOBUFS): some execs since the
// previous Read are lost. The Conn stays usable; the next Read returns the
// events that came after.
var ErrOverrun = errors.New("proc connector: receive buffer overrun, events lost")

// ErrMalformed wraps the error of a datagram that does not decode as the
// proc connector's (too short for what its headers say). The datagram is
// dropped; the Conn stays usable.
var ErrMalformed = errors.New("proc connector: malformed datagram")
