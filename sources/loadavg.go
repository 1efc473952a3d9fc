package sources

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Fixed-point constants of include/linux/sched/loadavg.h.
const (
	loadFShift = 11              // FSHIFT: bits of precision
	loadFixed1 = 1 << loadFShift // FIXED_1: 1.0 as fixed point
	loadExp1   = 1884            // EXP_1: 1/exp(5s/1min) as fixed point
	loadExp5   = 2014            // EXP_5: 1/exp(5s/5min)
	loadExp15  = 2037            // EXP_15: 1/exp(5s/15min)
)

// LoadPeriod is how often the kernel samples the load (LOAD_FREQ, 5 s) and
// so how often the supervisor is expected to call Container.SampleLoad.
const LoadPeriod = 5 * time.Second

// maxLoadPeriods bounds how many missed periods one sample folds: after
// 2^16 periods (about 3.8 days) the old averages have decayed to 0 anyway.
const maxLoadPeriods = 1 << 16

// LoadAverage is the kernel's avenrun[3]: the 1, 5 and 15 minute load
// averages as fixed point with 11 fractional bits (2048 is a load of 1.00).
// The zero value is 0.00 0.00 0.00, which is also what the kernel starts
// from at boot.
type LoadAverage [3]uint64

// Sample folds one LoadPeriod sample into l: active is the number of
// running plus uninterruptible tasks at that moment, as the kernel counts
// them in calc_global_load (kernel/sched/loadavg.c).
func (l *LoadAverage) Sample(active int) { l.SampleN(active, 1) }

// SampleN folds n periods during which active stayed the same, in one step,
// like calc_global_nohz does for periods missed while CPUs were idle
// (calc_load_n: the factor is exp^n, computed by fixed_power_int). SampleN
// with n == 1 is exactly Sample; n == 0 changes nothing.
func (l *LoadAverage) SampleN(active int, n uint) {
	if n == 0 {
		return
	}
	var a uint64
	if active > 0 {
		a = uint64(active) * loadFixed1
	}
	for i, exp := range [3]uint64{loadExp1, loadExp5, loadExp15} {
		l[i] = calcLoad(l[i], fixedPowerInt(exp, loadFShift, n), a)
	}
}

// calcLoad is the kernel's calc_load: load * exp + active * (1 - exp),
// rounded up while the load rises so that a constant load is reached.
func calcLoad(load, exp, active uint64) uint64 {
	newload := load*exp + active*(loadFixed1-exp)
	if active >= load {
		newload += loadFixed1 - 1
	}
	return newload / loadFixed1
}

// fixedPowerInt is the kernel's fixed_power_int (include/linux/sched/loadavg.h):
// x^n for x in fixed point with fracBits fractional bits, rounding each
// step the same way, so that SampleN matches calc_load_n bit for bit.
func fixedPowerInt(x uint64, fracBits uint, n uint) uint64 {
	result := uint64(1) << fracBits
	half := uint64(1) << (fracBits - 1)
	for n != 0 {
		if n&1 != 0 {
			result = (result*x + half) >> fracBits
		}
		n >>= 1
		if n == 0 {
			break
		}
		x = (x*x + half) >> fracBits
	}
	return result
}

