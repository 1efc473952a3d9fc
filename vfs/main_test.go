package vfs

import (
	"fmt"
	"os"
	"testing"

	"github.com/lxmount/lxmount/mountns"
)

// TestMain runs the suite, as root, in a private mount namespace: even a
// test killed half-way leaves no FUSE mount in the host's mount table.
func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		if err := mountns.ReexecInPrivateNamespace("LXMOUNT_VFS_TEST_PRIVATE"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}
