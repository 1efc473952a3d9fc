package vfs

import (
	"sync/atomic"
	"testing"
)

// TestAutoInvalDataOption: on the pinned bazil.org/fuse the option can be
// built, so mounts ask for FUSE_AUTO_INVAL_DATA and serve from the page
// cache (without it every open gets direct I/O). That the kernel honours
// it shows in TestReadRendersAtOffsetZeroOnly: a kept descriptor reading
// 100 bytes at a time from offset 0 gets a new snapshot.
func TestAutoInvalDataOption(t *testing.T) {
	if _, ok := autoInvalData(); !ok {
		t.Fatal("bazil.org/fuse has no mountConfig.initFlags of type InitFlags any more: see autoInvalData")
	}
	var n atomic.Int64
	s := mountTest(t, []Entry{counterEntry("f", 0, &n)})
	if s.tree.nodes[0].pathFd < 0 {
		t.Error("mounted, but the node has no O_PATH descriptor: opens get direct I/O")
	}
}
