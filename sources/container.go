package sources

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// Host says where the host's own kernel files are. Tests point it at a
// fixture tree; the daemon uses "/proc" and "/sys".
type Host struct {
	ProcRoot string // host procfs, normally "/proc"
	SysRoot  string // host sysfs, normally "/sys"
}

// DefaultHost is the running kernel's /proc and /sys.
func DefaultHost() Host { return Host{ProcRoot: "/proc", SysRoot: "/sys"} }

// proc returns the path of a file below the host's procfs root.
func (h Host) proc(name string) string { return filepath.Join(h.ProcRoot, name) }

// sys returns the path of a file below the host's sysfs root.
func (h Host) sys(name string) string { return filepath.Join(h.SysRoot, name) }

// Cgroup locates one container's cgroup directories (absolute paths on the
// host). On a cgroup v1 or hybrid host V1 maps each controller that the
// container belongs to ("memory", "cpu", "cpuacct", "cpuset", "blkio",
// "pids") to its directory; V2 is the unified directory when the host has a
// cgroup2 hierarchy. A reader prefers the v1 controller directory when it
// exists and falls back to V2, so hybrid hosts (v1 controllers plus an
// unified tree that only holds pressure files) work.
type Cgroup struct {
	V1 map[string]string
	V2 string
}

// Controller returns the v1 directory of the named controller, or "".
func (c Cgroup) Controller(name string) string { return c.V1[name] }

// CPUView chooses how many CPUs a container sees.
type CPUView string

const (
	// CPUViewQuota limits the visible CPUs to the cpuset, further cut to
	// ceil(quota/period) when a CFS quota is set. The default.
	CPUViewQuota CPUView = "quota"
	// CPUViewCpuset shows exactly the cgroup's effective cpuset.
	CPUViewCpuset CPUView = "cpuset"
)

// SwapMode chooses what a container sees as swap.
type SwapMode string

const (
	// SwapCgroup derives swap from the cgroup's swap limit and usage. The default.
	SwapCgroup SwapMode = "cgroup"
	// SwapNone shows no swap at all.
	SwapNone SwapMode = "none"
	// SwapHost shows the host's swap unchanged.
	SwapHost SwapMode = "host"
)

// UptimeSource chooses the origin of /proc/uptime (and of sysinfo's
// uptime). See ResolveUptime for why the default depends on the container.
type UptimeSource string

const (
	// UptimeAuto is UptimeContainer for a container attached before its
	// first instruction, UptimeHost for one attached while it runs
	// (ResolveUptime). The default. A Container given it unresolved
	// renders as UptimeContainer.
	UptimeAuto UptimeSource = "auto"
	// UptimeContainer counts from the container's init start.
	UptimeContainer UptimeSource = "container"
	// UptimeHost shows the host's uptime.
	UptimeHost UptimeSource = "host"
)

// Options are the per-container rendering choices a policy makes.
type Options struct {
	CPUView  CPUView
	Swap     SwapMode
	Uptime   UptimeSource
	Affinity AffinityMode // sched_getaffinity(2), see sysinfo.go
}

// DefaultOptions is what a container gets when no policy says otherwise.
func DefaultOptions() Options {
	return Options{CPUView: CPUViewQuota, Swap: SwapCgroup, Uptime: UptimeAuto, Affinity: AffinityHost}
}

// Container is one container's static binding as the renderers see it. It
// is created once at attach time and never looks up a PID afterwards.
// Render is safe for concurrent use.
type Container struct {
	Host    Host
	Cgroup  Cgroup
	Options Options
	// InitStart is when the container's init process started (wall clock).
	InitStart time.Time

	mu    sync.Mutex
	state renderState

	// files keeps the kernel files the readers use open (see fileCache).
	files fileCache
	// cpuinfo is the host's /proc/cpuinfo text, reused for a while.
	cpuinfo hostCpuinfo
	// bufs holds *[]byte scratch buffers for the files' content.
	bufs sync.Pool
}

// NewContainer binds renderers to one container.
func NewContainer(host Host, cg Cgroup, initStart time.Time, opts Options) *Container {
	return &Container{Host: host, Cgroup: cg, InitStart: initStart, Options: opts}
}

// Close closes the kernel files the container keeps open. It is safe to
// render again afterwards (files are opened again). An unused container
// closes them by itself after a minute.
func (c *Container) Close() { c.files.close() }

// read reads the whole kernel file dir/name through the container's
// file cache into dst's storage; see fileCache.
func (c *Container) read(dir, name string, dst []byte) ([]byte, error) {
	return c.files.read(dir, name, dst)
}

// getBuf returns a scratch buffer, empty, for a file's content. The
// caller stores the slice it read into it and hands it back to putBuf,
// so that a buffer grown once stays grown.
func (c *Container) getBuf() *[]byte {
	if p, ok := c.bufs.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, 4096)
	return &b
}

// putBuf returns a buffer of getBuf.
func (c *Container) putBuf(p *[]byte) {
	*p = (*p)[:0]
	c.bufs.Put(p)
}

// fileReader returns a reader through the container's file cache with a
// scratch buffer; release it with putReader.
func (c *Container) fileReader() *fileReader {
	p := c.getBuf()
	return &fileReader{read: c.read, dirs: c.files.readDir, tasks: &c.files.tasks, counts: c.files.cgroupCounts, buf: *p}
}

// putReader keeps r's buffer for the next fileReader.
func (c *Container) putReader(r *fileReader) {
	b := r.buf[:0]
	c.putBuf(&b)
}

// Render writes the current content of f for this container into buf.
func (c *Container) Render(f File, buf *bytes.Buffer) error {
	if f.render == nil {
		return fmt.Errorf("render %s: no renderer", f.Name)
	}
	if err := f.render(c, time.Now(), buf); err != nil {
		return fmt.Errorf("render %s: %w", f.Name, err)
	}
	return nil
}
