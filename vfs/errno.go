package vfs

import (
	"errors"
	"syscall"

	"bazil.org/fuse"
)

// errno turns a Go error into the errno a FUSE reply carries. It is the one
// place where errors cross the FUSE boundary: a render failure is EIO, and
// errors that already name an errno keep it.
func errno(err error) fuse.Errno {
	var en syscall.Errno
	if errors.As(err, &en) {
		return fuse.Errno(en)
	}
	return fuse.Errno(syscall.EIO)
}
