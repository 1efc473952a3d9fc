package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// mapDir is a Dir made of a map: path -> content for files, "dir:" for
// directories, "link:<target>" for symlinks.
type mapDir map[string]string

func (m mapDir) Stat(p string) (DirNode, error) {
	if p == "" {
		return DirNode{Name: "", Mode: os.ModeDir | 0o555}, nil
	}
	v, ok := m[p]
	if !ok {
		return DirNode{}, fmt.Errorf("stat %s: %w", p, syscall.ENOENT)
	}
	name := filepath.Base(p)
	switch {
	case v == "dir:":
		return DirNode{Name: name, Mode: os.ModeDir | 0o755}, nil
	case strings.HasPrefix(v, "link:"):
		return DirNode{Name: name, Mode: os.ModeSymlink | 0o777, Link: strings.TrimPrefix(v, "link:")}, nil
	}
	return DirNode{Name: name, Mode: 0o444}, nil
}

func (m mapDir) List(p string) ([]DirNode, error) {
	var out []DirNode
	for k := range m {
		dir := filepath.Dir(k)
		if dir == "." {
			dir = ""
		}
		if dir == p {
			n, _ := m.Stat(k)
			out = append(out, n)
		}
	}
	return out, nil
}

func (m mapDir) Render(p string, buf *bytes.Buffer) error {
	v, ok := m[p]
	if !ok || v == "dir:" || strings.HasPrefix(v, "link:") {
		return fmt.Errorf("render %s: %w", p, syscall.ENOENT)
	}
	if v == "fail" {
		return errors.New("render failed")
	}
	buf.WriteString(v)
	return nil
}

func TestDirEntry(t *testing.T) {
	tree := mapDir{
		"online":           "0-1\n",
		"cpu0":             "dir:",
		"cpu0/online":      "1\n",
		"cpu0/topology":    "dir:",
		"cpu0/topology/id": "7\n",
		"cpu0/subsystem":   "link:../../bus/cpu",
		"broken":           "fail",
	}
	big := strings.Repeat("x", 10000)
	tree["big"] = big
	for i := range 300 { // a listing of several pages
		tree[fmt.Sprintf("cpu0/topology/f%03d", i)] = fmt.Sprintf("%d\n", i)
	}
	s := mountTest(t, []Entry{
		{Name: "meminfo", Render: func(b *bytes.Buffer) error { b.WriteString("m\n"); return nil }},
		{Name: "cpu", Dir: tree},
	})
	root := s.Path("cpu")
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		t.Fatalf("stat %s = %v, %v; want a directory", root, fi, err)
	}
	top, err := os.ReadDir(s.Dir())
	if err != nil || len(top) != 2 || !top[0].IsDir() || top[0].Name() != "cpu" {
		t.Fatalf("root lists %v, %v", top, err)
	}
	for p, want := range map[string]string{"online": "0-1\n", "cpu0/online": "1\n", "cpu0/topology/id": "7\n", "big": big, "cpu0/topology/f299": "299\n"} {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(got) != want {
			t.Errorf("read %s = %q, %v; want %q", p, got, err, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(root, "cpu0/subsystem")); err != nil || l != "../../bus/cpu" {
		t.Errorf("readlink = %q, %v", l, err)
	}
	ents, err := os.ReadDir(filepath.Join(root, "cpu0/topology"))
	if err != nil || len(ents) != 301 {
		t.Fatalf("topology lists %d entries, %v; want 301", len(ents), err)
	}
	names, _ := os.ReadDir(filepath.Join(root, "cpu0"))
	var got []string
	for _, e := range names {
		got = append(got, fmt.Sprintf("%s:%v", e.Name(), e.Type()))
	}
	slices.Sort(got)
	if want := []string{"online:----------", "subsystem:L---------", "topology:d---------"}; !slices.Equal(got, want) {
		t.Errorf("cpu0 lists %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(root, "cpu1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat cpu1 = %v, want ENOENT", err)
	}
	if _, err := os.ReadFile(filepath.Join(root, "broken")); !errors.Is(err, syscall.EIO) {
		t.Errorf("read broken = %v, want EIO", err)
	}
	if err := os.WriteFile(filepath.Join(root, "online"), []byte("0"), 0); err == nil {
		t.Error("write succeeded on a read-only tree")
	}
	// Partial reads: a snapshot per open, later offsets slice it.
	f, err := os.Open(filepath.Join(root, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sb strings.Builder
	buf := make([]byte, 7)
	for {
		n, err := f.Read(buf)
		sb.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if sb.String() != big {
		t.Errorf("7-byte reads gave %d bytes, want %d", sb.Len(), len(big))
	}
	if st := s.Stats(); st.Reads == 0 {
		t.Errorf("Stats.Reads = 0 after tree reads")
	}
}

func TestDirentSlice(t *testing.T) {
	data := []byte("aaaabbbbbbcc")
	ends := []int{4, 10, 12}
	tests := []struct {
		off  int64
		size int
		want string
	}{
		{0, 100, "aaaabbbbbbcc"},
		{0, 11, "aaaabbbbbb"},
		{0, 3, ""},
		{4, 6, "bbbbbb"},
		{10, 2, "cc"},
		{12, 100, ""},
	}
	for _, tt := range tests {
		if got := string(direntSlice(data, ends, tt.off, tt.size)); got != tt.want {
			t.Errorf("direntSlice(%d, %d) = %q, want %q", tt.off, tt.size, got, tt.want)
		}
	}
}
