package seccompagent

import "golang.org/x/sys/unix"

// nativeArch is the audit arch of the daemon's own ABI (see arch_amd64.go).
const nativeArch = unix.AUDIT_ARCH_AARCH64
