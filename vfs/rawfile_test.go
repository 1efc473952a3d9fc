package vfs

import (
	"io"
	"syscall"
)

// rawFile reads a file with plain syscalls. The tests read their own FUSE
// mount: os.Open would register the file with the Go poller, and
// epoll_ctl(EPOLL_CTL_ADD) on a FUSE file makes the kernel send FUSE_POLL
// to this same process while holding the epoll mutex, which can deadlock
// the serving goroutines (golang/go#21014, bazil/fuse#264).
type rawFile int

func openRaw(path string, flags int) (rawFile, error) {
	fd, err := syscall.Open(path, flags|syscall.O_CLOEXEC, 0)
	return rawFile(fd), err
}

func (f rawFile) Read(p []byte) (int, error) {
	n, err := syscall.Read(int(f), p)
	if err != nil {
		return 0, err
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (f rawFile) ReadAt(p []byte, off int64) (int, error) {
	return syscall.Pread(int(f), p, off)
}

func (f rawFile) Seek(off int64, whence int) (int64, error) {
	return syscall.Seek(int(f), off, whence)
}

func (f rawFile) Close() error { return syscall.Close(int(f)) }

// readFileRaw reads a whole file with plain syscalls.
func readFileRaw(path string) ([]byte, error) {
	f, err := openRaw(path, syscall.O_RDONLY)
	if err != nil {
		return nil, &pathError{path, err}
	}
	defer f.Close()
	return io.ReadAll(f)
}

type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return "open " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }
