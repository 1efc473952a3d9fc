package sources

import (
	"bytes"
	"time"
)

// Meminfo appends to dst the /proc/meminfo that a container with memory
// cgroup m sees, and returns the extended slice. host is the host's
// /proc/meminfo: its lines, their order and their layout are kept; the
// RAM, LRU, page cache, anonymous THP, slab and swap lines are replaced by
// the cgroup's values (see meminfoView), each only when what it needs from m is known.
// Every other line, and every line whose inputs are unknown, is the
// host's, byte for byte. Values are in kB, rounded down from the cgroup's
// bytes. swap chooses the swap lines (SwapCgroup for an unknown mode).
// Meminfo does no I/O.
func Meminfo(dst, host []byte, m Memory, swap SwapMode) []byte {
	h := parseHostMeminfo(host)
	v := meminfoView(h, m, swap)
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = meminfoNextLine(rest)
		l, ok := splitMeminfoLine(line)
		if !ok {
			dst = append(dst, line...)
			continue
		}
		f := meminfoFieldOf(l.name())
		kb, known := v.get(f)
		if f == mfNone || !known || kb == l.value {
			// Unchanged values keep the host's bytes exactly.
			dst = append(dst, line...)
			continue
		}
		dst = appendMeminfoLine(dst, l, kb)
	}
	return dst
}

// meminfoView computes the container's values, in kB, from the host's
// replaceable lines h and the cgroup snapshot m. It follows lxcfs
// (src/proc_fuse.c proc_meminfo_read), except where a comment says
// otherwise. A field left unknown keeps the host's line.
func meminfoView(h meminfoValues, m Memory, swap SwapMode) meminfoValues {
	var v meminfoValues
	hostTotal, ok := h.get(mfMemTotal)
	if !ok {
		// Not a /proc/meminfo we understand: leave it alone.
		return v
	}
	// MemTotal is the limit, unless there is none or it is above the
	// host's RAM (lxcfs then shows the host's MemTotal too).
	total := hostTotal
	if m.Limit.Known && m.Limit.Bytes/1024 < hostTotal {
		total = m.Limit.Bytes / 1024
	}
	v.set(mfMemTotal, total)

	// Free is what the limit leaves; with no limit that is host RAM minus
	// the cgroup's usage, as in lxcfs. Clamped at 0: v1 usage may overshoot
	// the limit by a per-CPU charge batch.
	free, freeKnown := uint64(0), m.Usage.Known
	if freeKnown {
		free = memSub(total, m.Usage.Bytes/1024)
		v.set(mfMemFree, free)
	} else {
		meminfoHostCapped(&v, h, mfMemFree, total)
	}

	s := m.Stat
	switch {
	case freeKnown && s.ActiveFile.Known && s.InactiveFile.Known:
		// lxcfs: free plus the file LRUs plus reclaimable slab (v2 only; v1
		// has no slab counter). The kernel's si_mem_available discounts
		// part of the page cache and the watermarks; lxcfs does not.
		// Capped at MemTotal: v1 usage and the LRU sizes are read at
		// different moments and need not add up.
		avail := free + (s.ActiveFile.Bytes+s.InactiveFile.Bytes+memOr0(s.SlabReclaimable))/1024
		v.set(mfMemAvailable, min(avail, total))
	case freeKnown:
		// The page cache is unknown: report what is surely available
		// rather than the host's far larger figure, which would invite an
		// application to size itself into the OOM killer.
		v.set(mfMemAvailable, free)
	default:
		meminfoHostCapped(&v, h, mfMemAvailable, total)
	}

	if s.File.Known {
		// A memory cgroup has no buffers counter: buffer pages are
		// charged as page cache and show in Cached (lxcfs prints 0 too).
		v.set(mfBuffers, 0)
		// Cached is memory.stat file/total_cache, as in lxcfs. It
		// includes shmem, as the host's Cached does.
		v.set(mfCached, s.File.Bytes/1024)
	}
	meminfoSet(&v, mfActive, s.ActiveAnon, s.ActiveFile)
	meminfoSet(&v, mfInactive, s.InactiveAnon, s.InactiveFile)
	meminfoSet(&v, mfActiveAnon, s.ActiveAnon)
	meminfoSet(&v, mfInactiveAnon, s.InactiveAnon)
	meminfoSet(&v, mfActiveFile, s.ActiveFile)
	meminfoSet(&v, mfInactiveFile, s.InactiveFile)
	meminfoSet(&v, mfUnevictable, s.Unevictable)
	meminfoSet(&v, mfDirty, s.FileDirty)
	meminfoSet(&v, mfWriteback, s.FileWriteback)
	// AnonPages is the kernel's NR_ANON_MAPPED, which memory.stat prints
	// as anon (v1 total_rss). lxcfs derives it from the anon LRUs minus
	// shmem instead; both agree on the fixtures.
	meminfoSet(&v, mfAnonPages, s.Anon)
	// The anonymous THPs among them (lxcfs: total_rss_huge too); the
	// host's figure can exceed the container's MemTotal.
	meminfoSet(&v, mfAnonHugePages, s.AnonTHP)
	// v2 only; on v1 these stay the host's (no counter).
	meminfoSet(&v, mfShmemHugePages, s.ShmemTHP)
	meminfoSet(&v, mfFileHugePages, s.FileTHP)
	meminfoSet(&v, mfMapped, s.FileMapped)
	meminfoSet(&v, mfShmem, s.Shmem)
	// v1 memory.stat has no slab counters, so v1 containers keep the
	// host's slab lines (lxcfs prints 0 there, a value it does not know),
	// capped by meminfoSlabCapped.
	if s.Slab.Known {
		meminfoSet(&v, mfSlab, s.Slab)
	} else {
		// v2 kernels before 5.9 print only the two parts.
		meminfoSet(&v, mfSlab, s.SlabReclaimable, s.SlabUnreclaimable)
	}
	meminfoSet(&v, mfSReclaimable, s.SlabReclaimable)
	meminfoSet(&v, mfSUnreclaim, s.SlabUnreclaimable)
	if !s.Slab.Known && !s.SlabReclaimable.Known && !s.SlabUnreclaimable.Known {
		meminfoSlabCapped(&v, h, m)
	}

	switch swap {
	case SwapHost:
	case SwapNone:
		v.set(mfSwapCached, 0)
	default:
		// The cgroup's swapcached counter (lxcfs prints 0).
		meminfoSet(&v, mfSwapCached, s.SwapCached)
	}
	if sw, ok := memSwapView(h, m, swap); ok {
		v.set(mfSwapTotal, sw.total)
		v.set(mfSwapFree, sw.free)
	}
	meminfoZswap(&v, h, m, swap)
	return v
}

