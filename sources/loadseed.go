package sources

import (
	"fmt"
	"math"
	"time"
)

// Where a container's load averages start, other than at 0.00.
//
// A daemon restart or a heal must not reset them (the kernel's never
// reset while the machine runs): the supervisor saves each container's
// averages with the time of their last sample (Container.Load) and hands
// them to the next binding of the same container (RestoreLoad); the next
// SampleLoad folds the periods missed in between with the task count it
// finds, as the kernel's calc_global_nohz folds the periods a tickless
// CPU slept through.
//
// A container attached while it runs has no such past. Its averages then
// start from EstimateLoad of its CPU time since its init started: the
// mean number of its tasks on a CPU over its life, taken as constant and
// decayed the way the kernel's averages would have grown from 0 at the
// container's start. This is a lower bound of the kernel's load, which
// also counts runnable tasks waiting for a CPU (throttled by a quota, say)
// and uninterruptible ones, and it knows nothing of when in its life the
// container was busy; the alternative, the task count of the first sample
// taken as a steady state, is one instant's guess where the CPU time is a
// measurement. A container attached at its start (an OCI hook) has used
// no CPU yet and starts at 0.00 either way.

// EstimateLoad returns the load averages of a load that was busy/elapsed
// tasks for the whole elapsed time, as the kernel's averages would read
// after elapsed from 0.00: each is that load times 1 - exp(-elapsed/T),
// for T of 1, 5 and 15 minutes (the continuous form of calc_load, whose
// factors EXP_1, EXP_5, EXP_15 are 2048/exp(5 s/T)). A non-positive
// elapsed gives 0.00.
func EstimateLoad(busy, elapsed time.Duration) LoadAverage {
	var avg LoadAverage
	if elapsed <= 0 || busy <= 0 {
		return avg
	}
	load := float64(busy) / float64(elapsed)
	for i, window := range [3]time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute} {
		v := load * (1 - math.Exp(-float64(elapsed)/float64(window)))
		avg[i] = uint64(math.Round(v * loadFixed1))
	}
	return avg
}

// Load returns the container's load averages and when their last sample
// was folded (zero before the first), for the supervisor to save.
func (c *Container) Load() (LoadAverage, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.load.avg, c.state.load.last
}

// RestoreLoad sets the container's load averages to avg, as last sampled
// at last (what Load returned for an earlier binding of the container);
// the next SampleLoad folds the periods since then.
func (c *Container) RestoreLoad(avg LoadAverage, last time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.load = loadState{avg: avg, last: last}
}

// SeedLoad starts the container's load averages from EstimateLoad of its
// CPU time since its init started, at now; the next SampleLoad (at least
// half a period later) folds the task count then. A container whose CPU
// time cannot be read keeps 0.00.
func (c *Container) SeedLoad(now time.Time) error {
	u, err := readCPUUsage(c.Cgroup)
	if err != nil {
		return fmt.Errorf("seed load: %w", err)
	}
	busy := time.Duration(u.Total.User + u.Total.System)
	c.RestoreLoad(EstimateLoad(busy, now.Sub(c.InitStart)), now)
	return nil
}
