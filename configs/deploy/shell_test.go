package deploy_test

// A small shell-word splitter, to find the lxmount command lines in unit
// files, the cron line and README.md.

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// shellTokens splits a shell command line into words and the operators
// | || & && ; with quotes and backslashes removed as sh(1) does; an
// unquoted # starts a comment. Enough for the command lines of these files.
func shellTokens(s string) ([]string, error) {
	var (
		toks   []string
		cur    strings.Builder
		inWord bool
	)
	flush := func() {
		if inWord {
			toks = append(toks, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			flush()
			return toks, nil
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '|' || c == '&' || c == ';':
			// "2>&1": & right after > belongs to the redirection word.
			if c == '&' && inWord && strings.HasSuffix(cur.String(), ">") {
				cur.WriteByte(c)
				continue
			}
			flush()
			op := string(c)
			if i+1 < len(s) && s[i+1] == c && c != ';' {
				op += string(c)
				i++
			}
			toks = append(toks, op)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return toks, nil
}

var redirectionRE = regexp.MustCompile(`^[0-9]*(>>?|<)(&?[0-9-]*)?(.*)$`)

// pipeline splits a command line into simple commands (argv each), at
// | || && ; &, without redirections.
func pipeline(s string) ([][]string, error) {
	toks, err := shellTokens(s)
	if err != nil {
		return nil, err
	}
	var (
		out [][]string
		cur []string
	)
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		switch {
		case tok == "|" || tok == "||" || tok == "&&" || tok == ";" || tok == "&":
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
		case redirectionRE.MatchString(tok):
			if m := redirectionRE.FindStringSubmatch(tok); m[2] == "" && m[3] == "" {
				i++ // "> file": the target is the next word
			}
		default:
			cur = append(cur, tok)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, nil
}

// lxmountCommands returns the lxmount invocations in a command line: its
// simple commands run lxmount directly, after "sudo" or environment
// assignments, after the "--" of a wrapper (kubectl exec ... -- lxmount),
// or inside `sh -c '...'`.
func lxmountCommands(line string) ([][]string, error) {
	cmds, err := pipeline(line)
	if err != nil {
		return nil, err
	}
	var out [][]string
	for _, argv := range cmds {
		for len(argv) > 0 && (argv[0] == "sudo" || cronEnvRE.MatchString(argv[0])) {
			argv = argv[1:]
		}
		if len(argv) == 0 {
			continue
		}
		switch prog := filepath.Base(argv[0]); {
		case prog == "lxmount":
			out = append(out, argv)
		case (prog == "sh" || prog == "bash") && len(argv) >= 3 && argv[1] == "-c":
			inner, err := lxmountCommands(argv[2])
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
		default:
			if i := slices.Index(argv, "--"); i >= 0 && i+1 < len(argv) && filepath.Base(argv[i+1]) == "lxmount" {
				out = append(out, argv[i+1:])
			}
		}
	}
	return out, nil
}

func TestShellCommandLines(t *testing.T) {
	for _, tc := range []struct {
		line string
		want [][]string
	}{
		{"/usr/local/bin/lxmount reconcile 2>&1 | /usr/bin/logger -t x", [][]string{{"/usr/local/bin/lxmount", "reconcile"}}},
		{`/bin/sh -c '/usr/local/bin/lxmount status >/dev/null'`, [][]string{{"/usr/local/bin/lxmount", "status"}}},
		{"kubectl -n lxmount exec ds/lxmount -- lxmount status", [][]string{{"lxmount", "status"}}},
		{"lxmount reconcile --dry-run   # what a reconcile would do", [][]string{{"lxmount", "reconcile", "--dry-run"}}},
		{"install -m 0755 bin/lxmount /usr/local/bin/lxmount", nil},
		{"lxmount status > out.txt && lxmount status --json", [][]string{{"lxmount", "status"}, {"lxmount", "status", "--json"}}},
	} {
		got, err := lxmountCommands(tc.line)
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: got %q, want %q", tc.line, got, tc.want)
		}
	}
}
