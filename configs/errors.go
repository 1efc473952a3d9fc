package configs

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/BurntSushi/toml"
)

// Error is one problem found in a configuration or policy file.
type Error struct {
	File string // the file's path, or the name given to ParsePolicies
	Line int    // 1-based line, 0 when the position is unknown
	Col  int    // 1-based byte column within Line, 0 when unknown
	Msg  string // what is wrong, including the valid choices when there are any
}

// Error formats e as "file:line:col: msg", leaving out unknown parts.
func (e *Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// syntaxError converts an error from the TOML decoder into an *Error.
// The position is derived from the decoder's byte offset: its line number
// is sometimes already past the newline it complains about.
func syntaxError(file string, data []byte, err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", file, err)
	}
	e := &Error{File: file, Msg: pe.Message}
	if pe.Position.Line > 0 {
		p := offsetPos(lineStarts(string(data)), min(pe.Position.Start, len(data)))
		e.Line, e.Col = p.line, p.col
	}
	return e
}

// sortErrors orders the errors of one file by position, unknown
// positions last.
func sortErrors(errs []*Error) {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// joinErrors joins errs into one error, nil when there are none.
func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// errParserPanic marks an *Error made of a panic in the parser: a bug in
// lxmount, reported as a problem of the file that triggered it so that
// the daemon keeps its last good policies instead of dying.
var errParserPanic = errors.New("internal error while parsing (a bug in lxmount: please report it with the file)")

// recoverParse turns a panic in the parser of file into *err. Deferred by
// every parser entry point: no input may crash the daemon (fuzz_test.go).
func recoverParse(file string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: %w: %v", file, errParserPanic, r)
	}
}
