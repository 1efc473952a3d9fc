package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"syscall"
)

// Files of the memory reader, relative to the container's memory cgroup
// directory (Documentation/admin-guide/cgroup-v1/memory.rst and
// Documentation/admin-guide/cgroup-v2.rst).
const (
	v1MemLimit       = "memory.limit_in_bytes"
	v1MemUsage       = "memory.usage_in_bytes"
	v1MemswLimit     = "memory.memsw.limit_in_bytes" // only with swap accounting
	v1MemswUsage     = "memory.memsw.usage_in_bytes" // only with swap accounting
	memStatFile      = "memory.stat"                 // both hierarchies, different keys
	v2MemMax         = "memory.max"
	v2MemCurrent     = "memory.current"
	v2MemSwapMax     = "memory.swap.max"     // only with swap accounting
	v2MemSwapCurrent = "memory.swap.current" // only with swap accounting
)

// MemUnlimited is the MemBytes value of a limit that is not set: "max" in
// cgroup v2, PAGE_COUNTER_MAX pages in v1.
const MemUnlimited = math.MaxUint64

// memV1Unlimited is the smallest v1 limit taken as "not set". v1 prints an
// unset limit as PAGE_COUNTER_MAX pages in bytes (mm/memcontrol-v1.c
// mem_cgroup_read_u64), i.e. LONG_MAX rounded down to the page size:
// 9223372036854771712 with 4 KiB pages. The threshold leaves room for pages
// up to 1 MiB; nobody sets a real limit of 8 EiB.
const memV1Unlimited = math.MaxInt64 - (1<<20 - 1)

// memMaxAncestors bounds the walk up a cgroup v2 tree (see memV2Limit).
const memMaxAncestors = 64

// MemBytes is one value read from a memory cgroup file, in bytes. Known is
// false when it could not be read (file or key missing, cgroup removed,
// unparsable): the renderers then use the host's value, never 0.
type MemBytes struct {
	Bytes uint64 // the value; MemUnlimited for a limit that is not set
	Known bool   // whether Bytes was read
}

// memKnown returns a known MemBytes.
func memKnown(v uint64) MemBytes { return MemBytes{Bytes: v, Known: true} }

// memMin returns the smaller of two values, ignoring unknown ones.
func memMin(a, b MemBytes) MemBytes {
	switch {
	case !a.Known:
		return b
	case !b.Known || a.Bytes <= b.Bytes:
		return a
	}
	return b
}

// Memory is a snapshot of a container's memory cgroup, the same for cgroup
// v1 and v2. Each value says whether it was read; a Memory with nothing
// known (the cgroup is gone, or the container has none) renders as the
// host's files.
type Memory struct {
	// Version is the hierarchy read: 1 or 2, or 0 when the container has
	// no memory cgroup directory at all.
	Version int
	// Limit is the RAM limit in force: the smallest of the cgroup's own
	// and its ancestors' (v1 memory.limit_in_bytes and memory.stat
	// hierarchical_memory_limit; v2 memory.max up the tree).
	Limit MemBytes
	// Usage is the RAM charged to the cgroup, page cache included (v1
	// memory.usage_in_bytes, v2 memory.current).
	Usage MemBytes
	// SwapLimit is the swap the cgroup may use on top of RAM. v2:
	// memory.swap.max, smallest up the tree. v1 limits RAM+swap together,
	// so it is memory.memsw.limit_in_bytes (or hierarchical_memsw_limit if
	// smaller) minus Limit; MemUnlimited when memsw is not limited; the
	// memsw limit itself when only RAM is unlimited (it then bounds swap).
	SwapLimit MemBytes
	// SwapUsage is the swap in use: v2 memory.swap.current, v1
	// memory.memsw.usage_in_bytes minus memory.usage_in_bytes.
	SwapUsage MemBytes
	// NoSwapAccounting is set when the cgroup was read but has no swap
	// files (v1 memory.memsw.*, v2 memory.swap.*): the kernel does not
	// account swap per cgroup (swapaccount=0, cgroup.memory=noswap or
	// CONFIG_MEMCG_SWAP=n), so the container is shown no swap.
	NoSwapAccounting bool
	// Stat holds the memory.stat counters.
	Stat MemoryStat
}

// ReadMemory reads the container's memory cgroup: the v1 "memory"
// controller directory when set, else the v2 directory. It always returns
// a usable snapshot: a file that is missing, or a cgroup removed while it
// is read (ENOENT, ENODEV), leaves its values unknown without an error.
// Other failures (a file that cannot be parsed, EACCES, ...) also leave
// their values unknown and are returned, joined, for the caller to log.
func ReadMemory(cg Cgroup) (Memory, error) {
	return readMemory(readPath, make([]byte, 0, 4096), cg)
}

