package sources

import (
	"bytes"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Cpuinfo renders /proc/cpuinfo for a view of the visible host CPUs: only
// their blocks, in the order of visible, renumbered from 0. Every line
// keeps the host's exact bytes (the "key\t: " alignment of
// arch/x86/kernel/cpu/proc.c, show_cpuinfo) except the value of these
// fields, rewritten when the block has them so the topology adds up:
//
//   - processor: 0..n-1.
//   - physical id: host packages renumbered by first appearance.
//   - core id: within a package, host cores renumbered by first appearance;
//     two visible hyperthreads of one host core stay siblings of one core.
//   - cpu cores, siblings: the visible cores and CPUs of the package.
//   - apicid, initial apicid: rebuilt from the new (package, core, thread)
//     the way x86 firmware lays APIC IDs out, each level as wide as its
//     largest count rounded up to a power of two; for one package without
//     hyperthreads that is the processor number.
//
// lxcfs (proc_cpuinfo_read, src/proc_cpuview.c) renumbers only processor
// and leaves the topology fields of the host, which then disagree with the
// CPU count. Text before the first block and after the last one (e.g.
// arm32's Hardware/Revision lines) is kept. When the host's file has no
// "processor : N" blocks (s390x prints its CPUs on one line each) or none
// of the visible CPUs has a block, the host's file is returned unchanged.
func Cpuinfo(host []byte, visible []int) []byte {
	var buf bytes.Buffer
	writeCpuinfo(&buf, host, visible)
	return buf.Bytes()
}

// cpuinfoBlock is one CPU's block of /proc/cpuinfo.
type cpuinfoBlock struct {
	cpu  int    // host CPU number, from the processor line
	text []byte // from the processor line to the blank line ending it, inclusive
	pkg  int    // host physical id, -1 if absent
	core int    // host core id, -1 if absent
}

// parseCpuinfo splits /proc/cpuinfo into the text before the first CPU
// block, the blocks, and the text after the last block's blank line. A
// block runs from its processor line to the next one.
func parseCpuinfo(b []byte) (header []byte, blocks []cpuinfoBlock, trailer []byte) {
	start := -1 // offset of the current block, -1 before the first
	end := -1   // offset just past the first blank line of the current block
	for off := 0; off < len(b); {
		next := len(b)
		if i := bytes.IndexByte(b[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		line := b[off:next]
		if key, val, ok := cpuinfoField(line); ok && string(key) == "processor" {
			if _, ok := cpuinfoInt(val); ok {
				if start < 0 {
					header = b[:off]
				} else {
					blocks = append(blocks, newCpuinfoBlock(b[start:off]))
				}
				start, end = off, -1
			}
		} else if start >= 0 && end < 0 && len(bytes.TrimSpace(line)) == 0 {
			end = next
		}
		off = next
	}
	if start < 0 {
		return b, nil, nil
	}
	if end < 0 {
		end = len(b)
	}
	blocks = append(blocks, newCpuinfoBlock(b[start:end]))
	return header, blocks, b[end:]
}

// newCpuinfoBlock reads the numbers of one block.
func newCpuinfoBlock(text []byte) cpuinfoBlock {
	blk := cpuinfoBlock{text: text, cpu: -1, pkg: -1, core: -1}
	for line := range bytes.Lines(text) {
		key, val, ok := cpuinfoField(line)
		if !ok {
			continue
		}
		var dst *int
		switch string(key) {
		case "processor":
			dst = &blk.cpu
		case "physical id":
			dst = &blk.pkg
		case "core id":
			dst = &blk.core
		default:
			continue
		}
		if n, ok := cpuinfoInt(val); ok {
			*dst = n
		}
	}
	return blk
}

// cpuinfoField splits "key\t\t: value\n" into its trimmed key and value.
func cpuinfoField(line []byte) (key, val []byte, ok bool) {
	k, v, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return nil, nil, false
	}
	return bytes.TrimSpace(k), bytes.TrimSpace(v), true
}

// cpuinfoInt parses a small non-negative decimal value without allocating.
func cpuinfoInt(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// cpuTopology is one visible CPU's place in the rebuilt topology.
type cpuTopology struct {
	pkg, core, thread int
}

// writeCpuinfo is Cpuinfo writing into buf.
func writeCpuinfo(buf *bytes.Buffer, host []byte, visible []int) {
	header, blocks, trailer := parseCpuinfo(host)
	byCPU := make(map[int]*cpuinfoBlock, len(blocks))
	for i := range blocks {
		byCPU[blocks[i].cpu] = &blocks[i]
	}
	shown := make([]*cpuinfoBlock, 0, len(visible))
	for _, cpu := range visible {
		if blk, ok := byCPU[cpu]; ok {
			shown = append(shown, blk)
		}
	}
	if len(shown) == 0 {
		buf.Write(host)
		return
	}

	// Renumber packages, cores within packages, and threads within cores.
	type coreKey struct{ pkg, core int }
	pkgs := map[int]int{}        // host physical id -> new
	cores := map[coreKey]int{}   // (new pkg, host core id) -> new core id
	threads := map[coreKey]int{} // (new pkg, new core) -> threads so far
	var cpusIn, coresIn []int    // by new package
	topo := make([]cpuTopology, len(shown))
	maxCores, maxThreads := 1, 1
	for i, blk := range shown {
		p, ok := pkgs[blk.pkg]
		if !ok {
			p = len(pkgs)
			pkgs[blk.pkg] = p
			cpusIn = append(cpusIn, 0)
			coresIn = append(coresIn, 0)
		}
		hostCore := blk.core
		if hostCore < 0 {
			hostCore = -2 - blk.cpu // no core id: every CPU its own core
		}
		c, ok := cores[coreKey{p, hostCore}]
		if !ok {
			c = coresIn[p]
			cores[coreKey{p, hostCore}] = c
			coresIn[p]++
		}
		t := threads[coreKey{p, c}]
		threads[coreKey{p, c}] = t + 1
		cpusIn[p]++
		topo[i] = cpuTopology{pkg: p, core: c, thread: t}
		maxCores, maxThreads = max(maxCores, coresIn[p]), max(maxThreads, t+1)
	}
	smtBits := bitsFor(maxThreads)
	coreBits := bitsFor(maxCores)

	buf.Grow(len(header) + len(trailer) + len(shown)*len(shown[0].text))
	buf.Write(header)
	for i, blk := range shown {
		t := topo[i]
		apicid := t.pkg<<(coreBits+smtBits) | t.core<<smtBits | t.thread
		for line := range bytes.Lines(blk.text) {
			key, _, _ := cpuinfoField(line)
			var v int
			switch string(key) {
			case "processor":
				v = i
			case "physical id":
				v = t.pkg
			case "siblings":
				v = cpusIn[t.pkg]
			case "core id":
				v = t.core
			case "cpu cores":
				v = coresIn[t.pkg]
			case "apicid", "initial apicid":
				v = apicid
			default:
				buf.Write(line)
				continue
			}
			writeCpuinfoValue(buf, line, v)
		}
	}
	buf.Write(trailer)
}

// writeCpuinfoValue writes line with its value replaced by v, keeping the
// key, its tab alignment and the ": " separator byte for byte.
func writeCpuinfoValue(buf *bytes.Buffer, line []byte, v int) {
	colon := bytes.IndexByte(line, ':')
	end := colon + 1
	for end < len(line) && (line[end] == ' ' || line[end] == '\t') {
		end++
	}
	buf.Write(line[:end])
	var b [24]byte
	buf.Write(strconv.AppendInt(b[:0], int64(v), 10))
	buf.WriteByte('\n')
}

// bitsFor is the number of APIC ID bits a topology level with n members
// takes: ceil(log2(n)), 0 for one.
func bitsFor(n int) int {
	if n <= 1 {
		return 0
	}
	return bits.Len(uint(n - 1))
}

// renderCpuinfo renders /proc/cpuinfo for c's CPU view; see Cpuinfo.
func renderCpuinfo(c *Container, now time.Time, buf *bytes.Buffer) error {
	r := c.fileReader()
	defer c.putReader(r)
	visible, err := c.cpuView(r)
	if err != nil {
		return err
	}
	c.cpuinfo.mu.Lock()
	defer c.cpuinfo.mu.Unlock()
	host, err := c.cpuinfo.get(now, visible, func() ([]byte, error) { return r.file(c.Host.ProcRoot, "cpuinfo") })
	if err != nil {
		return fmt.Errorf("read %s: %w", c.Host.proc("cpuinfo"), err)
	}
	writeCpuinfo(buf, host, visible)
	return nil
}

// hostCpuinfoMaxAge is how long a container reuses the host's
// /proc/cpuinfo text. Generating it is the kernel's costliest file here
// (14 µs for 2 CPUs, more per CPU), and nothing in it changes but the
// "cpu MHz" of CPUs that scale their frequency, which this bounds; a
// change of the container's cpuset reads it again at once.
const hostCpuinfoMaxAge = time.Second

// hostCpuinfo is a container's copy of the host's /proc/cpuinfo text.
type hostCpuinfo struct {
	mu      sync.Mutex
	text    []byte
	at      time.Time // when read
	visible []int     // the CPU view it was read for
}

// get returns the text, read through read when it is older than
// hostCpuinfoMaxAge at now or was read for another CPU view. h.mu is held.
func (h *hostCpuinfo) get(now time.Time, visible []int, read func() ([]byte, error)) ([]byte, error) {
	if h.text != nil && now.Sub(h.at) < hostCpuinfoMaxAge && !now.Before(h.at) && slices.Equal(h.visible, visible) {
		return h.text, nil
	}
	b, err := read()
	if err != nil {
		h.text = nil
		return nil, err
	}
	h.text = append(h.text[:0], b...)
	h.at = now
	h.visible = append(h.visible[:0], visible...)
	return h.text, nil
}
