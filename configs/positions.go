package configs

import (
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// The TOML decoder records where each key is but does not export it, and
// for an array of tables it keeps only the last element's position per key
// (every [[policy]] has a "policy.name"). So the positions of semantic
// errors come from this small scanner instead. It runs only on documents
// the decoder has accepted, and its output is used only when the keys it
// finds equal MetaData.Keys() one for one; otherwise errors carry no
// position rather than a guessed one.

// pos is a 1-based line and byte column, as in toml.Position.
type pos struct{ line, col int }

// posKey names one key occurrence in a document.
type posKey struct {
	table int    // index of the top-level [[array]] element the key is in, or -1
	key   string // the full key, toml.Key.String()
	elem  int    // index of an element of the key's array value, or -1 for the key
}

// positions maps key occurrences to where they start.
type positions map[posKey]pos

// lookup returns the position of key (or of element elem of its array
// value). When that is unknown it falls back to the closest enclosing key,
// which is a real, if coarser, position. ok is false when nothing is known.
func (ps positions) lookup(table int, key toml.Key, elem int) (pos, bool) {
	if p, ok := ps[posKey{table, key.String(), elem}]; ok {
		return p, true
	}
	for k := key; len(k) > 0; k = k[:len(k)-1] {
		if p, ok := ps[posKey{table, k.String(), -1}]; ok {
			return p, true
		}
		if p, ok := ps[posKey{-1, k.String(), -1}]; ok {
			return p, true
		}
	}
	return pos{}, false
}

// scannedKey is one key occurrence in document order.
type scannedKey struct {
	key   toml.Key
	at    int   // byte offset of the key or of the header's "["
	array bool  // a [[header]]
	elems []int // byte offsets of the elements of an array value
}

// indexPositions scans data and returns the positions of its keys, or nil
// when the scan disagrees with keys (the decoder's MetaData.Keys()).
func indexPositions(data string, keys []toml.Key) positions {
	found := scanKeys(data)
	if len(found) != len(keys) {
		return nil
	}
	for i := range found {
		if found[i].key.String() != keys[i].String() {
			return nil
		}
	}
	lines := lineStarts(data)
	ps := make(positions)
	put := func(k posKey, off int) {
		if _, dup := ps[k]; !dup {
			ps[k] = offsetPos(lines, off)
		}
	}
	count := make(map[string]int) // top-level [[name]] → elements seen
	for _, f := range found {
		if f.array && len(f.key) == 1 {
			count[f.key[0]]++
		}
		table := -1
		if n, ok := count[f.key[0]]; ok {
			table = n - 1
		}
		k := f.key.String()
		put(posKey{table, k, -1}, f.at)
		for i, off := range f.elems {
			put(posKey{table, k, i}, off)
		}
	}
	return ps
}

// lineStarts returns the byte offset at which each line starts.
func lineStarts(s string) []int {
	starts := []int{0}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// offsetPos converts a byte offset into a position, given lineStarts. An
// offset before the document (the decoder reports -1 for some errors, such
// as a lone control byte) is the document's first byte.
func offsetPos(lines []int, off int) pos {
	off = max(off, 0)
	l := sort.Search(len(lines), func(i int) bool { return lines[i] > off })
	return pos{line: l, col: off - lines[l-1] + 1}
}

// keyScanner walks a valid TOML document, recording keys as the decoder
// orders them: table headers, then each key before the keys of its inline
// table value.
type keyScanner struct {
	s    string
	i    int
	keys []scannedKey
}

// scanKeys returns every key occurrence in the valid TOML document s.
func scanKeys(s string) []scannedKey {
	sc := &keyScanner{s: s}
	var table toml.Key
	for {
		sc.skipBlank()
		if sc.i >= len(sc.s) {
			return sc.keys
		}
		start := sc.i
		switch {
		case strings.HasPrefix(sc.s[sc.i:], "[["):
			sc.i += 2
			table = sc.key()
			sc.skipSpace()
			sc.i += 2 // "]]"
			sc.keys = append(sc.keys, scannedKey{key: table, at: start, array: true})
		case sc.s[sc.i] == '[':
			sc.i++
			table = sc.key()
			sc.skipSpace()
			sc.i++ // "]"
			sc.keys = append(sc.keys, scannedKey{key: table, at: start})
		default:
			sc.keyValue(table, true)
		}
	}
}

// keyValue scans "key = value" below context. With elems, the offsets of
// the elements of an array value are recorded too.
func (sc *keyScanner) keyValue(context toml.Key, elems bool) {
	start := sc.i
	k := sc.key()
	full := make(toml.Key, 0, len(context)+len(k))
	full = append(append(full, context...), k...)
	n := len(sc.keys)
	sc.keys = append(sc.keys, scannedKey{key: full, at: start})
	sc.skipSpace()
	sc.i++ // "="
	sc.skipSpace()
	if !elems {
		sc.value(full, nil)
		return
	}
	var e []int
	sc.value(full, &e) // may append to sc.keys, so index it afterwards
	sc.keys[n].elems = e
}

// key scans a possibly dotted key made of bare, "basic" and 'literal' parts.
func (sc *keyScanner) key() toml.Key {
	var k toml.Key
	for {
		sc.skipSpace()
		if sc.i >= len(sc.s) {
			return k
		}
		switch sc.s[sc.i] {
		case '"':
			start := sc.i
			sc.skipBasic()
			k = append(k, unquoteBasic(sc.s[start:sc.i]))
		case '\'':
			start := sc.i
			sc.skipLiteral()
			k = append(k, sc.s[start+1:sc.i-1])
		default:
			start := sc.i
			for sc.i < len(sc.s) && isBare(sc.s[sc.i]) {
				sc.i++
			}
			k = append(k, sc.s[start:sc.i])
		}
		sc.skipSpace()
		if sc.i < len(sc.s) && sc.s[sc.i] == '.' {
			sc.i++
			continue
		}
		return k
	}
}

// value skips one value. Keys of inline tables are recorded below context;
// for an array, the element offsets are appended to elems when non-nil.
func (sc *keyScanner) value(context toml.Key, elems *[]int) {
	rest := sc.s[sc.i:]
	switch {
	case strings.HasPrefix(rest, `"""`):
		sc.skipMultiline(`"""`, true)
	case strings.HasPrefix(rest, `'''`):
		sc.skipMultiline(`'''`, false)
	case rest == "":
	case rest[0] == '"':
		sc.skipBasic()
	case rest[0] == '\'':
		sc.skipLiteral()
	case rest[0] == '[':
		sc.i++
		for {
			sc.skipBlank()
			if sc.i >= len(sc.s) || sc.s[sc.i] == ']' {
				sc.i++
				return
			}
			if sc.s[sc.i] == ',' {
				sc.i++
				continue
			}
			if elems != nil {
				*elems = append(*elems, sc.i)
			}
			sc.value(context, nil)
		}
	case rest[0] == '{':
		sc.i++
		for {
			sc.skipBlank()
			if sc.i >= len(sc.s) || sc.s[sc.i] == '}' {
				sc.i++
				return
			}
			if sc.s[sc.i] == ',' {
				sc.i++
				continue
			}
			sc.keyValue(context, false)
		}
	default: // number, boolean or date, which may contain a space
		for sc.i < len(sc.s) && !strings.ContainsRune(",]}#\r\n", rune(sc.s[sc.i])) {
			sc.i++
		}
	}
}

// skipBasic skips a "basic string" starting at sc.i.
func (sc *keyScanner) skipBasic() {
	for sc.i++; sc.i < len(sc.s); sc.i++ {
		switch sc.s[sc.i] {
		case '\\':
			sc.i++
		case '"':
			sc.i++
			return
		}
	}
}

// skipLiteral skips a 'literal string' starting at sc.i.
func (sc *keyScanner) skipLiteral() {
	end := strings.IndexByte(sc.s[sc.i+1:], '\'')
	if end < 0 {
		sc.i = len(sc.s)
		return
	}
	sc.i += end + 2
}

// skipMultiline skips a multi-line string opened by delim at sc.i. A
// closing delimiter may be followed by up to two more quotes that belong to
// the content.
func (sc *keyScanner) skipMultiline(delim string, escapes bool) {
	for sc.i += 3; sc.i < len(sc.s); sc.i++ {
		if escapes && sc.s[sc.i] == '\\' {
			sc.i++
			continue
		}
		if strings.HasPrefix(sc.s[sc.i:], delim) {
			sc.i += 3
			for n := 0; n < 2 && sc.i < len(sc.s) && sc.s[sc.i] == delim[0]; n++ {
				sc.i++
			}
			return
		}
	}
}

// skipSpace skips spaces and tabs.
func (sc *keyScanner) skipSpace() {
	for sc.i < len(sc.s) && (sc.s[sc.i] == ' ' || sc.s[sc.i] == '\t') {
		sc.i++
	}
}

// skipBlank skips whitespace, newlines and comments.
func (sc *keyScanner) skipBlank() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\r', '\n':
			sc.i++
		case '#':
			if end := strings.IndexByte(sc.s[sc.i:], '\n'); end >= 0 {
				sc.i += end
			} else {
				sc.i = len(sc.s)
			}
		default:
			return
		}
	}
}

// isBare reports whether c may appear in a bare key.
func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// unquoteBasic decodes a quoted basic-string key. TOML's escapes are Go's
// plus \e; an undecodable key is returned as written, which makes the
// cross-check with the decoder fail and positions be dropped.
func unquoteBasic(q string) string {
	s, err := strconv.Unquote(strings.ReplaceAll(q, `\e`, `\x1b`))
	if err != nil {
		return q
	}
	return s
}
