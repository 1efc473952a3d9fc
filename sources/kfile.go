package sources

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// fileCache keeps the kernel files a container's readers use open and
// re-reads each with one pread(2) at offset 0. Cgroup, /proc and sysfs
// files are seq_files (fs/seq_file.c seq_read_iter): a read at offset 0
// generates the content afresh, as an open of the path would, so the
// cache changes no value, only the cost: a pread of memory.limit_in_bytes
// takes about 0.5 µs where open, read, read and close take 3.5 µs (and
// os.ReadFile, with its fstat and poller registration, 7 µs).
//
// What it holds:
//   - a descriptor per file read at least once, opened on first use;
//   - the files found missing (ENOENT), for missingRetry, so that the
//     absent files a reader probes for (e.g. CFQ's blkio.io_* on kernels
//     without CFQ) cost no path walk at every read;
//   - nothing once the container has been idle for idleClose: the timer
//     closes every descriptor, so an idle container holds none, and a
//     detached container's descriptors go with it.
//
// A descriptor that fails with ENODEV or ESTALE (its cgroup was removed,
// kernfs_fop_read_iter on a deactivated node) is dropped and the path
// opened again once: a cgroup recreated under the same path is read, as
// the uncached readers would.
type fileCache struct {
	mu      sync.RWMutex
	fds     map[fileKey]int
	missing map[fileKey]time.Time
	timer   *time.Timer
	used    atomic.Bool // read since the timer last fired

	tasks taskFiles
}

// readFunc reads the whole kernel file dir/name into dst's storage (grown
// as needed) and returns it. Errors are *os.PathError naming the file.
// Readers take one, so that a Container reads through its fileCache
// (Container.read) and the exported path-based readers through readPath.
type readFunc func(dir, name string, dst []byte) ([]byte, error)

// readPath is the uncached readFunc: open, read and close dir/name.
func readPath(dir, name string, dst []byte) ([]byte, error) {
	return memReadFile(filepath.Join(dir, name), dst)
}

// dirFunc returns the raw entries (getdents64 records) of directory dir
// in dst's storage (grown as needed). Errors are *os.PathError.
type dirFunc func(dir string, dst []byte) ([]byte, error)

