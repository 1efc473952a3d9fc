package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSlabinfoAndZswap attaches a container in a real memory cgroup and
// checks /proc/slabinfo and the zswap lines of /proc/meminfo against the
// kernel's own files.
//
// slabinfo: served only where the cgroup's v1 memory.kmem.slabinfo lists
// caches (kernels before 5.9), as that list; since 5.9 the file is empty
// and on v2 there is none, so the container keeps the kernel's own file
// (the host's caches, mode 0400), the content LXCFS serves there too.
//
// zswap: the container's Zswap/Zswapped lines exist exactly where the
// host's do; v2 takes memory.stat's zswap/zswapped, v1 (no counters) the
// host's capped at the container's swap in use.
func TestSlabinfoAndZswap(t *testing.T) {
	requireRoot(t)
	requireCgroup(t)
	cg := newCgroup(t, "slabinfo", limit256MiB, 0, 0)
	p := startNamespaced(t, cg)
	in := newInstance(t, "", cg.Path)
	in.writeConfig(reconcileOnly)
	in.startDaemon()
	out := in.mustRun("attach", strconv.Itoa(p.PID))

	mounts := lxmountMounts(t, p.PID)
	served := slices.Contains(mounts, "/proc/slabinfo")
	memDir := cg.Dirs["memory"]
	if cg.isV2() {
		memDir = cg.Dirs[unifiedKey]
	}
	cgFile, cgErr := os.ReadFile(filepath.Join(memDir, "memory.kmem.slabinfo"))
	if want := cgErr == nil && len(cgFile) > 0; served != want {
		t.Fatalf("/proc/slabinfo mounted %v, want %v (memory.kmem.slabinfo: %d bytes, %v); attach printed %q", served, want, len(cgFile), cgErr, out)
	}
	t.Logf("memory.kmem.slabinfo: %d bytes (%v); /proc/slabinfo mounted: %v", len(cgFile), cgErr, served)
	if _, err := os.Stat("/proc/slabinfo"); err != nil && !served {
		// A kernel without CONFIG_SLUB_DEBUG: nothing to serve or keep.
		t.Logf("no /proc/slabinfo on the host: %v", err)
	} else {
		checkSlabinfoInside(t, p, served, cgFile)
	}
	checkZswapInside(t, p, cg, memDir)
}

// checkSlabinfoInside checks the container's /proc/slabinfo: the cgroup's
// list where served, else the kernel's own file.
func checkSlabinfoInside(t *testing.T, p *NSProc, served bool, cgFile []byte) {
	t.Helper()
	inside, err := p.Exec(t, "cat", "/proc/slabinfo")
	if err != nil {
		t.Fatalf("cat /proc/slabinfo inside: %v\n%s", err, inside)
	}
	if !strings.HasPrefix(inside, "slabinfo - version: ") {
		t.Errorf("inside /proc/slabinfo has no header:\n%.300s", inside)
	}
	if served {
		// A kernel before 5.9: the cgroup's own caches (the list moves;
		// its header and cache names are checked).
		if strings.SplitN(inside, "\n", 3)[1] != strings.SplitN(string(cgFile), "\n", 3)[1] {
			t.Errorf("inside /proc/slabinfo:\n%.600s\ncgroup file:\n%.600s", inside, cgFile)
		}
	} else {
		// The kernel's own file: root only, and the host's caches.
		fi, err := os.Stat(fmt.Sprintf("/proc/%d/root/proc/slabinfo", p.PID))
		if err != nil || fi.Mode().Perm() != 0o400 {
			t.Errorf("inside /proc/slabinfo: %v, %v; want the kernel's mode 0400", fi.Mode(), err)
		}
		if n := strings.Count(inside, "\n"); n < 3 {
			t.Errorf("inside /proc/slabinfo has %d lines, want the host's caches", n)
		}
	}
	if _, err := os.Stat("/usr/bin/slabtop"); err == nil {
		top, err := p.Exec(t, "/usr/bin/slabtop", "-o")
		if err != nil || !strings.Contains(top, "Active / Total Caches") {
			t.Errorf("slabtop -o inside: %v\n%s", err, top)
		}
	}
}

// checkZswapInside checks the Zswap and Zswapped lines of the container's
// /proc/meminfo (memDir is its memory cgroup directory).
func checkZswapInside(t *testing.T, p *NSProc, cg *TestCgroup, memDir string) {
	t.Helper()
	hostMem, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	mem, err := p.Exec(t, "cat", "/proc/meminfo")
	if err != nil {
		t.Fatalf("cat /proc/meminfo inside: %v\n%s", err, mem)
	}
	if got := memTotalKB(t, mem); got != kb256MiB {
		t.Fatalf("inside MemTotal %d kB, want %d: meminfo not served", got, kb256MiB)
	}
	hostZ, hasZ := meminfoKB(string(hostMem), "Zswap")
	hostZd, _ := meminfoKB(string(hostMem), "Zswapped")
	z, insideZ := meminfoKB(mem, "Zswap")
	zd, _ := meminfoKB(mem, "Zswapped")
	if hasZ != insideZ {
		t.Fatalf("host has Zswap %v, container %v", hasZ, insideZ)
	}
	if !hasZ {
		t.Log("kernel without CONFIG_ZSWAP: no zswap lines on the host or inside")
		return
	}
	t.Logf("Zswap/Zswapped: host %d/%d kB, container %d/%d kB", hostZ, hostZd, z, zd)
	if cg.isV2() {
		stat, err := os.ReadFile(filepath.Join(memDir, "memory.stat"))
		if err != nil {
			t.Fatal(err)
		}
		if w, ok := statKB(string(stat), "zswap"); ok && z != w {
			t.Errorf("Zswap %d kB, memory.stat zswap %d kB", z, w)
		}
		if w, ok := statKB(string(stat), "zswapped"); ok && zd != w {
			t.Errorf("Zswapped %d kB, memory.stat zswapped %d kB", zd, w)
		}
		return
	}
	swapTotal, _ := meminfoKB(mem, "SwapTotal")
	swapFree, _ := meminfoKB(mem, "SwapFree")
	inUse := swapTotal - swapFree
	// The host's lines capped at the swap in use (0 without swap
	// accounting), which the container's zswapped pages are part of.
	if z > inUse || zd > inUse {
		t.Errorf("v1: Zswap %d, Zswapped %d kB inside; host %d, %d; swap in use inside %d kB", z, zd, hostZ, hostZd, inUse)
	}
}

// meminfoKB returns the value of a /proc/meminfo line.
func meminfoKB(meminfo, name string) (int64, bool) {
	for _, line := range strings.Split(meminfo, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name+":" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// statKB returns a memory.stat counter in kB.
func statKB(stat, key string) (int64, bool) {
	for _, line := range strings.Split(stat, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			v, err := strconv.ParseInt(f[1], 10, 64)
			return v / 1024, err == nil
		}
	}
	return 0, false
}