// meminfoZswap sets Zswap (the compressed pool, fs/proc/meminfo.c
// zswap_total_pages) and Zswapped (the pages stored in it, uncompressed),
// lines the host has only with CONFIG_ZSWAP (Meminfo adds no line).
//
// v2 since 5.19: memory.stat zswap and zswapped, as in LXCFS. v1 has no
// counters (LXCFS prints 0 there, a value it does not know): the host's
// lines stay, capped at the container's swap in use. A page in zswap keeps
// its swap entry, which v1 charges to memsw and not to usage, so the
// container's zswapped pages are part of memsw - usage; the pool holds them
// compressed. With no swap shown (SwapNone, no swap accounting) both are
// 0; SwapHost keeps the host's, as for the other swap lines.
func meminfoZswap(v *meminfoValues, h meminfoValues, m Memory, swap SwapMode) {
	s := m.Stat
	switch {
	case swap == SwapHost:
	case swap == SwapNone || m.NoSwapAccounting:
		v.set(mfZswap, 0)
		v.set(mfZswapped, 0)
	case s.Zswap.Known || s.Zswapped.Known:
		meminfoSet(v, mfZswap, s.Zswap)
		meminfoSet(v, mfZswapped, s.Zswapped)
	case m.SwapUsage.Known:
		inUse := m.SwapUsage.Bytes / 1024
		for _, f := range []meminfoField{mfZswap, mfZswapped} {
			if kb, ok := h.get(f); ok && kb > inUse {
				v.set(f, inUse)
			}
		}
	}
}

// meminfoSet sets f to the sum of parts in kB when all of them are known.
func meminfoSet(v *meminfoValues, f meminfoField, parts ...MemBytes) {
	var sum uint64
	for _, p := range parts {
		if !p.Known {
			return
		}
		sum += p.Bytes
	}
	v.set(f, sum/1024)
}

