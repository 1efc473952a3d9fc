package mountns

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// onThrowawayThread runs fn on a fresh goroutine whose OS thread is locked
// and is not the process's main thread, and waits for fn to return. The
// thread is never unlocked, so the Go runtime terminates it when the
// goroutine ends; fn may leave it in any namespace.
//
// The main thread (TID == PID) needs the detour: the runtime cannot
// terminate it and wedges it instead, and since /proc/self is the main
// thread, the whole process would then look to be in fn's namespace
// (/proc/self/ns/mnt, /proc/self/mountinfo, /proc/self/root) and would pin
// that namespace. While the goroutine that landed on the main thread keeps
// it locked, the inner goroutine cannot be scheduled there; the main
// thread itself was never changed and is unlocked again.
func onThrowawayThread(fn func()) {
	<-startThrowaway(fn)
}

// startThrowaway is onThrowawayThread without the wait: the returned
// channel is closed when fn has returned. A caller that stops waiting
// abandons the thread, which ends whenever fn does (a thread blocked in
// the kernel, say on a FUSE request nobody answers, cannot be killed).
func startThrowaway(fn func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			onThrowawayThread(fn)
			runtime.UnlockOSThread()
			return
		}
		fn()
	}()
	return done
}