// readMemory is ReadMemory reading through read, with buf as scratch.
func readMemory(read readFunc, buf []byte, cg Cgroup) (Memory, error) {
	r := memReader{read: read, buf: buf}
	var m Memory
	switch {
	case cg.Controller("memory") != "":
		m = r.readV1(cg.Controller("memory"))
	case cg.V2 != "":
		m = r.readV2(cg.V2)
	}
	return m, errors.Join(r.errs...)
}

// memReader reads the small files of one memory cgroup into a shared
// buffer and collects the unexpected errors.
type memReader struct {
	read readFunc
	buf  []byte
	errs []error
}

// readV1 reads a cgroup v1 memory controller directory.
func (r *memReader) readV1(dir string) Memory {
	m := Memory{Version: 1}
	// The swap file comes first: when it is missing but the files read
	// after it are there, the cgroup exists and swap is not accounted,
	// rather than the cgroup having been removed meanwhile.
	memswUsage, swapMissing := r.value(dir, v1MemswUsage, true)
	m.Usage, _ = r.value(dir, v1MemUsage, false)
	m.Stat = r.stat(dir, memStatFile, ParseMemoryStatV1)

	// memory.stat's hierarchical limits are the smallest of the cgroup's
	// own and its ancestors' (memcg1_stat_format): the limit files are
	// read only when it lacks them (one pread each saved per render).
	m.Limit = m.Stat.HierarchicalLimit
	if !m.Limit.Known {
		m.Limit, _ = r.value(dir, v1MemLimit, true)
	}
	memsw := m.Stat.HierarchicalMemswLimit
	if !memsw.Known && !swapMissing {
		memsw, _ = r.value(dir, v1MemswLimit, true)
	}
	switch {
	case !memsw.Known || !m.Limit.Known:
	case memsw.Bytes == MemUnlimited:
		m.SwapLimit = memKnown(MemUnlimited)
	case m.Limit.Bytes == MemUnlimited:
		m.SwapLimit = memsw
	default:
		m.SwapLimit = memKnown(memSub(memsw.Bytes, m.Limit.Bytes))
	}
	if memswUsage.Known && m.Usage.Known {
		// Both are batched per-CPU charges read one after the other, so
		// memsw may trail usage a little: clamp at 0.
		m.SwapUsage = memKnown(memSub(memswUsage.Bytes, m.Usage.Bytes))
	}
	m.NoSwapAccounting = swapMissing && m.Usage.Known
	return m
}

// readV2 reads a cgroup v2 directory.
func (r *memReader) readV2(dir string) Memory {
	m := Memory{Version: 2}
	// Swap first, as in readV1.
	var swapMissing bool
	m.SwapLimit, swapMissing = r.limitV2(dir, v2MemSwapMax)
	m.SwapUsage, _ = r.value(dir, v2MemSwapCurrent, false)
	m.Limit, _ = r.limitV2(dir, v2MemMax)
	m.Usage, _ = r.value(dir, v2MemCurrent, false)
	m.Stat = r.stat(dir, memStatFile, ParseMemoryStatV2)
	m.NoSwapAccounting = swapMissing && m.Usage.Known
	return m
}

// limitV2 reads a v2 limit file of dir and of its ancestors and returns the
// smallest, the one the kernel enforces (lxcfs get_min_memlimit does the
// same). The walk stops at the first ancestor without the file: the root
// cgroup has no memory.max, and neither has anything outside cgroupfs.
// missing reports that dir itself has no such file.
func (r *memReader) limitV2(dir, name string) (v MemBytes, missing bool) {
	v, missing = r.value(dir, name, true)
	if !v.Known {
		return v, missing
	}
	for range memMaxAncestors {
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
		b, err := r.read(dir, name, r.buf)
		if err != nil {
			// An ancestor we cannot read does not make the container's
			// own limit unknown.
			break
		}
		r.buf = b[:0]
		lim, err := parseMemLimit(b)
		if err != nil {
			break
		}
		v = memMin(v, memKnown(lim))
	}
	return v, false
}

// value reads a file holding one number; limit says it is a limit ("max"
// or the v1 unset value mean MemUnlimited). missing reports ENOENT.
func (r *memReader) value(dir, name string, limit bool) (v MemBytes, missing bool) {
	b, err := r.read(dir, name, r.buf)
	if err != nil {
		return MemBytes{}, r.fail(err)
	}
	r.buf = b[:0]
	var n uint64
	if limit {
		n, err = parseMemLimit(b)
	} else {
		n, err = parseMemUint(memTrimSpace(b))
	}
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err))
		return MemBytes{}, false
	}
	return memKnown(n), false
}