// Loadavg appends a /proc/loadavg line to dst, in the format of
// fs/proc/loadavg.c ("%lu.%02lu %lu.%02lu %lu.%02lu %u/%d %d\n"):
//
//	0.63 0.18 0.06 1/84 10706
//	1    2    3    4    5
//
// Fields 1-3 are avg, rounded like get_avenrun(avnrun, FIXED_1/200, 0).
// Field 4 is running/total tasks from tasks; when tasks is nil (the cgroup
// is gone) it is the host's, taken from host (the host's /proc/loadavg).
// Field 5, the last PID allocated, is always the host's: lxmount does not
// see the PIDs the container's own PID namespace hands out.
func Loadavg(dst, host []byte, avg LoadAverage, tasks *TaskStates) ([]byte, error) {
	var f [5][]byte
	rest := bytes.TrimSuffix(host, []byte{'\n'})
	for i := range f {
		f[i], rest = nextField(rest)
	}
	if f[4] == nil || len(bytes.TrimSpace(rest)) > 0 || bytes.IndexByte(f[3], '/') < 0 {
		return dst, fmt.Errorf("parse loadavg: unexpected line %q", host)
	}
	for _, v := range avg {
		v += loadFixed1 / 200
		dst = strconv.AppendUint(dst, v>>loadFShift, 10) // LOAD_INT
		dst = append(dst, '.')
		frac := ((v & (loadFixed1 - 1)) * 100) >> loadFShift // LOAD_FRAC
		if frac < 10 {
			dst = append(dst, '0')
		}
		dst = strconv.AppendUint(dst, frac, 10)
		dst = append(dst, ' ')
	}
	if tasks != nil {
		dst = strconv.AppendInt(dst, int64(tasks.Running), 10)
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(tasks.Total), 10)
	} else {
		dst = append(dst, f[3]...)
	}
	dst = append(dst, ' ')
	dst = append(dst, f[4]...)
	return append(dst, '\n'), nil
}

// loadState is what /proc/loadavg keeps between samples, guarded by
// Container.mu.
type loadState struct {
	avg  LoadAverage
	last time.Time // when the last sample was folded; zero before the first
}

// loadPeriods returns how many LoadPeriods a sample taken at now stands
// for, given the previous one was folded at last: 1 for the first sample,
// otherwise the elapsed time rounded to whole periods (0 for a call that
// comes too early, several when the supervisor fell behind).
func loadPeriods(last, now time.Time) uint {
	if last.IsZero() {
		return 1
	}
	elapsed := now.Sub(last)
	if elapsed < LoadPeriod/2 {
		return 0
	}
	n := (elapsed + LoadPeriod/2) / LoadPeriod
	if n > maxLoadPeriods {
		n = maxLoadPeriods
	}
	return uint(n)
}

// SampleLoad folds the cgroup's current number of running plus
// uninterruptible tasks into the container's load averages. The supervisor
// calls it every LoadPeriod for all containers from one goroutine (no
// per-container timers); a call less than half a period after the previous
// sample is ignored, and a late call folds the missed periods with the
// current count. Until the first sample the averages read 0.00, as after
// boot. When the tasks cannot be read the averages are left unchanged.
func (c *Container) SampleLoad(now time.Time) error {
	c.mu.Lock()
	n := loadPeriods(c.state.load.last, now)
	c.mu.Unlock()
	if n == 0 {
		return nil
	}
	ts, err := readTaskStates(c.Host, c.Cgroup)
	if err != nil {
		return fmt.Errorf("sample load: %w", err)
	}
	c.mu.Lock()
	c.state.load.avg.SampleN(ts.Running+ts.Uninterruptible, n)
	c.state.load.last = now
	c.mu.Unlock()
	return nil
}

// renderLoadavg serves /proc/loadavg: the sampled averages, the cgroup's
// running/total tasks read now, the host's last PID. If the cgroup is gone
// the task counts are the host's.
//
// The reader of /proc/loadavg waits for lxmount in state S, so unlike the
// kernel's own file the reading task does not count as running.
func renderLoadavg(c *Container, now time.Time, buf *bytes.Buffer) error {
	path := c.Host.proc("loadavg")
	hb := c.getBuf()
	defer c.putBuf(hb)
	host, err := c.read(c.Host.ProcRoot, "loadavg", *hb)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	*hb = host
	r := c.fileReader()
	defer c.putReader(r)
	var tasks *TaskStates
	ts, err := r.taskStates(c.Host, c.Cgroup)
	switch {
	case err == nil:
		tasks = &ts
	case !isVanished(err):
		return err
	}
	c.mu.Lock()
	avg := c.state.load.avg
	c.mu.Unlock()
	out, err := Loadavg(buf.AvailableBuffer(), host, avg, tasks)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	buf.Write(out)
	return nil
}
