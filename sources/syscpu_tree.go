package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// hostSysCPU is the host's CPU directory, relative to the sysfs root.
const hostSysCPU = "devices/system/cpu"

// maxSysFile bounds a passed-through sysfs file: attributes hold at most a
// page (fs/sysfs/file.c), binary ones are not CPU topology.
const maxSysFile = 1 << 20

// treeFuncs serve a virtual directory tree (File.IsDir). Paths are
// relative to the file's target, clean, "" for the target itself.
type treeFuncs struct {
	stat   func(c *Container, rel string) (TreeNode, error)
	list   func(c *Container, rel string) ([]TreeNode, error)
	render func(c *Container, rel string, buf *bytes.Buffer) error
}

// sysCPUTree serves /sys/devices/system/cpu (see syscpu.go).
var sysCPUTree = &treeFuncs{stat: statSysCPU, list: listSysCPU, render: renderSysCPU}

// IsDir reports whether f is a directory tree rather than one file: its
// content is served with TreeStat, TreeList and TreeRender.
func (f File) IsDir() bool { return f.tree != nil }

// checkRel refuses a path that is not clean and relative, or climbs out.
func checkRel(f File, rel string) error {
	if rel == "" {
		return nil
	}
	if path.Clean(rel) != rel || path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("%s: bad path %q: %w", f.Name, rel, unix.ENOENT)
	}
	return nil
}

// TreeStat describes the path rel of the directory tree f.
func (c *Container) TreeStat(f File, rel string) (TreeNode, error) {
	if f.tree == nil {
		return TreeNode{}, fmt.Errorf("%s: not a directory: %w", f.Name, unix.ENOTDIR)
	}
	if err := checkRel(f, rel); err != nil {
		return TreeNode{}, err
	}
	n, err := f.tree.stat(c, rel)
	if err != nil {
		return TreeNode{}, fmt.Errorf("stat %s/%s: %w", f.Name, rel, err)
	}
	return n, nil
}

// TreeList lists the directory rel of the tree f.
func (c *Container) TreeList(f File, rel string) ([]TreeNode, error) {
	if f.tree == nil {
		return nil, fmt.Errorf("%s: not a directory: %w", f.Name, unix.ENOTDIR)
	}
	if err := checkRel(f, rel); err != nil {
		return nil, err
	}
	l, err := f.tree.list(c, rel)
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", f.Name, rel, err)
	}
	return l, nil
}

// TreeRender writes the content of the file rel of the tree f.
func (c *Container) TreeRender(f File, rel string, buf *bytes.Buffer) error {
	if f.tree == nil {
		return fmt.Errorf("%s: not a directory: %w", f.Name, unix.ENOTDIR)
	}
	if err := checkRel(f, rel); err != nil {
		return err
	}
	if err := f.tree.render(c, rel, buf); err != nil {
		return fmt.Errorf("render %s/%s: %w", f.Name, rel, err)
	}
	return nil
}

// hostSysCPUPath is the host path of rel, relative to the host's CPU directory.
func (c *Container) hostSysCPUPath(rel string) string {
	return filepath.Join(c.Host.sys(hostSysCPU), rel)
}

// statSysCPU is the tree's stat.
func statSysCPU(c *Container, rel string) (TreeNode, error) {
	visible, err := c.visibleCPUs()
	if err != nil {
		return TreeNode{}, err
	}
	p := resolveSysCPU(visible, rel)
	name := path.Base(rel)
	if rel == "" {
		name = "cpu"
	}
	if p.kind == sysCPUMissing {
		return TreeNode{}, unix.ENOENT
	}
	n, err := lstatNode(c.hostSysCPUPath(p.host), name)
	switch {
	case err == nil:
		return n, nil
	case !errors.Is(err, fs.ErrNotExist):
		return TreeNode{}, err
	case p.kind == sysCPUAll || p.kind == sysCPUNone:
		return TreeNode{Name: name, Mode: 0o444}, nil
	case p.kind == sysCPUOnline:
		// x86 has no cpu0/online unless CPU 0 can be unplugged
		// (arch/x86/kernel/topology.c); every visible CPU is online.
		return TreeNode{Name: name, Mode: 0o644}, nil
	}
	return TreeNode{}, err
}

// lstatNode describes the host path p, not following a symlink.
func lstatNode(p, name string) (TreeNode, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return TreeNode{}, err
	}
	n := TreeNode{Name: name, Mode: fi.Mode() & (fs.ModeType | fs.ModePerm)}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if n.Link, err = os.Readlink(p); err != nil {
			return TreeNode{}, err
		}
	}
	return n, nil
}

