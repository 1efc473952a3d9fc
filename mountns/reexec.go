package mountns

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReexecInPrivateNamespace moves the whole process into a new, private mount
// namespace of its own, keeping its PID. Call it first thing in main. If
// the environment variable envMarker is "1" the process already runs in
// its private namespace and the function returns nil at once.
//
// Otherwise, on a fresh goroutine with a locked thread, it calls
// unshare(CLONE_NEWNS), makes every mount private (mount("", "/", "",
// MS_REC|MS_PRIVATE, "")) so nothing mounted later propagates back to the
// host, and execve(2)s /proc/self/exe with the same arguments and the
// environment plus envMarker=1. execve from that thread replaces the whole
// process (the other threads are killed, the PID stays) and the new image
// starts in the thread's namespace. On success it does not return.
//
// On failure that thread (never the main thread) is discarded, so the rest
// of the process stays in its original namespace; the error says which
// step failed. Children inherit envMarker=1, which is correct: they start in
// the private namespace too.
func ReexecInPrivateNamespace(envMarker string) error {
	if envMarker == "" || strings.Contains(envMarker, "=") {
		return fmt.Errorf("reexec in private mount namespace: bad environment marker %q", envMarker)
	}
	if os.Getenv(envMarker) == "1" {
		return nil
	}
	env := []string{envMarker + "=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envMarker+"=") {
			env = append(env, kv)
		}
	}
	var err error
	onThrowawayThread(func() { err = reexec(env) })
	if err != nil {
		return fmt.Errorf("reexec in private mount namespace: %w", err)
	}
	return errors.New("reexec in private mount namespace: execve returned") // not reached
}

// reexec runs on a locked thread; it returns only on failure.
func reexec(env []string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return os.NewSyscallError("unshare(CLONE_NEWNS)", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "mount(MS_REC|MS_PRIVATE)", Path: "/", Err: err}
	}
	const self = "/proc/self/exe"
	if err := syscall.Exec(self, os.Args, env); err != nil {
		return &os.PathError{Op: "execve", Path: self, Err: err}
	}
	return nil
}