// readDirPath is the uncached dirFunc: open, read and close dir.
func readDirPath(dir string, dst []byte) ([]byte, error) {
	fd, err := openRetry(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	b, err := readDirents(fd, dst)
	if err != nil {
		return nil, &os.PathError{Op: "getdents", Path: dir, Err: err}
	}
	return b, nil
}

// readDirents reads all entries of an open directory from its current
// position.
func readDirents(fd int, dst []byte) ([]byte, error) {
	dst = dst[:0]
	for {
		if cap(dst)-len(dst) < 1024 {
			dst = append(dst[:cap(dst)], make([]byte, max(4096, cap(dst)))...)[:len(dst)]
		}
		n, err := unix.ReadDirent(fd, dst[len(dst):cap(dst)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return dst, nil
		}
		dst = dst[:len(dst)+n]
	}
}

// subdirNames returns the names of the directories among raw dirents,
// without "." and "..": nil when there are none.
func subdirNames(dirents []byte) []string {
	var names []string
	for len(dirents) >= 19 {
		// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
		// d_type u8, d_name NUL-terminated.
		reclen := int(dirents[16]) | int(dirents[17])<<8
		if reclen < 19 || reclen > len(dirents) {
			break
		}
		if dirents[18] == unix.DT_DIR {
			name := dirents[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if string(name) != "." && string(name) != ".." {
				names = append(names, string(name))
			}
		}
		dirents = dirents[reclen:]
	}
	return names
}

// openRetry opens path, again after EINTR.
func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// fileReader reads kernel files through read and directories through
// dirs, reusing one buffer: the content returned by file is valid until
// its next call. tasks, when set, keeps the tasks' stat files open.
//
// counts, when set, returns a cgroup's running and blocked tasks in one
// request (fileCache.cgroupCounts), so a task count reads the task lists
// and no task's state.
type fileReader struct {
	read   readFunc
	dirs   dirFunc
	tasks  *taskFiles
	counts func(dir string) (taskCounts, error)
	buf    []byte
}

// subdirs returns the names of the directories in dir.
func (r *fileReader) subdirs(dir string) ([]string, error) {
	b, err := r.dirs(dir, r.buf)
	if err != nil {
		return nil, err
	}
	r.buf = b[:0]
	return subdirNames(b), nil
}

// file returns the content of dir/name.
func (r *fileReader) file(dir, name string) ([]byte, error) {
	b, err := r.read(dir, name, r.buf)
	if err != nil {
		return nil, err
	}
	r.buf = b[:0]
	return b, nil
}

// pathReader returns an uncached fileReader.
func pathReader() *fileReader { return &fileReader{read: readPath, dirs: readDirPath} }

// fileKey names a file by its directory and base name, so that a lookup
// joins no path.
type fileKey struct{ dir, name string }

func (k fileKey) path() string { return k.dir + "/" + k.name }

const (
	// idleClose is how long a container's descriptors stay open after
	// its last read.
	idleClose = time.Minute
	// missingRetry is how long a file found missing is taken as missing:
	// v2 controller files appear when a controller is enabled.
	missingRetry = time.Second
)

// read returns the whole content of dir/name in dst's storage (grown as
// needed). Errors are *os.PathError naming the file, wrapping the errno:
// ENOENT when it does not exist.
func (fc *fileCache) read(dir, name string, dst []byte) ([]byte, error) {
	k := fileKey{dir, name}
	var b []byte
	kernel, err := fc.withFD(k, false, kernfsRemoved, func(fd int) error {
		var err error
		if b, err = preadAll(fd, dst); err != nil {
			return &os.PathError{Op: "read", Path: k.path(), Err: err}
		}
		return nil
	})
	if !kernel {
		return readPath(dir, name, dst)
	}
	return b, err
}

// readDir returns the raw entries of directory dir, like readDirPath,
// from a descriptor kept open and rewound.
func (fc *fileCache) readDir(dir string, dst []byte) ([]byte, error) {
	var b []byte
	// Exclusive: rewinding and reading move the shared offset.
	kernel, err := fc.withFD(fileKey{dir, ""}, true, kernfsRemoved, func(fd int) error {
		_, err := unix.Seek(fd, 0, 0)
		if err == nil {
			b, err = readDirents(fd, dst)
		}
		if err != nil {
			return &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		return nil
	})
	if !kernel {
		return readDirPath(dir, dst)
	}
	return b, err
}

// withFD runs op on the kept descriptor of k, opened first if there is
// none, under the read lock, or the write lock if exclusive. When op fails
// with an error for which removed is true (the cgroup of the descriptor
// was removed), the descriptor is dropped and the path opened again, once:
// a cgroup recreated under the same path is read, as the uncached readers
// would. It reports false, without running op, for a file that is not on
// a kernel file system (notKernel): the caller reads it through its path.
// Errors are op's, or open's (*os.PathError).
func (fc *fileCache) withFD(k fileKey, exclusive bool, removed func(error) bool, op func(fd int) error) (bool, error) {
	fc.used.Store(true)
	for attempt := 0; ; attempt++ {
		if exclusive {
			fc.mu.Lock()
		} else {
			fc.mu.RLock()
		}
		fd, ok := fc.fds[k]
		var err error
		if ok && fd != notKernel {
			err = op(fd)
		}
		if exclusive {
			fc.mu.Unlock()
		} else {
			fc.mu.RUnlock()
		}
		switch {
		case ok && fd == notKernel:
			return false, nil
		case ok && err != nil && attempt == 0 && removed(err):
			fc.drop(k, fd)
			continue
		case ok:
			return true, err
		}
		if err := fc.open(k); err != nil {
			return true, err
		}
	}
}

// kernfsRemoved reports whether a read failed because the file's cgroup
// was removed: kernfs_fop_read_iter answers ENODEV on a deactivated node,
// ESTALE for some.
func kernfsRemoved(err error) bool {
	return errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ESTALE)
}

// preadAll reads a whole seq_file from offset 0 into dst's storage: one
// pread returns everything that fits, so a full buffer means read again,
// larger.
func preadAll(fd int, dst []byte) ([]byte, error) {
	dst = dst[:cap(dst)]
	if len(dst) < 512 {
		dst = make([]byte, 4096)
	}
	for {
		n, err := unix.Pread(fd, dst, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n < len(dst) {
			return dst[:n], nil
		}
		dst = make([]byte, 2*len(dst))
	}
}

// open opens k and keeps its descriptor, or records that it is missing.
func (fc *fileCache) open(k fileKey) error {
	fc.mu.RLock()
	at, missing := fc.missing[k]
	fc.mu.RUnlock()
	if missing && time.Since(at) < missingRetry {
		return &os.PathError{Op: "open", Path: k.path(), Err: unix.ENOENT}
	}
	path, flags := k.path(), unix.O_RDONLY|unix.O_CLOEXEC
	if k.name == "" {
		path, flags = k.dir, flags|unix.O_DIRECTORY
	}
	fd, err := openRetry(path, flags)
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if err != nil {
		if err == unix.ENOENT {
			if fc.missing == nil {
				fc.missing = map[fileKey]time.Time{}
			}
			fc.missing[k] = time.Now()
		}
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	delete(fc.missing, k)
	if _, ok := fc.fds[k]; ok { // opened meanwhile by another reader
		unix.Close(fd)
		return nil
	}
	if !onKernelFS(fd) {
		unix.Close(fd)
		fd = notKernel
	}
	if fc.fds == nil {
		fc.fds = map[fileKey]int{}
	}
	fc.fds[k] = fd
	if fc.timer == nil {
		fc.timer = time.AfterFunc(idleClose, fc.sweep)
	}
	return nil
}

// notKernel marks a file that is not on a kernel file system: it is read
// through its path every time (readPath).
const notKernel = -1

// onKernelFS reports whether fd is on procfs, sysfs or cgroupfs, whose
// files regenerate their content at every read from offset 0. A regular
// file (a test fixture) is read through its path: a cached descriptor
// would keep serving a file deleted or replaced since.
func onKernelFS(fd int) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return false
	}
	switch st.Type {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC:
		return true
	}
	return false
}

// drop closes k's descriptor if it is still fd.
func (fc *fileCache) drop(k fileKey, fd int) {
	fc.mu.Lock()
	if cur, ok := fc.fds[k]; ok && cur == fd {
		delete(fc.fds, k)
		unix.Close(fd)
	}
	fc.mu.Unlock()
}

// sweep runs idleClose after the first open and after each sweep that
// found the cache used: an unused cache is closed.
func (fc *fileCache) sweep() {
	if fc.used.Swap(false) {
		fc.mu.Lock()
		if fc.timer != nil {
			fc.timer.Reset(idleClose)
		}
		fc.mu.Unlock()
		return
	}
	fc.close()
}

// close closes every descriptor and forgets what was missing.
func (fc *fileCache) close() {
	fc.tasks.close()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for k, fd := range fc.fds {
		if fd != notKernel {
			unix.Close(fd)
		}
		delete(fc.fds, k)
	}
	fc.missing = nil
	if fc.timer != nil {
		fc.timer.Stop()
		fc.timer = nil
	}
}

// openCount returns how many descriptors are open, for tests.
func (fc *fileCache) openCount() int {
	fc.mu.RLock()
	defer fc.mu.RUnlock()
	n := 0
	for _, fd := range fc.fds {
		if fd != notKernel {
			n++
		}
	}
	return n
}

// taskFiles keeps /proc/<tid>/stat of a container's tasks open between
// task counts (see fileReader.taskStates), read with pread: 1.4 µs a task
// where open, read and close take 3.2 µs, for every task at every read of
// /proc/stat and /proc/loadavg. A count walks the task list between begin
// and end; end closes the files of the tasks the walk did not see. A file
// whose task exited reads ESRCH: the TID may name a new task since, so its
// path is opened again. Only files on procfs are kept.
//
// It also holds the netlink socket that counts running tasks per cgroup
// (cgroupStats, used under the same lock), or noStats when the kernel
// cannot.
type taskFiles struct {
	mu      sync.Mutex
	fds     map[int]taskFD
	gen     uint32
	procfs  map[string]bool // procRoot -> is procfs
	stats   *cgroupStats
	noStats bool
}

type taskFD struct {
	fd  int
	gen uint32 // the last count that saw the task
}

// maxTaskFiles bounds the files kept per container; tasks beyond are read
// through their path.
const maxTaskFiles = 1024

// begin starts a count. It holds the lock until end: counts of one
// container do not overlap.
func (tf *taskFiles) begin() {
	tf.mu.Lock()
	tf.gen++
}

// end closes the files of the tasks the count did not see.
func (tf *taskFiles) end() {
	for tid, e := range tf.fds {
		if e.gen != tf.gen {
			unix.Close(e.fd)
			delete(tf.fds, tid)
		}
	}
	tf.mu.Unlock()
}

// state returns task tid's state letter, like readTaskState.
func (tf *taskFiles) state(procRoot string, tid int, scratch []byte) (byte, error) {
	if !tf.isProcfs(procRoot) {
		return readTaskState(procRoot, tid, scratch)
	}
	e, ok := tf.fds[tid]
	if ok {
		n, err := unix.Pread(e.fd, scratch, 0)
		if err == nil && n > 0 {
			e.gen = tf.gen
			tf.fds[tid] = e
			return parseTaskStateAt(procRoot, tid, scratch[:n])
		}
		// Exited (ESRCH, or 0 bytes once reaped): the TID may be a new
		// task's now.
		unix.Close(e.fd)
		delete(tf.fds, tid)
	}
	if len(tf.fds) >= maxTaskFiles {
		return readTaskState(procRoot, tid, scratch)
	}
	path := procRoot + "/" + strconv.Itoa(tid) + "/stat"
	fd, err := openRetry(path, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	n, err := unix.Pread(fd, scratch, 0)
	if err == nil && n == 0 {
		err = unix.ESRCH // reaped between open and read
	}
	if err != nil {
		unix.Close(fd)
		return 0, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if tf.fds == nil {
		tf.fds = map[int]taskFD{}
	}
	tf.fds[tid] = taskFD{fd: fd, gen: tf.gen}
	return parseTaskStateAt(procRoot, tid, scratch[:n])
}

// isProcfs reports whether procRoot is a procfs mount (a fixture tree is
// read through paths).
func (tf *taskFiles) isProcfs(procRoot string) bool {
	if v, ok := tf.procfs[procRoot]; ok {
		return v
	}
	var st unix.Statfs_t
	v := unix.Statfs(procRoot, &st) == nil && st.Type == unix.PROC_SUPER_MAGIC
	if tf.procfs == nil {
		tf.procfs = map[string]bool{}
	}
	tf.procfs[procRoot] = v
	return v
}

// close closes every task file and the netlink socket.
func (tf *taskFiles) close() {
	tf.mu.Lock()
	for tid, e := range tf.fds {
		unix.Close(e.fd)
		delete(tf.fds, tid)
	}
	if tf.stats != nil {
		tf.stats.close()
		tf.stats = nil
	}
	tf.noStats = false
	tf.mu.Unlock()
}

// cgroupCounts returns the running and blocked tasks of cgroup directory
// dir (see cgroupStats), through a kept descriptor of the directory. The
// caller is inside a task count (taskFiles.begin). errNoCgroupStats when
// the kernel cannot tell, remembered until the cache is closed; an error
// for which isVanished is true when the cgroup is gone.
func (fc *fileCache) cgroupCounts(dir string) (taskCounts, error) {
	tf := &fc.tasks
	if tf.noStats {
		return taskCounts{}, errNoCgroupStats
	}
	if tf.stats == nil {
		tf.stats = &cgroupStats{fd: -1}
	}
	var c taskCounts
	// A removed cgroup answers ENOENT (cgroupstats_build).
	removed := func(err error) bool { return errors.Is(err, unix.ENOENT) }
	kernel, err := fc.withFD(fileKey{dir, ""}, false, removed, func(fd int) error {
		var err error
		if c, err = tf.stats.count(fd); err != nil && !errors.Is(err, errNoCgroupStats) {
			return &os.PathError{Op: "cgroupstats", Path: dir, Err: err}
		}
		return err
	})
	if !kernel || errors.Is(err, errNoCgroupStats) {
		tf.noStats = true
		return taskCounts{}, errNoCgroupStats
	}
	return c, err
}
