package sources

import (
	"bytes"
	"os"
	"path/filepath"
	"time"
)

// /proc/slabinfo lists the kernel's slab caches (mm/slab_common.c
// slab_show, slabinfo(5)): two header lines, then one line a cache.
//
//	slabinfo - version: 2.1
//	# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
//	dentry             15519  15519    192   21    1 : tunables    0    0    0 : slabdata    739    739      0
//	^ name (1)         ^ (2)  ^ (3)    ^ (4) ^ (5) ^ (6)           ^ (7..9)                  ^ (10..12)
//
// The only per-cgroup list is cgroup v1's memory.kmem.slabinfo (with
// CONFIG_MEMCG_KMEM and CONFIG_SLAB or CONFIG_SLUB_DEBUG). Up to 5.8 it held
// the caches the kernel kept for that cgroup alone, in this format, the
// header printed before the first cache only (memcg_slab_show): a cgroup
// with no cache printed nothing. Since 5.9 slab objects of every cgroup
// share the root caches and are charged one by one (obj_cgroup), and the
// file is kept for compatibility but prints nothing (mem_cgroup_slab_show:
// "Deprecated. Please, take a look at tools/cgroup/memcg_slabinfo.py").
// cgroup v2 has no such file.
const v1MemSlabinfo = "memory.kmem.slabinfo"

// slabinfoHeader is the header of /proc/slabinfo as print_slabinfo_header
// (mm/slab_common.c) prints it with SLUB, the only allocator since 6.8
// (SLAB added statistics columns with CONFIG_DEBUG_SLAB; a cgroup file
// from such a kernel carries its own header and is served as it is).
const slabinfoHeader = "slabinfo - version: 2.1\n" +
	"# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n"

// SlabinfoInput is what /proc/slabinfo is made of.
type SlabinfoInput struct {
	// Cgroup is the content of the container's memory.kmem.slabinfo; nil
	// when the cgroup is gone.
	Cgroup []byte
}

// Slabinfo appends to dst the /proc/slabinfo a container sees: the
// cgroup's memory.kmem.slabinfo, which has the kernel's header when it
// lists caches. A list that is empty now (all the cgroup's caches freed;
// the file is only mounted where it was not, see slabinfoAvailable) is the
// header alone, a valid file listing no cache: procps 4 slabtop fails on
// an empty file ("Unable to create slabinfo structure") and shows 0 objects
// on the header alone. Slabinfo does no I/O.
func Slabinfo(dst []byte, in SlabinfoInput) []byte {
	if bytes.HasPrefix(in.Cgroup, []byte("slabinfo - version:")) {
		return append(dst, in.Cgroup...)
	}
	dst = append(dst, slabinfoHeader...)
	if len(in.Cgroup) > 0 {
		// Not seen: a cache list without its header.
		dst = append(dst, in.Cgroup...)
		if dst[len(dst)-1] != '\n' {
			dst = append(dst, '\n')
		}
	}
	return dst
}

// readSlabinfoInput reads the container's memory.kmem.slabinfo. A cgroup
// removed meanwhile gives an empty list, not an error.
func readSlabinfoInput(r *fileReader, cg Cgroup) (SlabinfoInput, error) {
	b, err := r.file(cg.Controller("memory"), v1MemSlabinfo)
	if err != nil {
		if isVanished(err) {
			return SlabinfoInput{}, nil
		}
		return SlabinfoInput{}, err
	}
	return SlabinfoInput{Cgroup: b}, nil
}

// renderSlabinfo serves /proc/slabinfo.
func renderSlabinfo(c *Container, now time.Time, buf *bytes.Buffer) error {
	r := c.fileReader()
	defer c.putReader(r)
	in, err := readSlabinfoInput(r, c.Cgroup)
	if err != nil {
		return err
	}
	buf.Write(Slabinfo(buf.AvailableBuffer(), in))
	return nil
}

// slabinfoAvailable is File.available for /proc/slabinfo: the container
// has a v1 memory cgroup whose memory.kmem.slabinfo lists caches, which
// only kernels before 5.9 do (see v1MemSlabinfo). Everywhere else (every
// current kernel, v1 or v2) there is no per-cgroup cache list, and the file
// is not mounted: the container keeps the kernel's own /proc/slabinfo, the
// host's caches, mode 0400. That is the content LXCFS serves there too: on
// v2 it has no cgroup file to read, and on v1 it reads the empty file into
// fmemopen(3), which refuses a size of 0, and falls back to the host's file
// (lxcfs 5.0.3 on this 6.18 v1 host: 25408 bytes, the host's), but at the
// 0444 of its mount. lxmount serving the host's file would make it
// readable to every user of the container; a header alone would claim
// that the container holds no slab, a value nobody knows (its total is
// meminfo's Slab line, from memory.stat on v2, capped on v1).
//
// Decided at attach: a cgroup of a kernel before 5.9 that has no cache of
// its own yet keeps the host's file (LXCFS gives the host's on every read
// of an empty list).
func slabinfoAvailable(c *Container) bool {
	dir := c.Cgroup.Controller("memory")
	if dir == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(dir, v1MemSlabinfo))
	return err == nil && len(b) > 0
}