// meminfoSlabCapped caps the host's slab lines, which a cgroup without
// slab counters (v1) keeps, at the kernel memory the cgroup holds: its
// slab is charged to its usage besides the page cache and anon memory, so
// it is at most usage - file - anon. procps free, top and vmstat add
// SReclaimable to Cached as "buff/cache" (psutil as "cached"); uncapped,
// a 256 MiB container on a host with 90 MiB of reclaimable slab showed
// free + buff/cache above MemTotal. Within the cap the host's values stay,
// and Slab stays SReclaimable + SUnreclaim.
func meminfoSlabCapped(v *meminfoValues, h meminfoValues, m Memory) {
	s := m.Stat
	if !m.Usage.Known || !s.File.Known || !s.Anon.Known {
		return
	}
	slab, ok1 := h.get(mfSlab)
	recl, ok2 := h.get(mfSReclaimable)
	unrecl, ok3 := h.get(mfSUnreclaim)
	bound := memSub(m.Usage.Bytes, s.File.Bytes+s.Anon.Bytes) / 1024
	if !ok1 || !ok2 || !ok3 || slab <= bound {
		return
	}
	recl = min(recl, bound)
	v.set(mfSlab, bound)
	v.set(mfSReclaimable, recl)
	v.set(mfSUnreclaim, min(unrecl, bound-recl))
}

// meminfoHostCapped sets f to the host's value when it exceeds the
// container's MemTotal: an unknown free amount is still no larger than
// the total.
func meminfoHostCapped(v *meminfoValues, h meminfoValues, f meminfoField, total uint64) {
	if kb, ok := h.get(f); ok && kb > total {
		v.set(f, total)
	}
}

// memOr0 returns b's value, or 0 when it is unknown.
func memOr0(b MemBytes) uint64 {
	if !b.Known {
		return 0
	}
	return b.Bytes
}

// memSwap is the swap a container sees, in kB.
type memSwap struct {
	total, free uint64
}

// memSwapView returns the swap the container sees under mode, or false
// when the host's values apply (SwapHost, or an unknown swap limit).
// SwapCgroup: the cgroup's swap limit capped at the host's SwapTotal (no
// limit: the host's SwapTotal), less the swap in use; nothing when swap is
// not accounted. h must hold the host's SwapTotal and SwapFree.
//
// On v1 the swap limit is the memsw limit minus the RAM limit (see
// Memory.SwapLimit), the swap the container can fill while its RAM is
// full. Recent lxcfs shows the whole memsw limit as SwapTotal on v1, and no
// swap at all when memory.swappiness is 0; lxmount does neither.
func memSwapView(h meminfoValues, m Memory, mode SwapMode) (memSwap, bool) {
	switch mode {
	case SwapHost:
		return memSwap{}, false
	case SwapNone:
		return memSwap{}, true
	}
	hostTotal, ok1 := h.get(mfSwapTotal)
	hostFree, ok2 := h.get(mfSwapFree)
	if !ok1 || !ok2 {
		return memSwap{}, false
	}
	if m.NoSwapAccounting {
		return memSwap{}, true
	}
	if !m.SwapLimit.Known {
		return memSwap{}, false
	}
	total := min(m.SwapLimit.Bytes/1024, hostTotal)
	if !m.SwapUsage.Known {
		return memSwap{total: total, free: min(hostFree, total)}, true
	}
	return memSwap{total: total, free: memSub(total, m.SwapUsage.Bytes/1024)}, true
}

// renderMeminfo serves /proc/meminfo. Only a failure to read the host's
// /proc/meminfo is an error: cgroup values that cannot be read fall back
// to the host's, line by line.
func renderMeminfo(c *Container, now time.Time, buf *bytes.Buffer) error {
	hb, sb := c.getBuf(), c.getBuf()
	defer c.putBuf(hb)
	defer c.putBuf(sb)
	host, err := readHostMeminfo(c.read, c.Host, *hb)
	if err != nil {
		return err
	}
	*hb = host
	// readMemory's error only reports values left unknown, which Meminfo
	// takes from the host: not a reason to fail the read.
	m, _ := readMemory(c.read, *sb, c.Cgroup)
	buf.Write(Meminfo(buf.AvailableBuffer(), host, m, c.Options.Swap))
	return nil
}
