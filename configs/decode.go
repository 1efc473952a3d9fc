package configs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// decoder checks a decoded TOML document against lxmount's schema and
// collects every problem with its position. The document is decoded into
// plain maps rather than structs so that each wrong type, unknown key and
// bad value is reported once, at the occurrence that has it.
type decoder struct {
	file  string
	pos   positions
	index int // index of the [[policy]] being decoded, or -1
	errs  []*Error
}

// decode parses data into a generic tree and prepares a decoder for it.
func decode(file string, data []byte) (map[string]any, *decoder, error) {
	var doc map[string]any
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		return nil, nil, syntaxError(file, data, err)
	}
	return doc, &decoder{file: file, pos: indexPositions(string(data), md.Keys()), index: -1}, nil
}

// errorf records a problem at key (or at element elem of its array value).
func (d *decoder) errorf(key toml.Key, elem int, format string, args ...any) {
	e := &Error{File: d.file, Msg: fmt.Sprintf(format, args...)}
	if p, ok := d.pos.lookup(d.index, key, elem); ok {
		e.Line, e.Col = p.line, p.col
	}
	d.errs = append(d.errs, e)
}

// source returns "file:line" of key, or just the file when unknown.
func (d *decoder) source(key toml.Key) string {
	if p, ok := d.pos.lookup(d.index, key, -1); ok {
		return fmt.Sprintf("%s:%d", d.file, p.line)
	}
	return d.file
}

// err returns the collected problems sorted by position, or nil.
func (d *decoder) err() error {
	sortErrors(d.errs)
	return joinErrors(d.errs)
}

// where names the table holding key for messages: ` in [policy.files]`,
// ` in [[policy]]`, or "" for a top-level key.
func where(key toml.Key) string {
	switch parent := key[:len(key)-1]; {
	case len(parent) == 0:
		return ""
	case len(parent) == 1 && parent[0] == "policy":
		return " in [[policy]]"
	default:
		return " in [" + parent.String() + "]"
	}
}

// leaf returns the last part of key as TOML writes it, quoted if needed.
func leaf(key toml.Key) string { return key[len(key)-1:].String() }

// child returns key extended by name, without sharing key's array.
func child(key toml.Key, name string) toml.Key {
	return append(slices.Clip(key), name)
}

// typeName describes a decoded TOML value's type for messages.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	default:
		return "a date/time"
	}
}

// wrongType records that key holds v where want was expected.
func (d *decoder) wrongType(key toml.Key, v any, want string) {
	d.errorf(key, -1, "%s%s must be %s, not %s", leaf(key), where(key), want, typeName(v))
}

// keys returns the names in m sorted, after reporting every name not in
// valid as an unknown key (or, with what, as an unknown what).
func (d *decoder) keys(key toml.Key, m map[string]any, what string, valid []string) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	known := names[:0]
	for _, name := range names {
		if !slices.Contains(valid, name) {
			k := child(key, name)
			d.errorf(k, -1, "unknown %s %q%s (valid: %s)", what, name, where(k), strings.Join(valid, ", "))
			continue
		}
		known = append(known, name)
	}
	return known
}

// table returns v as a table, or records a type error.
func (d *decoder) table(key toml.Key, v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.wrongType(key, v, "a table")
	}
	return m, ok
}

// boolean returns v as a boolean, or records a type error.
func (d *decoder) boolean(key toml.Key, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		d.wrongType(key, v, "true or false")
	}
	return b, ok
}

// str returns v as a string, or records a type error.
func (d *decoder) str(key toml.Key, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.wrongType(key, v, "a string")
	}
	return s, ok
}

// enum returns v when it is one of valid, or records why not.
func (d *decoder) enum(key toml.Key, v any, valid []string) (string, bool) {
	s, ok := d.str(key, v)
	if !ok {
		return "", false
	}
	if !slices.Contains(valid, s) {
		d.errorf(key, -1, "unknown %s %q%s (valid: %s)", leaf(key), s, where(key), strings.Join(valid, ", "))
		return "", false
	}
	return s, true
}

// stringList returns v, a string or an array of strings, as a non-empty list
// together with each string's element index (-1 for a lone string).
func (d *decoder) stringList(key toml.Key, v any) ([]string, []int, bool) {
	const want = "a string or an array of strings"
	switch v := v.(type) {
	case string:
		return []string{v}, []int{-1}, true
	case []any:
		if len(v) == 0 {
			d.errorf(key, -1, "%s%s is an empty array, which matches nothing (leave the key out to match anything)", leaf(key), where(key))
			return nil, nil, false
		}
		out := make([]string, 0, len(v))
		idx := make([]int, 0, len(v))
		ok := true
		for i, e := range v {
			s, isStr := e.(string)
			if !isStr {
				d.errorf(key, i, "%s%s must be %s, but element %d is %s", leaf(key), where(key), want, i+1, typeName(e))
				ok = false
				continue
			}
			out = append(out, s)
			idx = append(idx, i)
		}
		return out, idx, ok
	default:
		d.wrongType(key, v, want)
		return nil, nil, false
	}
}
