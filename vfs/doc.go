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
// Reads behave like procfs (fs/seq_file.c): content is rendered when a read
// at offset 0 arrives, and later offsets are served from that open handle's
// snapshot, so lseek(0)+read as top does yields fresh data. Files are opened
// with direct I/O so the page cache never serves stale content. An
// open-read-close costs OPEN, READ, READ (EOF) and RELEASE: FLUSH is
// declined once, and attributes are cached while no page cache read
// (sendfile) needs their size refreshed (see node.attrValid).
//
// The package knows nothing of containers, cgroups or namespaces: the
// caller hands in Entries whose Render functions are already bound.
package vfs
