package testenv

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// RmdirRetry removes an empty cgroup directory, retrying on EBUSY for up to
// timeout: a killed task stays counted in its cgroup for a moment after it
// leaves cgroup.procs. A directory that is already gone is not an error.
// The tests and the benchmark harness (bench) clean up with it.
func RmdirRetry(dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return &os.PathError{Op: "rmdir", Path: dir, Err: err}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
