// Package vfs serves one container's virtual files over a dedicated FUSE
// connection.
//
// A Server is a flat, static tree: a root directory holding one read-only
// regular file per Entry. It is served with bazil.org/fuse's low-level
// Conn API (ReadRequest and Respond inline in one reader goroutine):
// fs.Serve spawns a goroutine per request and measured about 3.5x slower.
// The reader waits in the Go poller while the instance is idle, holding no
// thread, and on its thread while it is being read (see device and
// Server.reader); docs/benchmarks.md has the measurements.
//
// Every open renders a fresh snapshot. When the file has no other open
// handle, the OPEN stores the snapshot in the kernel's page cache of the
// file with its exact size, and reads, EOF and sendfile(2) are served by
// the kernel: an open-read-close costs OPEN and RELEASE (FLUSH is declined
// once). Opens of a file take turns in the page cache; descriptors kept
// open and re-read from offset 0 (top) get a new snapshot within about
// staleAfter; while one is open, other opens get direct I/O, where a read
// at offset 0 renders afresh and later offsets are served from the
// handle's snapshot, like procfs (fs/seq_file.c). pagecache.go has the
// design and its invariants.
//
// The package knows nothing of containers, cgroups or namespaces: the
// caller hands in Entries whose Render functions are already bound.
package vfs
