package configs

import (
	"errors"
	"path"
	"strings"
)

// glob is a compiled pattern. A pattern is split at "/" into segments; a
// segment "**" matches zero or more whole segments, any other segment is
// matched against one segment with path.Match ("*", "?", "[...]", "\"
// escapes; none of them crosses a "/"). So "/kubepods/**" matches
// "/kubepods" and everything below it, "/machine.slice/*" only its direct
// children, and "/a/**/b" matches "/a/b" and "/a/x/y/b".
type glob struct {
	text    string    // as written, for messages
	literal bool      // no metacharacters: compare text directly
	segs    []segment // the segments, when not literal
}

// segment is one "/"-separated part of a glob.
type segment struct {
	pat string // a path.Match pattern, or the literal text when lit
	any bool   // "**": zero or more whole segments
	lit bool   // pat has no metacharacters
}

// meta are the bytes that make a pattern more than a literal string.
const meta = `*?[\`

// compileGlob checks and compiles a pattern.
func compileGlob(text string) (glob, error) {
	if text == "" {
		return glob{}, errors.New("empty pattern")
	}
	g := glob{text: text}
	if !strings.ContainsAny(text, meta) {
		g.literal = true
		return g, nil
	}
	for _, s := range strings.Split(text, "/") {
		switch {
		case s == "**":
			if n := len(g.segs); n > 0 && g.segs[n-1].any {
				continue // "**/**" is "**"
			}
			g.segs = append(g.segs, segment{any: true})
		case hasDoubleStar(s):
			return glob{}, errors.New(`"**" must be a whole path segment, as in /kubepods/**`)
		case !strings.ContainsAny(s, meta):
			g.segs = append(g.segs, segment{pat: s, lit: true})
		default:
			if _, err := path.Match(s, ""); err != nil {
				return glob{}, errors.New(`unclosed "[" or dangling "\" in segment "` + s + `"`)
			}
			g.segs = append(g.segs, segment{pat: s})
		}
	}
	return g, nil
}

// hasDoubleStar reports whether segment s has two adjacent unescaped "*"
// outside a character class.
func hasDoubleStar(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '[':
			for i++; i < len(s) && s[i] != ']'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '*':
			if i+1 < len(s) && s[i+1] == '*' {
				return true
			}
		}
	}
	return false
}

// match reports whether s matches g. It does not allocate.
func (g *glob) match(s string) bool {
	if g.literal {
		return s == g.text
	}
	return matchSegs(g.segs, s, true)
}

// matchSegs reports whether the "/"-separated segments of s match segs.
// more is false when s has no segments left (as opposed to one empty one).
func matchSegs(segs []segment, s string, more bool) bool {
	for i, sg := range segs {
		if sg.any {
			rest := segs[i+1:]
			for {
				if matchSegs(rest, s, more) {
					return true
				}
				if !more {
					return false
				}
				_, s, more = cutSegment(s)
			}
		}
		if !more {
			return false
		}
		var part string
		part, s, more = cutSegment(s)
		if sg.lit {
			if part != sg.pat {
				return false
			}
		} else if ok, _ := path.Match(sg.pat, part); !ok { // checked at compile time
			return false
		}
	}
	return !more
}

// cutSegment splits s at its first "/".
func cutSegment(s string) (part, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
