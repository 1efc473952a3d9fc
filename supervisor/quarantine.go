package supervisor

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/lxmount/lxmount/mountns"
)

// A container controls what its mount namespace holds, and a call into it
// can wait in the kernel for good (a FUSE server of its own that never
// answers). Every call is bounded (Config.CallTimeout) and a call given up
// leaves its thread behind; the namespace is then quarantined: nothing is
// tried there (attach, heal, retry) until that thread has returned, so a
// hostile container costs at most one stuck thread, and each reconcile
// reports it as failed instead of starting one more.

// quarantine puts ns in quarantine if a call into it was given up and
// has not returned (err, when given, may say so first).
func (s *Supervisor) quarantine(ns *mountns.Namespace, err error) {
	_, stuck := ns.Stuck()
	if !stuck && !errors.Is(err, mountns.ErrTimeout) {
		return
	}
	s.mu.Lock()
	_, known := s.stuck[ns.ID()]
	s.stuck[ns.ID()] = ns
	s.mu.Unlock()
	if !known {
		s.log.Warn("a call into a container's mount namespace did not return in time; leaving it alone until it does",
			"mount_ns", ns.ID(), "timeout", s.cfg.CallTimeout, "error", err)
	}
}

// quarantined returns an error wrapping ErrQuarantined while a call into
// mount namespace id is stuck, nil otherwise (releasing a quarantine whose
// call has returned).
func (s *Supervisor) quarantined(id uint64) error {
	s.mu.Lock()
	ns := s.stuck[id]
	s.mu.Unlock()
	if ns == nil {
		return nil
	}
	if since, stuck := ns.Stuck(); stuck {
		return fmt.Errorf("mount namespace %d: %w (given up %s ago)", id, ErrQuarantined, time.Since(since).Round(time.Second))
	}
	s.mu.Lock()
	if s.stuck[id] == ns {
		delete(s.stuck, id)
	}
	s.mu.Unlock()
	s.log.Info("the stuck call into a container's mount namespace returned; trying it again", "mount_ns", id)
	return nil
}

// stuckCalls counts the quarantined namespaces whose call is still stuck.
func (s *Supervisor) stuckCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ns := range s.stuck {
		if _, stuck := ns.Stuck(); stuck {
			n++
		}
	}
	return n
}

// guard runs per-container work fn; a panic in it is logged with the
// container's id and the stack, and returned as an error, so it kills
// neither the daemon nor the work on other containers.
func (s *Supervisor) guard(id, what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: panic: %v", what, p)
			s.log.Error("panic in per-container work", "id", id, "what", what, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	return fn()
}
