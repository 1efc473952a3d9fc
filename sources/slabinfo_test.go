package sources

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slabV1Proc's slabinfo is the host's /proc/slabinfo (kernel 6.18, SLUB),
// captured when the file was added; memV1Limited's memory.kmem.slabinfo
// is the fx-limited cgroup's, empty as on every kernel since 5.9.
const slabV1Proc = memV1Proc

// TestSlabinfoHeaderIsKernels checks slabinfoHeader against the first two
// lines of real /proc/slabinfo files: the captured one and the running
// kernel's (root only).
func TestSlabinfoHeaderIsKernels(t *testing.T) {
	check := func(name string, b []byte) {
		t.Helper()
		lines := strings.SplitAfterN(string(b), "\n", 3)
		if len(lines) < 3 || lines[0]+lines[1] != slabinfoHeader {
			t.Errorf("%s: header\n%q\nwant\n%q", name, strings.Join(lines[:min(2, len(lines))], ""), slabinfoHeader)
		}
	}
	check("fixture", memReadFixture(t, slabV1Proc, "slabinfo"))
	if b, err := os.ReadFile("/proc/slabinfo"); err == nil {
		check("/proc/slabinfo", b)
	} else {
		t.Logf("live /proc/slabinfo not checked: %v", err)
	}
}

// TestSlabinfo covers what the cgroup file may hold.
func TestSlabinfo(t *testing.T) {
	host := memReadFixture(t, slabV1Proc, "slabinfo")
	stub := memReadFixture(t, memV1Limited, v1MemSlabinfo)
	if len(stub) != 0 {
		t.Fatalf("fixture %s is %d bytes, want the empty stub of 5.9+", v1MemSlabinfo, len(stub))
	}
	caches := strings.SplitAfterN(string(host), "\n", 3)[2]
	tests := []struct {
		name   string
		cgroup []byte
		want   string
	}{
		// Kernels since 5.9 (this fixture: 6.18) print nothing; before,
		// a cgroup whose caches were all freed.
		{"empty list (the stub since 5.9)", stub, slabinfoHeader},
		{"cgroup gone", nil, slabinfoHeader},
		// Up to 5.8 memcg_slab_show printed the header and the cgroup's
		// caches, in /proc/slabinfo's format: served unchanged.
		{"cache list with header", host, string(host)},
		{"cache list without header", []byte(strings.TrimSuffix(caches, "\n")), slabinfoHeader + caches},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Slabinfo([]byte("x"), SlabinfoInput{Cgroup: tc.cgroup}))
			if got != "x"+tc.want {
				t.Errorf("got\n%.300q\nwant\n%.300q", got, "x"+tc.want)
			}
			if !strings.HasSuffix(got, "\n") {
				t.Error("output does not end with a newline")
			}
		})
	}
}

// TestRenderSlabinfo checks where the file is mounted (a v1 cgroup whose
// memory.kmem.slabinfo lists caches: kernels before 5.9) and what it
// serves there. A pre-5.9 list is stood in for by the captured 6.18
// /proc/slabinfo, the format memcg_slab_show printed.
func TestRenderSlabinfo(t *testing.T) {
	f, ok := Lookup("slabinfo")
	if !ok || f.Target != "/proc/slabinfo" || f.Follows != "meminfo" {
		t.Fatalf("Lookup(slabinfo) = %+v, %v", f, ok)
	}
	list := memReadFixture(t, slabV1Proc, "slabinfo")
	listing := memCopy(t, memV1Limited)
	memWrite(t, filepath.Join(listing, v1MemSlabinfo), string(list))
	noFile := memCopy(t, memV1Limited)
	memRemove(t, noFile, v1MemSlabinfo)
	host := Host{ProcRoot: slabV1Proc}
	for _, tc := range []struct {
		name  string
		cg    Cgroup
		avail bool
	}{
		{"v1 since 5.9 (6.18 stub, empty)", memV1(memV1Limited), false},
		{"v1 listing caches (before 5.9)", memV1(listing), true},
		{"v1 without memory.kmem.slabinfo", memV1(noFile), false},
		{"v2", memV2(memV2Limited), false},
		{"no memory cgroup", Cgroup{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewContainer(host, tc.cg, time.Time{}, DefaultOptions())
			defer c.Close()
			if got := f.Available(c); got != tc.avail {
				t.Fatalf("Available = %v, want %v", got, tc.avail)
			}
			if !tc.avail {
				return
			}
			var buf bytes.Buffer
			if err := c.Render(f, &buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), list) {
				t.Errorf("got %.300q, want the cgroup's list", buf.String())
			}
		})
	}
	t.Run("list emptied after attach", func(t *testing.T) {
		dir := memCopy(t, listing)
		c := NewContainer(host, memV1(dir), time.Time{}, DefaultOptions())
		defer c.Close()
		if !f.Available(c) {
			t.Fatal("not available")
		}
		memWrite(t, filepath.Join(dir, v1MemSlabinfo), "")
		var buf bytes.Buffer
		if err := c.Render(f, &buf); err != nil {
			t.Fatal(err)
		}
		if buf.String() != slabinfoHeader {
			t.Errorf("got %.300q, want the header alone", buf.String())
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		dir := memCopy(t, listing)
		c := NewContainer(host, memV1(dir), time.Time{}, DefaultOptions())
		defer c.Close()
		// A directory where the file should be: read fails with EISDIR,
		// which is an error, not an empty list.
		memRemove(t, dir, v1MemSlabinfo)
		if err := os.Mkdir(filepath.Join(dir, v1MemSlabinfo), 0o755); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := c.Render(f, &buf); err == nil {
			t.Errorf("no error; got %.100q", buf.String())
		}
	})
}
