package vfs

import (
	"reflect"
	"unsafe"

	"bazil.org/fuse"
)

// autoInvalData is a mount option bazil.org/fuse does not offer: it asks
// for FUSE_AUTO_INVAL_DATA at INIT. With it, every read(2) of a file whose
// attributes were invalidated asks for them first (fs/fuse/file.c
// fuse_cache_read_iter), not only a read that may pass the end, which is
// how a descriptor kept open and re-read from the page cache gets a new
// snapshot even when it reads less than the file at a time (pagecache.go).
// Its other effect, dropping the page cache when a GETATTR reports a new
// mtime, never happens: the tree's mtime is constant.
//
// The option is built like bazil's own (a func(*mountConfig) error, of an
// unexported type) and sets the unexported initFlags field by name and
// type. ok is false if this version of bazil.org/fuse has no such field;
// a test checks it on the pinned version.
func autoInvalData() (opt fuse.MountOption, ok bool) {
	base := fuse.MaxReadahead(0) // any option: its type is MountOption
	t := reflect.TypeOf(base)
	if t.Kind() != reflect.Func || t.NumIn() != 1 || t.In(0).Kind() != reflect.Pointer {
		return nil, false
	}
	f, found := t.In(0).Elem().FieldByName("initFlags")
	if !found || f.Type != reflect.TypeFor[fuse.InitFlags]() {
		return nil, false
	}
	fn := reflect.MakeFunc(t, func(args []reflect.Value) []reflect.Value {
		flags := (*fuse.InitFlags)(unsafe.Add(args[0].UnsafePointer(), f.Offset))
		*flags |= fuse.InitAutoInvalData
		return []reflect.Value{reflect.Zero(t.Out(0))}
	})
	return fn.Interface().(fuse.MountOption), true
}
