package supervisor

import (
	"bytes"

	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/vfs"
)

// entryFor is the vfs entry that serves the virtual file f for the
// container src returns (an error: none yet, as for a spare not taken):
// a file rendered whole, or a directory tree (sources.File.IsDir).
func entryFor(f sources.File, src func() (*sources.Container, error)) vfs.Entry {
	if f.IsDir() {
		return vfs.Entry{Name: f.Name, Dir: treeDir{f: f, src: src}}
	}
	return vfs.Entry{Name: f.Name, Render: func(b *bytes.Buffer) error {
		c, err := src()
		if err != nil {
			return err
		}
		return c.Render(f, b)
	}}
}

// boundTo is the src of entryFor for a container known at mount time.
func boundTo(c *sources.Container) func() (*sources.Container, error) {
	return func() (*sources.Container, error) { return c, nil }
}

// treeDir serves a sources directory tree as a vfs.Dir.
type treeDir struct {
	f   sources.File
	src func() (*sources.Container, error)
}

var _ vfs.Dir = treeDir{}

func (d treeDir) Stat(path string) (vfs.DirNode, error) {
	c, err := d.src()
	if err != nil {
		return vfs.DirNode{}, err
	}
	n, err := c.TreeStat(d.f, path)
	return vfs.DirNode(n), err
}

func (d treeDir) List(path string) ([]vfs.DirNode, error) {
	c, err := d.src()
	if err != nil {
		return nil, err
	}
	l, err := c.TreeList(d.f, path)
	out := make([]vfs.DirNode, len(l))
	for i, n := range l {
		out[i] = vfs.DirNode(n)
	}
	return out, err
}

func (d treeDir) Render(path string, buf *bytes.Buffer) error {
	c, err := d.src()
	if err != nil {
		return err
	}
	return c.TreeRender(d.f, path, buf)
}
