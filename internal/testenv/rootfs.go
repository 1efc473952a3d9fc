package testenv

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BusyboxPath is the static busybox the test containers run (Debian's
// busybox-static).
const BusyboxPath = "/bin/busybox"

// ErrNoStaticBusybox is what WriteBusyboxRootfs returns without a static
// BusyboxPath.
var ErrNoStaticBusybox = errors.New("no static " + BusyboxPath + " (package busybox-static)")

// BusyboxRootfs writes a busybox root filesystem (WriteBusyboxRootfs) to a
// fresh directory under t.TempDir() and returns its path. Each test builds
// its own rather than sharing mutable state. Skips (fails under CI=true)
// without a static busybox (`make deps`).
func BusyboxRootfs(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := WriteBusyboxRootfs(dir); err != nil {
		if errors.Is(err, ErrNoStaticBusybox) {
			SkipOrFail(t, "%v (run `make deps`)", err)
		}
		t.Fatalf("busybox rootfs: %v", err)
	}
	return dir
}

// WriteBusyboxRootfs creates dir as a minimal root filesystem:
//
//	/bin/busybox            static busybox, and /bin/<applet> -> busybox for every
//	                        applet it lists (sh, cat, head, free, top, uptime, sleep...)
//	/sbin -> bin
//	/lib -> usr/lib, /lib64 -> usr/lib64
//	                        as on Debian 12 (merged /usr), so host binaries work once
//	                        the host's /usr is bound over /usr
//	/usr /proc /sys /dev /tmp /root /run
//	                        empty mount points
//	/etc/passwd, /etc/group root only; /etc/hostname
//
// Busybox's own `free` reads sysinfo(2), not /proc/meminfo: tests that look at
// /proc through tools run the host's procps /usr/bin/free from a bound /usr.
func WriteBusyboxRootfs(dir string) error {
	if err := checkStatic(BusyboxPath); err != nil {
		return err
	}
	for _, d := range []string{"bin", "usr", "proc", "sys", "dev", "tmp", "root", "run", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky); err != nil {
		return err
	}
	for link, target := range map[string]string{"sbin": "bin", "lib": "usr/lib", "lib64": "usr/lib64"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			return err
		}
	}
	if err := copyFile(BusyboxPath, filepath.Join(dir, "bin/busybox"), 0o755); err != nil {
		return err
	}
	list, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", BusyboxPath, err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return err
		}
	}
	for name, content := range map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":    "root:x:0:\n",
		"etc/hostname": "lxmount-test\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// checkStatic returns ErrNoStaticBusybox unless path is an ELF file without
// a program interpreter (PT_INTERP), i.e. runs in a rootfs that has no libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoStaticBusybox, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: %s is dynamically linked", ErrNoStaticBusybox, path)
		}
	}
	return nil
}

// copyFile copies src to a new file dst with mode perm.
func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
