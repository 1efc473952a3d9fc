package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// record is what one runtime state entry says about one container.
type record struct {
	runtime     string
	id          string
	bundle      string
	annotations map[string]string
	pid         int
	start       uint64    // init's start time in clock ticks since boot; 0: not recorded
	pidFileTime time.Time // when start is 0: modification time of the file pid came from
	dockerDir   string    // <data-root>/containers if the mounts are Docker's (see dockerContainersDir)
}

// readSources reads every source in order, through cache (nil: none).
// Missing directories and unreadable or malformed entries are skipped:
// runtime state only adds names to what procfs already proved.
func readSources(srcs []Source, cache *Cache) []record {
	var recs []record
	for _, src := range srcs {
		switch src.Format {
		case RuncState:
			recs = append(recs, readRuncRoot(src, cache)...)
		case CrunState:
			recs = append(recs, readCrunRoot(src, cache)...)
		case ContainerdTasks:
			recs = append(recs, readContainerdTasks(src, cache)...)
		}
	}
	return recs
}

// subdirs returns the names of the directories in dir, nil if dir cannot be
// read.
func subdirs(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// runcState is the part of runc's <root>/<id>/state.json discovery reads
// (libcontainer.State):
//
//	{"id": "c1", "init_process_pid": 14287, "init_process_start": 106237,
//	 "config": {"labels": ["io.kubernetes.pod.name=p1", "bundle=/b"],
//	            "mounts": [{"source": "/d/containers/c1/hostname", "destination": "/etc/hostname", ...}, ...], ...}, ...}
//
// runc (libcontainer/specconv) stores every OCI annotation as a label
// "<key>=<value>" and appends "bundle=<dir>"; the mounts keep the OCI
// spec's source and destination.
type runcState struct {
	ID               string   `json:"id"`
	InitProcessPID   int      `json:"init_process_pid"`
	InitProcessStart flexUint `json:"init_process_start"`
	Config           struct {
		Labels []string `json:"labels"`
		Mounts []mount  `json:"mounts"`
	} `json:"config"`
}

// mount is the part of a mount discovery reads, the same in an OCI
// config.json and in runc's state.json.
type mount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// flexUint is an unsigned number written either as a JSON number or as a
// string: runc before 1.0 wrote init_process_start as a string.
type flexUint uint64

// UnmarshalJSON implements json.Unmarshaler.
func (u *flexUint) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseUint(string(bytes.Trim(b, `"`)), 10, 64)
	if err != nil {
		return fmt.Errorf("unsigned number %s: %w", b, err)
	}
	*u = flexUint(v)
	return nil
}

// parseRuncState parses a runc state.json into a record without runtime.
func parseRuncState(r io.Reader) (record, error) {
	var st runcState
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return record{}, err
	}
	if st.InitProcessPID <= 0 {
		return record{}, fmt.Errorf("init_process_pid %d", st.InitProcessPID)
	}
	rec := record{id: st.ID, pid: st.InitProcessPID, start: uint64(st.InitProcessStart),
		dockerDir: dockerContainersDir(st.Config.Mounts)}
	for _, l := range st.Config.Labels {
		k, v, _ := strings.Cut(l, "=")
		if k == "bundle" {
			rec.bundle = v // runc appends it last: it wins over an annotation "bundle"
			continue
		}
		if rec.annotations == nil {
			rec.annotations = map[string]string{}
		}
		rec.annotations[k] = v
	}
	return rec, nil
}

// readRuncRoot reads <src.Dir>/<id>/state.json for every id.
func readRuncRoot(src Source, cache *Cache) []record {
	var recs []record
	for _, id := range subdirs(src.Dir) {
		rec, err := readParsed(cache, filepath.Join(src.Dir, id, "state.json"), parseRuncState)
		if err != nil {
			continue
		}
		if rec.id == "" {
			rec.id = id
		}
		rec.runtime = runtimeName(src, "", rec.annotations)
		recs = append(recs, rec)
	}
	return recs
}

