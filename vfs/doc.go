// Package vfs serves one container's virtual files over a dedicated FUSE
// connection.
//
// A Server is a flat, static tree: a root directory holding one read-only
// regular file per Entry. It is served with bazil.org/fuse's low-level
// Conn API (ReadRequest and Respond inline, in a few reader goroutines):
// fs.Serve spawns a goroutine per request and measured about 3.5x slower.
//
// Reads behave like procfs (fs/seq_file.c): content is rendered when a read
// at offset 0 arrives, and later offsets are served from that open handle's
// snapshot, so lseek(0)+read as top does yields fresh data. Files are opened
// with direct I/O so the page cache never serves stale content, and sizes
// are reported as 0 like procfs does.
//
// The package knows nothing of containers, cgroups or namespaces: the
// caller hands in Entries whose Render functions are already bound.
package vfs
