package supervisor

import "sync"

// nsLocks serialises the work on each container, keyed by lockKey (its
// cgroup, else its mount namespace): an attach, heal, re-apply or detach of one container waits
// only for another one of the same container, never for other containers.
// Every call into a container's namespace is bounded (Config.CallTimeout),
// so no lock is held longer than a few of those.
type nsLocks struct {
	mu sync.Mutex
	m  map[string]*nsLock
}

// nsLock is one key's lock and how many hold or wait for it.
type nsLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks the key and returns the function that unlocks it.
func (l *nsLocks) lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*nsLock{}
	}
	k := l.m[key]
	if k == nil {
		k = &nsLock{}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	k.mu.Lock()
	return func() {
		k.mu.Unlock()
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}