// listSysCPU is the tree's directory listing.
func listSysCPU(c *Container, rel string) ([]TreeNode, error) {
	visible, err := c.visibleCPUs()
	if err != nil {
		return nil, err
	}
	p := resolveSysCPU(visible, rel)
	if p.kind == sysCPUMissing {
		return nil, unix.ENOENT
	}
	if p.kind != sysCPUPass {
		return nil, unix.ENOTDIR
	}
	ents, err := os.ReadDir(c.hostSysCPUPath(p.host))
	if err != nil {
		return nil, err
	}
	var out []TreeNode
	have := map[string]bool{}
	for _, e := range ents {
		if _, isCPU := cpuDirIndex(e.Name()); isCPU && rel == "" {
			continue // the visible CPUs' directories come below
		}
		have[e.Name()] = true
		out = append(out, TreeNode{Name: e.Name(), Mode: e.Type()})
	}
	var extra []string
	switch {
	case rel == "":
		for k := range visible {
			out = append(out, TreeNode{Name: "cpu" + strconv.Itoa(k), Mode: fs.ModeDir})
		}
		extra = []string{"online", "possible", "present", "offline"}
	case !strings.Contains(rel, "/"):
		extra = []string{"online"} // a cpuK directory
	}
	for _, name := range extra {
		if !have[name] {
			out = append(out, TreeNode{Name: name})
		}
	}
	return out, nil
}

// renderSysCPU renders one file of the tree.
func renderSysCPU(c *Container, rel string, buf *bytes.Buffer) error {
	visible, err := c.visibleCPUs()
	if err != nil {
		return err
	}
	p := resolveSysCPU(visible, rel)
	switch p.kind {
	case sysCPUMissing:
		return unix.ENOENT
	case sysCPUAll:
		writeCPUOnline(buf, len(visible))
		return nil
	case sysCPUNone:
		buf.WriteByte('\n')
		return nil
	case sysCPUOnline:
		buf.WriteString("1\n")
		return nil
	case sysCPUPackageID, sysCPUCoreID:
		return c.writeTopologyID(buf, visible, p)
	}
	host, err := readSysFile(c.hostSysCPUPath(p.host))
	if err != nil {
		return err
	}
	switch p.kind {
	case sysCPUList:
		err = RenumberCPUList(buf, host, visible)
	case sysCPUMask:
		err = RenumberCPUMask(buf, host, visible)
	default:
		buf.Write(host)
		return nil
	}
	if err != nil {
		// Not a list after all (nohz_full prints "(null)" when unset):
		// the host's text, which names no CPU.
		buf.Reset()
		buf.Write(host)
	}
	return nil
}

// writeTopologyID writes the renumbered package or core id of p's CPU,
// reading the host ids of every visible CPU.
func (c *Container) writeTopologyID(buf *bytes.Buffer, visible []int, p sysCPUPath) error {
	ids := CPUTopologyIDs{Package: make([]int, len(visible)), Core: make([]int, len(visible))}
	k := -1
	for i, cpu := range visible {
		if cpu == p.cpu {
			k = i
		}
		dir := c.hostSysCPUPath(filepath.Join("cpu"+strconv.Itoa(cpu), "topology"))
		ids.Package[i] = readSysInt(filepath.Join(dir, "physical_package_id"))
		ids.Core[i] = readSysInt(filepath.Join(dir, "core_id"))
	}
	if k < 0 {
		return unix.ENOENT
	}
	pkg, core := RenumberTopology(ids)
	v := core[k]
	if p.kind == sysCPUPackageID {
		v = pkg[k]
	}
	buf.WriteString(strconv.Itoa(v))
	buf.WriteByte('\n')
	return nil
}

// readSysInt reads a sysfs file holding one integer, -1 if it cannot.
func readSysInt(p string) int {
	b, err := readSysFile(p)
	if err != nil {
		return -1
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		return -1
	}
	return v
}

// readSysFile reads a host sysfs file, not following a symlink in its
// last component, with raw system calls (no poller registration).
// Errors are *os.PathError.
func readSysFile(p string) ([]byte, error) {
	fd, err := openRetry(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
		if len(out) > maxSysFile {
			return nil, &os.PathError{Op: "read", Path: p, Err: unix.EFBIG}
		}
	}
}
