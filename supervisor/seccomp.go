package supervisor

import (
	"slices"
	"time"

	"github.com/lxmount/lxmount/sources"
)

// The seccomp agent (package seccompagent) asks the supervisor for the
// values of the container a notify fd belongs to, by the pid of the
// container's init as its runtime reported it. The supervisor binds
// nothing itself: each call looks the attachment up, so a container
// attached after its fd arrived (the event watch, reconcile) gets its
// values from then on, and a detached one the host's again.

// Sysinfo returns the sysinfo(2) values of the attached container whose
// init is initPID. Each part follows the container's policy, so sysinfo
// agrees with the container's /proc files: memory and swap when it
// mounts meminfo, uptime with uptime, loads and procs with loadavg. ok
// is false when no attached container has that init.
func (s *Supervisor) Sysinfo(initPID int, now time.Time) (sources.Sysinfo, bool) {
	a := s.byInitPID(initPID)
	if a == nil {
		return sources.Sysinfo{}, false
	}
	files, _ := a.served()
	f := sources.SysinfoFields{
		Memory: slices.Contains(files, "meminfo"),
		Uptime: slices.Contains(files, "uptime"),
		Load:   slices.Contains(files, "loadavg") && a.sampleLoad,
	}
	if f == (sources.SysinfoFields{}) {
		return sources.Sysinfo{}, false
	}
	v, err := a.src.Sysinfo(now, f)
	if err != nil {
		return sources.Sysinfo{}, false
	}
	return v, true
}

// AffinityAnnotation overrides, per container, the policy's [policy.cpu]
// affinity (sources.AffinityMode): "quota" makes its sched_getaffinity(2)
// (when lxmount-runc added the rule for it) report the CPUs its
// /sys/devices/system/cpu/online shows, "host" leaves the call to the
// kernel (the cpuset).
const AffinityAnnotation = "lxmount.io/sched-getaffinity"

// affinityQuota reports whether the container of a answers
// sched_getaffinity(2) with its CPU view: its annotation when set, else
// its policy's option.
func affinityQuota(a *attachment) bool {
	switch sources.AffinityMode(a.c.Annotations[AffinityAnnotation]) {
	case sources.AffinityQuota:
		return true
	case sources.AffinityHost:
		return false
	}
	return a.choice.Options.Affinity == sources.AffinityQuota
}

// CPUs returns the CPUs the attached container whose init is initPID
// sees, for sched_getaffinity(2), when it asks for the affinity answer
// (affinityQuota) and mounts its CPU view (sys_cpu, or cpu_online
// where sys_cpu is off).
func (s *Supervisor) CPUs(initPID int) ([]int, bool) {
	a := s.byInitPID(initPID)
	if a == nil || !affinityQuota(a) {
		return nil, false
	}
	if files, _ := a.served(); !slices.Contains(files, "sys_cpu") && !slices.Contains(files, "cpu_online") {
		return nil, false
	}
	cpus, err := a.src.VisibleCPUs()
	return cpus, err == nil && len(cpus) > 0
}

// byInitPID returns the attachment whose init is pid, or nil.
func (s *Supervisor) byInitPID(pid int) *attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.byID {
		if a.c.InitPID == pid {
			return a
		}
	}
	return nil
}
