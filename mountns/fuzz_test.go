package mountns

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

// FuzzManagedFilter: mountinfo as Mounts parses it, with the filter that
// selects lxmount's mounts. Nothing panics; what the filter keeps are
// FUSE mounts on the targets, exactly those of an unfiltered parse.
func FuzzManagedFilter(f *testing.F) {
	for _, p := range []string{
		filepath.Join("..", "..", "shared", "fixtures", "cgroup2-debian-6.1", "proc", "self", "mountinfo"),
		"/proc/self/mountinfo",
	} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("30 22 0:50 / /proc/meminfo ro,nosuid shared:5 - fuse.lxmount lxmount-web rw,user_id=0\n"))
	f.Add([]byte("31 22 0:51 / /proc/cpu\\040info ro - fuse lxmount rw\n32 22 0:5 / /proc/stat rw - proc proc rw\n"))
	f.Add([]byte("30 22 0:50 / /proc/meminfo ro - fuse.lxmount\n"))
	targets := []string{"/proc/meminfo", "/proc/cpu info", "/proc/stat", "/sys/devices/system/cpu/online"}
	f.Fuzz(func(t *testing.T, b []byte) {
		kept, err := mountinfo.GetMountsFromReader(bytes.NewReader(b), ManagedFilter(targets))
		if err != nil {
			return
		}
		for _, m := range kept {
			if !(m.FSType == "fuse" || strings.HasPrefix(m.FSType, "fuse.")) || !slices.Contains(targets, m.Mountpoint) {
				t.Fatalf("%q: kept %+v", b, m)
			}
		}
		all, err := mountinfo.GetMountsFromReader(bytes.NewReader(b), nil)
		if err != nil {
			t.Fatalf("%q: parses filtered, not unfiltered: %v", b, err)
		}
		var want []*mountinfo.Info
		for _, m := range all {
			if skip, _ := ManagedFilter(targets)(m); !skip {
				want = append(want, m)
			}
		}
		if len(want) != len(kept) {
			t.Fatalf("%q: filter kept %d mounts, filtering the full parse %d", b, len(kept), len(want))
		}
	})
}
