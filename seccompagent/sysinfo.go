package seccompagent

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/sources"
)

// sysinfoSize is sizeof(struct sysinfo) of a native (64-bit) caller: the
// only bytes written at its pointer.
const sysinfoSize = int(unsafe.Sizeof(unix.Sysinfo_t{}))

// siLoadShift is SI_LOAD_SHIFT: sysinfo's loads are 16-bit fixed point,
// /proc/loadavg's (avenrun) 11-bit (FSHIFT); do_sysinfo shifts by the
// difference (kernel/sys.c, get_avenrun(loads, 0, SI_LOAD_SHIFT - FSHIFT)).
const siLoadShift = 16

// sysinfoOf returns the struct sysinfo a container sees: the host's
// (host, from the daemon's own sysinfo(2)) with the parts v knows
// replaced. Sizes are in mem_unit units; 64-bit kernels use 1, and a
// host value in larger units is converted.
func sysinfoOf(host unix.Sysinfo_t, v sources.Sysinfo) unix.Sysinfo_t {
	si := host
	unit := uint64(max(si.Unit, 1))
	if v.MemKnown {
		si.Totalram, si.Freeram = v.TotalRAM/unit, v.FreeRAM/unit
		si.Sharedram, si.Bufferram = v.SharedRAM/unit, v.BufferRAM/unit
		si.Totalhigh, si.Freehigh = 0, 0
	}
	if v.SwapKnown {
		si.Totalswap, si.Freeswap = v.TotalSwap/unit, v.FreeSwap/unit
	}
	if v.UptimeKnown {
		// do_sysinfo rounds a partial second up.
		si.Uptime = int64((v.Uptime + time.Second - 1) / time.Second)
	}
	if v.LoadKnown {
		for i, l := range v.Loads {
			si.Loads[i] = l << (siLoadShift - 11)
		}
	}
	if v.ProcsKnown {
		si.Procs = uint16(min(v.Procs, 0xffff))
	}
	return si
}

// errGone means the caller stopped waiting (killed, or interrupted by a
// signal, which restarts the syscall with a new notification): there is
// no one to answer.
var errGone = errors.New("notification no longer valid")

// writeCaller writes data at addr in the memory of the caller of
// notification n, by the rules of seccomp_unotify(2): /proc/<tid>/mem is
// opened first, then the notification is checked to be valid (so the
// tid was not reused: the open file is the caller's address space), the
// bytes are written, and the notification checked again. A bad pointer
// is the caller's EFAULT, as the kernel's copy_to_user would give.
func writeCaller(fd int, n notif, addr uint64, data []byte) (unix.Errno, error) {
	path := "/proc/" + strconv.FormatUint(uint64(n.PID), 10) + "/mem"
	mem, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if !idValid(fd, n.ID) {
			return 0, errGone
		}
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(mem)
	if !idValid(fd, n.ID) {
		return 0, errGone
	}
	if addr == 0 || addr > 1<<63 {
		return unix.EFAULT, nil
	}
	k, err := unix.Pwrite(mem, data, int64(addr))
	switch {
	case errors.Is(err, unix.EIO), errors.Is(err, unix.EFAULT), err == nil && k != len(data):
		return unix.EFAULT, nil
	case err != nil:
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if !idValid(fd, n.ID) {
		return 0, errGone
	}
	return 0, nil
}

// sysinfoBytes is si as the caller's struct sysinfo.
func sysinfoBytes(si *unix.Sysinfo_t) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(si)), sysinfoSize)
}
