package sources

import (
	"bytes"
	"fmt"
	"strconv"
)

// readHostMeminfo reads the host's /proc/meminfo through read into buf's
// storage.
func readHostMeminfo(read readFunc, h Host, buf []byte) ([]byte, error) {
	b, err := read(h.ProcRoot, "meminfo", buf)
	if err != nil {
		return nil, fmt.Errorf("read host meminfo: %w", err)
	}
	return b, nil
}

// meminfoField names a /proc/meminfo line that a container's view may
// replace; every other line is passed through from the host.
type meminfoField uint8

const (
	mfNone meminfoField = iota
	mfMemTotal
	mfMemFree
	mfMemAvailable
	mfBuffers
	mfCached
	mfSwapCached
	mfActive
	mfInactive
	mfActiveAnon
	mfInactiveAnon
	mfActiveFile
	mfInactiveFile
	mfUnevictable
	mfSwapTotal
	mfSwapFree
	mfDirty
	mfWriteback
	mfAnonPages
	mfMapped
	mfShmem
	mfSlab
	mfSReclaimable
	mfSUnreclaim
	mfAnonHugePages
	mfShmemHugePages
	mfFileHugePages
	mfZswap
	mfZswapped
	mfCount
)

// meminfoFieldOf maps a line's name (the text before the colon) to its
// field, or mfNone.
func meminfoFieldOf(name []byte) meminfoField {
	switch string(name) {
	case "MemTotal":
		return mfMemTotal
	case "MemFree":
		return mfMemFree
	case "MemAvailable":
		return mfMemAvailable
	case "Buffers":
		return mfBuffers
	case "Cached":
		return mfCached
	case "SwapCached":
		return mfSwapCached
	case "Active":
		return mfActive
	case "Inactive":
		return mfInactive
	case "Active(anon)":
		return mfActiveAnon
	case "Inactive(anon)":
		return mfInactiveAnon
	case "Active(file)":
		return mfActiveFile
	case "Inactive(file)":
		return mfInactiveFile
	case "Unevictable":
		return mfUnevictable
	case "SwapTotal":
		return mfSwapTotal
	case "SwapFree":
		return mfSwapFree
	case "Dirty":
		return mfDirty
	case "Writeback":
		return mfWriteback
	case "AnonPages":
		return mfAnonPages
	case "Mapped":
		return mfMapped
	case "Shmem":
		return mfShmem
	case "Slab":
		return mfSlab
	case "SReclaimable":
		return mfSReclaimable
	case "SUnreclaim":
		return mfSUnreclaim
	case "AnonHugePages":
		return mfAnonHugePages
	case "ShmemHugePages":
		return mfShmemHugePages
	case "FileHugePages":
		return mfFileHugePages
	case "Zswap":
		return mfZswap
	case "Zswapped":
		return mfZswapped
	}
	return mfNone
}

// meminfoValues holds a value in kB for some of the fields.
type meminfoValues struct {
	kb    [mfCount]uint64
	known uint32 // bit f set: kb[f] is valid
}

// set records v for f.
func (v *meminfoValues) set(f meminfoField, kb uint64) {
	v.kb[f] = kb
	v.known |= 1 << f
}

// get returns the value of f and whether it is known.
func (v *meminfoValues) get(f meminfoField) (uint64, bool) {
	return v.kb[f], v.known&(1<<f) != 0
}

// parseHostMeminfo reads the replaceable fields of the host's
// /proc/meminfo. Lines it cannot parse are left unknown.
func parseHostMeminfo(host []byte) meminfoValues {
	var v meminfoValues
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = meminfoNextLine(rest)
		l, ok := splitMeminfoLine(line)
		if !ok {
			continue
		}
		if f := meminfoFieldOf(l.name()); f != mfNone {
			v.set(f, l.value)
		}
	}
	return v
}

// meminfoNextLine splits off the first line of b, newline included.
func meminfoNextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:]
	}
	return b, nil
}

// meminfoLine is one parsed /proc/meminfo line:
//
//	MemTotal:       24731708 kB\n
//	^ label (1)     ^ value  ^ suffix (3)
//	  (name + ':')    (2)
//
// The suffix is " kB\n", or just "\n" for counts such as HugePages_Total.
type meminfoLine struct {
	label  []byte // the name and its colon
	value  uint64
	suffix []byte // what follows the digits, newline included
}

// name returns the label without its colon.
func (l meminfoLine) name() []byte { return l.label[:len(l.label)-1] }

// splitMeminfoLine parses a line in the layout drawn at meminfoLine.
func splitMeminfoLine(line []byte) (meminfoLine, bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return meminfoLine{}, false
	}
	i := colon + 1
	for i < len(line) && line[i] == ' ' {
		i++
	}
	start := i
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	v, err := parseMemUint(line[start:i])
	if err != nil {
		return meminfoLine{}, false
	}
	return meminfoLine{label: line[:colon+1], value: v, suffix: line[i:]}, true
}

// meminfoLabelWidth and meminfoValueWidth are the kernel's layout of a
// /proc/meminfo value line (fs/proc/meminfo.c show_val_kb): a 16-column
// label literal such as "MemTotal:       ", then the number right-aligned
// in 8 columns by seq_put_decimal_ull_width, then " kB".
const (
	meminfoLabelWidth = 16
	meminfoValueWidth = 8
)

// appendMeminfoLine appends l with value v in the kernel's layout.
func appendMeminfoLine(dst []byte, l meminfoLine, v uint64) []byte {
	dst = append(dst, l.label...)
	// As in the kernel, a label of 16 columns or more ("HugePages_Total:")
	// gets no padding of its own: the value's width keeps them apart.
	pad := max(meminfoLabelWidth-len(l.label), 0)
	var num [20]byte
	digits := strconv.AppendUint(num[:0], v, 10)
	pad += max(meminfoValueWidth-len(digits), 0)
	for ; pad > 0; pad-- {
		dst = append(dst, ' ')
	}
	dst = append(dst, digits...)
	return append(dst, l.suffix...)
}