// stat reads memory.stat with the parser of its hierarchy.
func (r *memReader) stat(dir, name string, parse func([]byte) (MemoryStat, error)) MemoryStat {
	b, err := r.read(dir, name, r.buf)
	if err != nil {
		r.fail(err)
		return MemoryStat{}
	}
	r.buf = b[:0]
	s, err := parse(b)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err))
	}
	return s
}

// fail records err unless it only says the file or cgroup is gone, and
// reports whether the file does not exist.
func (r *memReader) fail(err error) (missing bool) {
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	// ENODEV: the cgroup was removed between open and read
	// (kernfs_fop_read_iter on a deactivated node).
	if !errors.Is(err, syscall.ENODEV) {
		r.errs = append(r.errs, err)
	}
	return false
}

// memReadFile reads the whole of a small kernel file into buf[:0],
// growing it as needed. It uses raw syscalls: os.File would allocate more
// and try to add each cgroupfs file to the netpoller on every render.
// Errors are *os.PathError.
func memReadFile(path string, buf []byte) ([]byte, error) {
	fd, err := memRetry(func() (int, error) {
		return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := memRetry(func() (int, error) { return syscall.Read(fd, buf[len(buf):cap(buf)]) })
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// memRetry calls f again while it fails with EINTR.
func memRetry(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// parseMemLimit parses a limit: "max" (v2) or a number of bytes, where v1's
// unset value (see memV1Unlimited) also means MemUnlimited.
func parseMemLimit(b []byte) (uint64, error) {
	b = memTrimSpace(b)
	if string(b) == "max" {
		return MemUnlimited, nil
	}
	n, err := parseMemUint(b)
	if err != nil {
		return 0, err
	}
	if n >= memV1Unlimited {
		return MemUnlimited, nil
	}
	return n, nil
}

// parseMemUint parses a decimal uint64 without allocating.
func parseMemUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errors.New("empty value")
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad number %q", b)
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, fmt.Errorf("number %q overflows", b)
		}
		n = n*10 + d
	}
	return n, nil
}

// memTrimSpace removes leading and trailing ASCII blanks and newlines.
func memTrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// memSub returns a-b, or 0 when b > a.
func memSub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// MemoryStat holds the memory.stat counters the renderers use, in bytes,
// named after the v2 keys. Counters the kernel did not print stay unknown.
//
// Both hierarchies print one "key value" pair a line (mm/memcontrol.c
// memory_stat_format, mm/memcontrol-v1.c memcg1_stat_format):
//
//	total_inactive_file 131072
//	^ key (1)           ^ value (2), bytes for the keys read here
type MemoryStat struct {
	Anon              MemBytes // v2 anon, v1 total_rss: mapped anonymous memory (NR_ANON_MAPPED)
	AnonTHP           MemBytes // v2 anon_thp, v1 total_rss_huge: anonymous transparent huge pages (NR_ANON_THPS)
	ShmemTHP          MemBytes // v2 shmem_thp (no v1 counter): shmem in huge pages (NR_SHMEM_THPS)
	FileTHP           MemBytes // v2 file_thp (no v1 counter): page cache in huge pages (NR_FILE_THPS)
	File              MemBytes // v2 file, v1 total_cache: page cache, shmem included (NR_FILE_PAGES)
	Shmem             MemBytes // v2 shmem, v1 total_shmem
	FileMapped        MemBytes // v2 file_mapped, v1 total_mapped_file
	FileDirty         MemBytes // v2 file_dirty, v1 total_dirty
	FileWriteback     MemBytes // v2 file_writeback, v1 total_writeback
	SwapCached        MemBytes // v2 swapcached (since 6.0), v1 total_swapcached (since 5.12)
	ActiveAnon        MemBytes // v2 active_anon, v1 total_active_anon
	InactiveAnon      MemBytes // v2 inactive_anon, v1 total_inactive_anon
	ActiveFile        MemBytes // v2 active_file, v1 total_active_file
	InactiveFile      MemBytes // v2 inactive_file, v1 total_inactive_file
	Unevictable       MemBytes // v2 unevictable, v1 total_unevictable
	Slab              MemBytes // v2 slab (since 5.9); v1 has no slab counter
	SlabReclaimable   MemBytes // v2 slab_reclaimable
	SlabUnreclaimable MemBytes // v2 slab_unreclaimable
	// Zswap is v2 zswap (since 5.19): the compressed zswap pool memory
	// charged to the cgroup; no v1 counter (zswap is charged on v2 only,
	// mm/memcontrol.c obj_cgroup_charge_zswap).
	Zswap MemBytes
	// Zswapped is v2 zswapped (since 5.19): the cgroup's pages stored in
	// zswap, uncompressed size; no v1 counter.
	Zswapped MemBytes
	// HierarchicalLimit is v1 hierarchical_memory_limit, the smallest
	// memory.limit_in_bytes up the tree; MemUnlimited when none is set.
	HierarchicalLimit MemBytes
	// HierarchicalMemswLimit is v1 hierarchical_memsw_limit, printed only
	// with swap accounting.
	HierarchicalMemswLimit MemBytes
}

// ParseMemoryStatV1 parses a cgroup v1 memory.stat. It reads the
// hierarchical total_* counters, which include the descendant cgroups a
// container may create, not the cgroup-local ones. A malformed line leaves
// its counter unknown; the first such line is returned as the error.
func ParseMemoryStatV1(b []byte) (MemoryStat, error) {
	return parseMemoryStat(b, (*MemoryStat).v1Field)
}

// ParseMemoryStatV2 parses a cgroup v2 memory.stat, which is hierarchical
// already. Errors are as for ParseMemoryStatV1.
func ParseMemoryStatV2(b []byte) (MemoryStat, error) {
	return parseMemoryStat(b, (*MemoryStat).v2Field)
}

// parseMemoryStat parses "key value" lines; field maps a key to its
// counter (nil: not used) and says whether the value is a limit.
func parseMemoryStat(b []byte, field func(*MemoryStat, []byte) (*MemBytes, bool)) (MemoryStat, error) {
	var s MemoryStat
	var first error
	for lineNo := 1; len(b) > 0; lineNo++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			if len(memTrimSpace(line)) > 0 && first == nil {
				first = fmt.Errorf("line %d %q: no value", lineNo, line)
			}
			continue
		}
		dst, limit := field(&s, line[:sp])
		if dst == nil {
			continue
		}
		var n uint64
		var err error
		if limit {
			n, err = parseMemLimit(line[sp+1:])
		} else {
			n, err = parseMemUint(memTrimSpace(line[sp+1:]))
		}
		if err != nil {
			if first == nil {
				first = fmt.Errorf("line %d %q: %w", lineNo, line, err)
			}
			continue
		}
		*dst = memKnown(n)
	}
	return s, first
}