// crunStatus is the part of crun's <root>/<id>/status discovery reads
// (libcrun/status.c):
//
//	{"pid": 139179, "process-start-time": 263473330, "cgroup-path": "/c1",
//	 "rootfs": "rootfs", "bundle": "/home/u/c1", "created": "...", ...}
type crunStatus struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"process-start-time"`
	Bundle    string `json:"bundle"`
}

// parseCrunStatus parses a crun status file into a record without id,
// annotations and runtime.
func parseCrunStatus(r io.Reader) (record, error) {
	var st crunStatus
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return record{}, err
	}
	if st.PID <= 0 {
		return record{}, fmt.Errorf("pid %d", st.PID)
	}
	return record{pid: st.PID, start: st.StartTime, bundle: st.Bundle}, nil
}

// readCrunRoot reads <src.Dir>/<id>/status and the annotations of the
// config.json crun keeps next to it, for every id.
func readCrunRoot(src Source, cache *Cache) []record {
	var recs []record
	for _, id := range subdirs(src.Dir) {
		dir := filepath.Join(src.Dir, id)
		rec, err := readParsed(cache, filepath.Join(dir, "status"), parseCrunStatus)
		if err != nil {
			continue
		}
		rec.id = id
		cfg := readBundleConfig(cache, filepath.Join(dir, "config.json"))
		rec.annotations, rec.dockerDir = cfg.annotations, cfg.dockerDir
		rec.runtime = runtimeName(src, "", rec.annotations)
		recs = append(recs, rec)
	}
	return recs
}

// readContainerdTasks reads <src.Dir>/<namespace>/<id>/init.pid, its
// modification time and the annotations and mounts of config.json there
// (the bundle the v2 shim hands to runc), for every namespace and id. A task still
// being created has no init.pid yet and is skipped.
func readContainerdTasks(src Source, cache *Cache) []record {
	var recs []record
	for _, ns := range subdirs(src.Dir) {
		for _, id := range subdirs(filepath.Join(src.Dir, ns)) {
			bundle := filepath.Join(src.Dir, ns, id)
			pid, mtime, err := readPIDFile(filepath.Join(bundle, "init.pid"))
			if err != nil {
				continue
			}
			cfg := readBundleConfig(cache, filepath.Join(bundle, "config.json"))
			recs = append(recs, record{
				runtime:     runtimeName(src, ns, cfg.annotations),
				id:          id,
				bundle:      bundle,
				annotations: cfg.annotations,
				pid:         pid,
				pidFileTime: mtime,
				dockerDir:   cfg.dockerDir,
			})
		}
	}
	return recs
}

// readPIDFile returns the PID in path (one decimal number, as runc
// --pid-file writes it) and the file's modification time.
func readPIDFile(path string) (int, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, time.Time{}, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0, time.Time{}, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, time.Time{}, fmt.Errorf("%s: pid %q", path, b)
	}
	return pid, fi.ModTime(), nil
}

// ociConfig is the part of an OCI runtime config.json discovery reads.
type ociConfig struct {
	Annotations map[string]string `json:"annotations"`
	Mounts      []mount           `json:"mounts"`
}

// bundleConfig is what discovery keeps of an OCI config.json.
type bundleConfig struct {
	annotations map[string]string // nil if there are none
	dockerDir   string            // see dockerContainersDir
}

// parseBundleConfig parses an OCI config.json.
func parseBundleConfig(r io.Reader) (bundleConfig, error) {
	var cfg ociConfig
	if err := json.NewDecoder(r).Decode(&cfg); err != nil {
		return bundleConfig{}, err
	}
	bc := bundleConfig{dockerDir: dockerContainersDir(cfg.Mounts)}
	if len(cfg.Annotations) > 0 {
		bc.annotations = cfg.Annotations
	}
	return bc, nil
}

// readBundleConfig returns what the OCI config.json at path says, through
// cache; the zero value if the file cannot be read or parsed.
func readBundleConfig(cache *Cache, path string) bundleConfig {
	bc, _ := readParsed(cache, path, parseBundleConfig)
	return bc
}

// dockerContainersDir returns Docker's <data-root>/containers directory,
// found through the files dockerd bind-mounts into each of its containers
// (daemon/oci_linux.go, container/container_unix.go):
//
//	{"destination": "/etc/hostname", "source": "<data-root>/containers/<id>/hostname", ...}
//	{"destination": "/etc/hosts", "source": "<data-root>/containers/<id>/hosts", ...}
//	{"destination": "/etc/resolv.conf", "source": "<data-root>/containers/<id>/resolv.conf", ...}
//
// so it works for any --data-root. The <id> there is not always the
// container's own: with --network container:<other> the three files are the
// other container's, which is why only the directory is kept (nameStore
// reads <dir>/<id>/config.v2.json for the container's own id). A file the
// user bound over one of them (-v x:/etc/hostname) has another source; the
// next is tried. "" if no mount has this shape.
func dockerContainersDir(mounts []mount) string {
	for _, m := range mounts {
		switch m.Destination {
		case "/etc/hostname", "/etc/hosts", "/etc/resolv.conf":
		default:
			continue
		}
		if !filepath.IsAbs(m.Source) || filepath.Base(m.Source) != filepath.Base(m.Destination) {
			continue
		}
		dir := filepath.Dir(filepath.Dir(filepath.Clean(m.Source)))
		if filepath.Base(dir) == "containers" {
			return dir
		}
	}
	return ""
}

// runtimeName returns the Container.Runtime for a record of src: src.Runtime
// if set, else derived from the annotations and the containerd namespace
// (ns, "" for other formats), else from the format.
func runtimeName(src Source, ns string, ann map[string]string) string {
	if src.Runtime != "" {
		return src.Runtime
	}
	switch {
	case ann[annContainerManager] == containerManagerLibpd:
		return "podman"
	case ann[annCRIOContainerID] != "":
		return "cri-o" // Podman also sets some io.kubernetes.cri-o.* keys, never this one
	}
	switch src.Format {
	case RuncState:
		return "runc"
	case CrunState:
		return "crun"
	case ContainerdTasks:
		if ns == "moby" {
			return "docker" // dockerd runs its containers in containerd namespace "moby"
		}
		return "containerd"
	}
	return ""
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat starttime. The kernel
// reports 100 on every architecture Go supports (include/asm-generic/param.h;
// only alpha and ia64 differ), which is also what sysconf(_SC_CLK_TCK)
// returns there.
const clockTicks = 100

// pidFileSlack is how much later than its pid file's modification time a
// process may appear to have started and still be taken for the process the
// file names: the start time derived from /proc/uptime and starttime is
// exact to a tick, but file times and the wall clock are not.
const pidFileSlack = 2 * time.Second

// match checks every record against the procfs: the PID must be a live
// process outside the host's mount namespace with the recorded start time
// (or, without one, started before the pid file was written). It returns
// the records that pass, by PID, in source order, and adds their processes
// to s.procs so that a container sharing the host's pid namespace is
// grouped too.
func (s *scanner) match(recs []record) (map[int][]record, error) {
	byPID := map[int][]record{}
	var boot time.Time
	for _, r := range recs {
		p := s.procs[r.pid]
		if p == nil {
			var err error
			if p, err = s.readProc(r.pid); err != nil {
				if errors.Is(err, fs.ErrPermission) {
					continue // not a container's process, see load
				}
				return nil, err
			}
			if p == nil {
				continue // stale: the container is gone
			}
		}
		if p.mntNS == s.hostMnt {
			continue
		}
		switch {
		case r.start != 0:
			if r.start != p.start {
				continue // the PID was reused
			}
		case !r.pidFileTime.IsZero():
			if boot.IsZero() {
				var err error
				if boot, err = readBootTime(s.root); err != nil {
					return nil, err
				}
			}
			started := boot.Add(time.Duration(p.start) * time.Second / clockTicks)
			if started.After(r.pidFileTime.Add(pidFileSlack)) {
				continue // started after the pid file was written: the PID was reused
			}
		}
		s.procs[p.pid] = p
		byPID[r.pid] = append(byPID[r.pid], r)
	}
	return byPID, nil
}

// readBootTime returns the wall-clock time of boot as now minus the first
// field of <root>/uptime (seconds since boot, two decimals; proc(5)).
func readBootTime(root string) (time.Time, error) {
	path := filepath.Join(root, "uptime")
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Time{}, fmt.Errorf("%s: empty", path)
	}
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: line %q: %w", path, strings.TrimSpace(string(b)), err)
	}
	return now.Add(-time.Duration(up * float64(time.Second))), nil
}

// applyRecords fills c's runtime fields from recs, the matching records in
// source order: the first record that names a runtime sets Runtime and ID,
// later ones only fill in what is still missing (Docker's containers appear
// both in its runc root and in containerd's task directory). The name comes
// from the annotations, else from Podman's container store or Docker's
// config.v2.json, else the ID.
func applyRecords(c *Container, recs []record, store *nameStore) {
	dockerDir := ""
	for _, r := range recs {
		if dockerDir == "" {
			dockerDir = r.dockerDir
		}
		if c.Runtime == "" {
			c.Runtime, c.ID = r.runtime, r.id
		}
		if c.Bundle == "" {
			c.Bundle = r.bundle
		}
		for k, v := range r.annotations {
			if c.Annotations == nil {
				c.Annotations = make(map[string]string, len(r.annotations))
			}
			if _, ok := c.Annotations[k]; !ok {
				c.Annotations[k] = v
			}
		}
	}
	if len(recs) == 0 {
		return
	}
	if c.Runtime != "docker" {
		dockerDir = ""
	}
	c.Name = store.name(c.Annotations, c.Bundle, c.ID, dockerDir)
	if c.Name == "" {
		c.Name = c.ID
	}
}

// BundleName returns the name of container id whose OCI bundle is the
// directory bundle, by the rules Scan names containers with, from what
// exists while the runtime creates it: the annotations of
// <bundle>/config.json, Podman's container store, Docker's config.v2.json
// (found through the bundle's /etc/hostname mount); "" when none names it.
// It is for callers that learn of a container from its runtime (an OCI
// createRuntime hook) before the runtime's state files are written: runc
// saves state.json and --pid-file only after the hooks ran, so Scan has no
// record of the container then.
func BundleName(bundle, id string) string {
	cfg := readBundleConfig(nil, filepath.Join(bundle, "config.json"))
	return newNameStore(nil).name(cfg.annotations, bundle, id, cfg.dockerDir)
}

// name returns the name of container id from its annotations, else from
// Podman's store (for a container annotated io.container.manager=libpod,
// whose bundle is in Podman's layout), else from Docker's config.v2.json
// in dockerDir (when not ""); "" if none names it.
func (n *nameStore) name(ann map[string]string, bundle, id, dockerDir string) string {
	if name := nameFromAnnotations(ann); name != "" {
		return name
	}
	if ann[annContainerManager] == containerManagerLibpd {
		if name := n.podman(bundle, id); name != "" {
			return name
		}
	}
	if dockerDir != "" {
		return n.docker(dockerDir, id)
	}
	return ""
}

// nameStore looks up the container names runtimes keep outside the OCI
// spec: in the containers.json files of containers/storage, the store
// Podman (and CRI-O) keep their containers in, each read at most once per
// Scan; and in Docker's config.v2.json, one per container.
type nameStore struct {
	cache *Cache
	files map[string]map[string]string // containers.json path -> id -> first name
}

// newNameStore returns an empty nameStore reading through cache (nil:
// none).
func newNameStore(cache *Cache) *nameStore {
	return &nameStore{cache: cache, files: map[string]map[string]string{}}
}

// storeContainer is one entry of containers/storage's containers.json:
//
//	[{"id": "28fadb...", "names": ["web"], "layer": "...", "metadata": "...", ...}]
type storeContainer struct {
	ID    string   `json:"id"`
	Names []string `json:"names"`
}

// parseStoreContainers parses a containers/storage containers.json into id ->
// first name.
func parseStoreContainers(r io.Reader) (map[string]string, error) {
	var list []storeContainer
	if err := json.NewDecoder(r).Decode(&list); err != nil {
		return nil, err
	}
	names := make(map[string]string, len(list))
	for _, c := range list {
		if len(c.Names) > 0 {
			names[c.ID] = c.Names[0]
		}
	}
	return names, nil
}

// podman returns the name of container id whose bundle is
// <graphroot>/<driver>-containers/<id>/userdata, Podman's layout, from
// <graphroot>/<driver>-containers/containers.json; "" if unknown.
func (n *nameStore) podman(bundle, id string) string {
	if bundle == "" || filepath.Base(bundle) != "userdata" {
		return ""
	}
	path := filepath.Join(filepath.Dir(filepath.Dir(bundle)), "containers.json")
	names, ok := n.files[path]
	if !ok {
		names, _ = readParsed(n.cache, path, parseStoreContainers)
		n.files[path] = names
	}
	return names[id]
}

// dockerContainer is the part of Docker's <data-root>/containers/<id>/config.v2.json
// (container.Container) discovery reads:
//
//	{"StreamConfig": {}, "State": {...}, "ID": "d858273d...", "Created": "...",
//	 "Path": "/bin/sleep", ..., "Name": "/web", "Driver": "overlay2", ...}
//
// Name carries a leading "/" (the root of Docker's legacy link graph).
type dockerContainer struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
}

// parseDockerContainer parses a Docker config.v2.json.
func parseDockerContainer(r io.Reader) (dockerContainer, error) {
	var c dockerContainer
	if err := json.NewDecoder(r).Decode(&c); err != nil {
		return dockerContainer{}, err
	}
	return c, nil
}

// docker returns the name of Docker container id from
// <dir>/<id>/config.v2.json, dir being <data-root>/containers (see
// dockerContainersDir), without the leading "/"; "" if unknown or if the
// file is another container's. dockerd replaces the file by rename when
// the container changes (docker rename, start, stop), so the cache sees a
// new file.
func (n *nameStore) docker(dir, id string) string {
	if id == "" || strings.ContainsRune(id, '/') {
		return ""
	}
	c, err := readParsed(n.cache, filepath.Join(dir, id, "config.v2.json"), parseDockerContainer)
	if err != nil || c.ID != id {
		return ""
	}
	return strings.TrimPrefix(c.Name, "/")
}
