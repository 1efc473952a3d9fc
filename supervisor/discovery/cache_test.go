package discovery

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCache(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, "one")
	write(t, b, "bee")
	parses := 0
	parse := func(r io.Reader) (string, error) {
		parses++
		data, err := io.ReadAll(r)
		return strings.ToUpper(string(data)), err
	}
	var c Cache
	read := func(paths ...string) []string {
		t.Helper()
		end := c.begin()
		defer end()
		var got []string
		for _, p := range paths {
			v, err := readParsed(&c, p, parse)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		return got
	}
	// replace writes path anew the way runc does: a new file renamed over it.
	replace := func(path, content string) {
		t.Helper()
		write(t, path+".tmp", content)
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}

	steps := []struct {
		name       string
		change     func()
		read       []string
		want       []string
		wantParses int // total so far
		wantCached []string
	}{
		{name: "first scan parses", read: []string{a, b}, want: []string{"ONE", "BEE"}, wantParses: 2, wantCached: []string{a, b}},
		{name: "unchanged files are not parsed again", read: []string{a, b}, want: []string{"ONE", "BEE"}, wantParses: 2, wantCached: []string{a, b}},
		{name: "a replaced file is parsed again", change: func() { replace(a, "two") }, read: []string{a, b}, want: []string{"TWO", "BEE"}, wantParses: 3, wantCached: []string{a, b}},
		{name: "a file rewritten in place with another size is parsed again", change: func() { write(t, b, "bees") }, read: []string{a, b}, want: []string{"TWO", "BEES"}, wantParses: 4, wantCached: []string{a, b}},
		{name: "a file no longer read is dropped", read: []string{a}, want: []string{"TWO"}, wantParses: 4, wantCached: []string{a}},
	}
	for _, s := range steps {
		if s.change != nil {
			s.change()
		}
		got := read(s.read...)
		var cached []string
		for p := range c.entries {
			cached = append(cached, p)
		}
		if len(cached) == 2 && cached[0] > cached[1] {
			cached[0], cached[1] = cached[1], cached[0]
		}
		if !reflect.DeepEqual(got, s.want) || parses != s.wantParses || !reflect.DeepEqual(cached, s.wantCached) {
			t.Errorf("%s: got %v after %d parses, cached %v; want %v after %d, cached %v",
				s.name, got, parses, cached, s.want, s.wantParses, s.wantCached)
		}
	}
}

// TestScanCache checks that Scan with a Cache gives the same answer as
// without, before and after a runtime rewrites its state.
func TestScanCache(t *testing.T) {
	root := writeProcTree(t, stateProcs)
	srcs := writeState(t, []fstate{{format: RuncState, id: "c1", pid: 100, start: 500,
		annotations: map[string]string{annCRIContainerName: "app"}}})
	opts := Options{ProcRoot: root, Sources: srcs, Cache: &Cache{}}
	for i := range 2 {
		cs, err := Scan(opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].Name != "app" {
			t.Fatalf("scan %d: %+v, want one container named app", i, cs)
		}
		cs[0].Annotations["mutated"] = "by the caller" // must not reach the cache
	}
	state := filepath.Join(srcs[0].Dir, "c1", "state.json")
	writeJSON(t, state+".tmp", map[string]any{"id": "c1", "init_process_pid": 100, "init_process_start": 500,
		"config": map[string]any{"labels": []string{annCRIContainerName + "=renamed"}}})
	if err := os.Rename(state+".tmp", state); err != nil {
		t.Fatal(err)
	}
	cs, err := Scan(opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Name != "renamed" || cs[0].Annotations["mutated"] != "" {
		t.Fatalf("after the rewrite: %+v, want one container named renamed, annotations as in the file", cs)
	}
}
