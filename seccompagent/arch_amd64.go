package seccompagent

import "golang.org/x/sys/unix"

// nativeArch is the audit arch of the daemon's own ABI, whose struct
// sysinfo layout the agent writes. Callers of other ABIs (i386, x32) are
// let through to the kernel.
const nativeArch = unix.AUDIT_ARCH_X86_64
