package supervisor

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/lxmount/lxmount/mountns"
	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/supervisor/discovery"
)

// Action kinds.
const (
	ActAttach    = "attach"
	ActHeal      = "heal"
	ActReapply   = "reapply"
	ActDetach    = "detach"
	ActForget    = "forget"
	ActUnchanged = "unchanged"
)

// Reconcile compares the containers on the host (discovery) and the
// policies with what is attached, and acts: attach new matches, heal
// broken or missing mounts, retry refused targets, re-apply changed
// policies, detach containers no policy matches any more, forget those
// that are gone. dryRun plans only. Containers are taken one at a time,
// each under its own lock and within bounded time; a daemon that stops
// ends the reconcile at the next container (ErrClosed).
func (s *Supervisor) Reconcile(dryRun bool) (ReconcileResult, error) {
	start := time.Now()
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	s.decisions.Add(1) // event discovery decides afresh after a reconcile
	res := ReconcileResult{DryRun: dryRun, Actions: []Action{}}
	if s.isClosed() {
		return res, ErrClosed
	}
	s.reload()
	found, err := discovery.Scan(s.disc)
	if err != nil {
		return res, fmt.Errorf("reconcile: %w", err)
	}
	// The outer container first: nested namespaces of its cgroup, made
	// later, share its binding (cgroupKey).
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].InitStart != found[j].InitStart {
			return found[i].InitStart < found[j].InitStart
		}
		return found[i].InitPID < found[j].InitPID
	})
	policies := s.policies()
	seen := make(map[uint64]bool, len(found))
	var stopped error
	for _, c := range found {
		if s.isClosed() {
			stopped = ErrClosed
			break
		}
		seen[c.MountNS] = true
		act, report := s.reconcileOne(c, policies, dryRun)
		if report {
			res.Actions = append(res.Actions, act)
		}
	}
	if stopped == nil {
		res.Actions = append(res.Actions, s.forgetGone(seen, dryRun)...)
	}
	if !dryRun {
		s.saveState() // once for the whole batch
	}
	res.Summary = summarize(res.Actions)
	res.Took = time.Since(start).Round(time.Microsecond).String()
	if !dryRun && res.Summary != (Summary{Unchanged: res.Summary.Unchanged}) {
		s.log.Info("reconciled", "summary", res.Summary.String(), "took", res.Took)
	}
	return res, stopped
}

// forgetGone forgets attached containers discovery no longer finds.
func (s *Supervisor) forgetGone(seen map[uint64]bool, dryRun bool) []Action {
	var acts []Action
	for _, a := range s.list() {
		if seen[a.c.MountNS] {
			continue
		}
		act := Action{Kind: ActForget, ID: a.id, InitPID: a.c.InitPID, Cgroup: cgroupPath(a.c), Policy: a.choice.Policy, Reason: "container gone"}
		if !dryRun {
			s.forget(a, "reconcile: container gone")
		}
		acts = append(acts, act)
	}
	return acts
}

// summarize counts the actions; failed ones count only as failed.
func summarize(acts []Action) Summary {
	var sum Summary
	for _, act := range acts {
		if act.Error != "" {
			sum.Failed++
			continue
		}
		switch act.Kind {
		case ActAttach:
			sum.Attached++
		case ActHeal:
			sum.Healed++
		case ActReapply:
			sum.Reapplied++
		case ActDetach, ActForget:
			sum.Detached++
		case ActUnchanged:
			sum.Unchanged++
		}
	}
	return sum
}

// reconcileOne decides and acts on one container found by discovery,
// under its lock; report is false for a container left alone unreported
// (no policy wants it, lxmount itself, a nested namespace of an attached
// container's cgroup). A panic is logged and fails the action.
func (s *Supervisor) reconcileOne(c discovery.Container, policies Policies, dryRun bool) (act Action, report bool) {
	unlock := s.locks.lock(lockKey(c))
	defer unlock()
	act = Action{InitPID: c.InitPID, Cgroup: cgroupPath(c)}
	err := s.guard(c.ID, "reconcile", func() error {
		act, report = s.decideOne(c, policies, dryRun)
		return nil
	})
	if err != nil {
		act.Error, report = err.Error(), true
	}
	return act, report
}

// decideOne is reconcileOne's work; the caller holds c's lock.
func (s *Supervisor) decideOne(c discovery.Container, policies Policies, dryRun bool) (Action, bool) {
	act := Action{InitPID: c.InitPID, Cgroup: cgroupPath(c)}
	if s.me.refuse(c, 0) != nil {
		return act, false
	}
	s.mu.Lock()
	a := s.byNS[c.MountNS]
	sibling := s.byCgroup[cgroupKey(c)]
	s.mu.Unlock()
	if a == nil && sibling != nil && cgroupKey(c) != "" {
		return act, false // a nested namespace: its container's binding serves it
	}
	if err := s.quarantined(c.MountNS); err != nil {
		act.Kind, act.Error = ActUnchanged, err.Error()
		if a != nil {
			act.ID, act.Policy = a.id, a.choice.Policy
			a.setHealth("broken: " + err.Error())
		}
		return act, true
	}
	choice, ok, why, err := policies.Choose(c, "")
	act.Policy = choice.Policy
	switch {
	case err != nil:
		act.Kind, act.Reason, act.Error = ActAttach, why, err.Error()
	case a == nil && !ok:
		return act, false // no policy wants it: left alone, not reported
	case a == nil:
		act.Kind, act.Reason = ActAttach, why
		if !dryRun {
			if na, err := s.attachAt(c, choice, "/", time.Time{}); err != nil {
				act.Error = err.Error()
			} else {
				act.ID = na.id
			}
		}
	case !ok:
		act.Kind, act.ID, act.Policy, act.Reason = ActDetach, a.id, a.choice.Policy, why
		if !dryRun {
			if err := s.detach(a, "no policy matches: "+why); err != nil {
				act.Error = err.Error()
			}
		}
	case a.choice.Fingerprint != choice.Fingerprint || a.choice.Policy != choice.Policy:
		act.Kind, act.ID = ActReapply, a.id
		act.Reason = fmt.Sprintf("policy %s (%s) now %s (%s)", a.choice.Policy, a.choice.Fingerprint, choice.Policy, choice.Fingerprint)
		if !dryRun {
			act.Error = errString(s.reapply(a, c, choice))
		}
	default:
		act = s.check(a, c, dryRun)
	}
	return act, true
}

