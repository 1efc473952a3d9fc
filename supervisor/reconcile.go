package supervisor

import (
	"errors"
	"fmt"
	"time"

	"github.com/lxmount/lxmount/mountns"
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
// broken or missing mounts, re-apply changed policies, detach containers
// no policy matches any more, forget those that are gone. dryRun plans only.
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
	policies := s.policies()
	seen := make(map[uint64]bool, len(found))
	for _, c := range found {
		seen[c.MountNS] = true
		choice, ok, why, err := policies.Choose(c, "")
		s.mu.Lock()
		a := s.byNS[c.MountNS]
		s.mu.Unlock()
		act := Action{InitPID: c.InitPID, Cgroup: cgroupPath(c), Policy: choice.Policy}
		switch {
		case err != nil:
			act.Kind, act.Reason, act.Error = ActAttach, why, err.Error()
		case a == nil && !ok:
			continue // no policy wants it: left alone, not reported
		case a == nil:
			act.Kind, act.Reason = ActAttach, why
			if !dryRun {
				if na, err := s.attach(c, choice); err != nil {
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
			act.ID = a.id
			broken := s.brokenTargets(a)
			if len(broken) == 0 {
				act.Kind, act.Reason = ActUnchanged, "attached and healthy"
				a.setHealth("healthy")
				break
			}
			act.Kind, act.Reason = ActHeal, fmt.Sprintf("broken or missing: %v", broken)
			a.setHealth(fmt.Sprintf("broken: %v", broken))
			if !dryRun {
				if err := s.heal(a, c, broken); err != nil {
					act.Error = err.Error()
				} else {
					a.setHealth("healthy")
				}
			}
		}
		res.Actions = append(res.Actions, act)
	}
	// Attached containers discovery no longer finds are gone.
	for _, a := range s.list() {
		if seen[a.c.MountNS] {
			continue
		}
		act := Action{Kind: ActForget, ID: a.id, InitPID: a.c.InitPID, Cgroup: cgroupPath(a.c), Policy: a.choice.Policy, Reason: "container gone"}
		if !dryRun {
			s.forget(a, "reconcile: container gone")
		}
		res.Actions = append(res.Actions, act)
	}
	if !dryRun {
		s.saveState() // once for the whole batch
	}
	for _, act := range res.Actions {
		if act.Error != "" {
			res.Summary.Failed++
			continue
		}
		switch act.Kind {
		case ActAttach:
			res.Summary.Attached++
		case ActHeal:
			res.Summary.Healed++
		case ActReapply:
			res.Summary.Reapplied++
		case ActDetach, ActForget:
			res.Summary.Detached++
		case ActUnchanged:
			res.Summary.Unchanged++
		}
	}
	res.Took = time.Since(start).Round(time.Microsecond).String()
	if !dryRun && res.Summary != (Summary{Unchanged: res.Summary.Unchanged}) {
		s.log.Info("reconciled", "summary", res.Summary.String(), "took", res.Took)
	}
	return res, nil
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

// brokenTargets returns the attached targets that no longer show a live
// lxmount mount inside the container: unmounted, dead, or our FUSE
// connection ended.
func (s *Supervisor) brokenTargets(a *attachment) []string {
	select {
	case <-a.server.Done():
		return a.targets
	default:
	}
	if a.targetRoot() != "/" {
		return nil // attached by its runtime's hook a moment ago, not yet pivoted into its root
	}
	states, err := a.ns.Probe(a.targets, mountns.FUSEMagic)
	if err != nil {
		return a.targets
	}
	var broken []string
	for _, t := range a.targets {
		if states[t] != mountns.StateOwned {
			broken = append(broken, t)
		}
	}
	return broken
}

// heal re-mounts broken targets from the live FUSE instance, or re-attaches
// the container when the instance itself is gone.
func (s *Supervisor) heal(a *attachment, c discovery.Container, broken []string) error {
	select {
	case <-a.server.Done():
		return s.reapply(a, c, a.choice)
	default:
	}
	if err := a.ns.Unmount(broken, mountns.FUSEMagic); err != nil {
		s.log.Debug("heal: unmount", "id", a.id, "error", err)
	}
	byTarget := map[string]string{}
	for i, t := range a.targets {
		byTarget[t] = a.files[i]
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
// files briefly show the host's content.
func (s *Supervisor) reapply(a *attachment, c discovery.Container, choice Choice) error {
	if err := s.detach(a, "re-applying policy"); err != nil {
		s.log.Warn("reapply: detach", "id", a.id, "error", err)
	}
	_, err := s.attach(c, choice)
	return err
}