// v1Field maps a v1 memory.stat key to its counter.
func (s *MemoryStat) v1Field(key []byte) (*MemBytes, bool) {
	switch string(key) {
	case "total_rss":
		return &s.Anon, false
	case "total_rss_huge":
		return &s.AnonTHP, false
	case "total_cache":
		return &s.File, false
	case "total_shmem":
		return &s.Shmem, false
	case "total_mapped_file":
		return &s.FileMapped, false
	case "total_dirty":
		return &s.FileDirty, false
	case "total_writeback":
		return &s.FileWriteback, false
	case "total_swapcached":
		return &s.SwapCached, false
	case "total_active_anon":
		return &s.ActiveAnon, false
	case "total_inactive_anon":
		return &s.InactiveAnon, false
	case "total_active_file":
		return &s.ActiveFile, false
	case "total_inactive_file":
		return &s.InactiveFile, false
	case "total_unevictable":
		return &s.Unevictable, false
	case "hierarchical_memory_limit":
		return &s.HierarchicalLimit, true
	case "hierarchical_memsw_limit":
		return &s.HierarchicalMemswLimit, true
	}
	return nil, false
}

// v2Field maps a v2 memory.stat key to its counter.
func (s *MemoryStat) v2Field(key []byte) (*MemBytes, bool) {
	switch string(key) {
	case "anon":
		return &s.Anon, false
	case "anon_thp":
		return &s.AnonTHP, false
	case "shmem_thp":
		return &s.ShmemTHP, false
	case "file_thp":
		return &s.FileTHP, false
	case "file":
		return &s.File, false
	case "shmem":
		return &s.Shmem, false
	case "file_mapped":
		return &s.FileMapped, false
	case "file_dirty":
		return &s.FileDirty, false
	case "file_writeback":
		return &s.FileWriteback, false
	case "swapcached":
		return &s.SwapCached, false
	case "active_anon":
		return &s.ActiveAnon, false
	case "inactive_anon":
		return &s.InactiveAnon, false
	case "active_file":
		return &s.ActiveFile, false
	case "inactive_file":
		return &s.InactiveFile, false
	case "unevictable":
		return &s.Unevictable, false
	case "slab":
		return &s.Slab, false
	case "slab_reclaimable":
		return &s.SlabReclaimable, false
	case "slab_unreclaimable":
		return &s.SlabUnreclaimable, false
	case "zswap":
		return &s.Zswap, false
	case "zswapped":
		return &s.Zswapped, false
	}
	return nil, false
}