// check is reconcile's look at an attached container whose policy did not
// change: it heals the targets that are not served, retries the refused
// ones, and records its health.
func (s *Supervisor) check(a *attachment, c discovery.Container, dryRun bool) Action {
	act := Action{Kind: ActUnchanged, ID: a.id, InitPID: c.InitPID, Cgroup: cgroupPath(c), Policy: a.choice.Policy}
	unserved := a.unserved()
	retry := a.retryable()
	if len(unserved) == 0 {
		act.Reason = "attached and healthy"
		if len(retry) > 0 && !dryRun {
			if left := s.retryRefused(a); left < len(retry) {
				act.Kind = ActHeal
				act.Reason = fmt.Sprintf("mounted %d refused files", len(retry)-left)
			} else {
				act.Reason = "attached; refused files still refused"
			}
		}
		a.checkHealth(nil)
		return act
	}
	broken := sortedKeys(unserved)
	act.Kind, act.Reason = ActHeal, fmt.Sprintf("broken or missing: %v", broken)
	a.checkHealth(unserved)
	if dryRun {
		return act
	}
	if err := s.heal(a, c, broken); err != nil {
		act.Error = err.Error()
		return act
	}
	if s.registered(a) {
		a.checkHealth(nil)
	}
	return act
}

// reload reloads the policies, if the daemon gave a way to.
func (s *Supervisor) reload() {
	if s.cfg.Reload == nil {
		return
	}
	p, err := s.cfg.Reload()
	if err != nil {
		s.mu.Lock()
		changed := s.policyError != err.Error()
		s.mu.Unlock()
		s.PolicyError(err)
		if changed {
			s.log.Error("policy reload failed; keeping the last good policies", "error", err)
		}
		return
	}
	s.SetPolicies(p)
}

// ReloadPolicies reloads the policies now (SIGHUP) and reconciles, so a
// changed policy reaches attached containers at once.
func (s *Supervisor) ReloadPolicies() {
	res, err := s.Reconcile(false)
	s.noteReconcile(res, err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// heal re-mounts broken targets from the live FUSE instance, or gives the
// container a fresh instance when its instance has ended. The caller
// holds the container's lock.
func (s *Supervisor) heal(a *attachment, c discovery.Container, broken []string) error {
	select {
	case <-a.server.Done():
		return s.replace(a)
	default:
	}
	if err := a.ns.Unmount(broken, mountns.FUSEMagic); err != nil {
		s.quarantine(a.ns, err)
		s.log.Debug("heal: unmount", "id", a.id, "error", err)
	}
	files, targets := a.served()
	byTarget := map[string]string{}
	for i, t := range targets {
		byTarget[t] = files[i]
	}
	var injs []mountns.Injection
	for _, t := range broken {
		tree, err := mountns.CloneTree(a.server.Path(byTarget[t]))
		if err != nil {
			closeTrees(injs)
			return err
		}
		injs = append(injs, mountns.Injection{Tree: tree, Target: t})
	}
	results := a.ns.Inject(injs)
	closeTrees(injs)
	s.quarantine(a.ns, nil)
	var errs []error
	for i, err := range results {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", injs[i].Target, err))
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		a.setError("heal: " + err.Error())
	}
	s.log.Info("healed", "id", a.id, "targets", broken, "error", err)
	return err
}

func closeTrees(injs []mountns.Injection) {
	for _, inj := range injs {
		inj.Tree.Close()
	}
}

// reapply replaces a container's attachment with one for choice: detach,
// then attach again. The container keeps running; between the two its
// files briefly show the host's content. The caller holds the container's
// lock.
func (s *Supervisor) reapply(a *attachment, c discovery.Container, choice Choice) error {
	if err := s.detach(a, "re-applying policy"); err != nil {
		s.log.Warn("reapply: detach", "id", a.id, "error", err)
	}
	if choice.Options.Uptime == sources.UptimeAuto {
		choice.Options.Uptime = a.choice.Options.Uptime // as resolved at its first attach
	}
	_, err := s.attachAt(c, choice, "/", time.Time{})
	return err
}

// replace gives a container whose FUSE instance ended a fresh one, with
// the same policy (and id): the new attachment's inject takes the old
// instance's dead mounts off; a failure puts the old one back, registered
// and broken, for the next reconcile to try again, rather than forgotten. The caller holds
// the container's lock.
func (s *Supervisor) replace(a *attachment) error {
	if !s.unregister(a) {
		return nil
	}
	fresh, err := s.attachAt(a.c, a.choice, "/", time.Time{})
	if err != nil {
		a.setError("replace instance: " + err.Error())
		s.reinsert(a)
		return err
	}
	a.release()
	s.saveState()
	s.log.Info("replaced instance", "id", fresh.id)
	return nil
}
