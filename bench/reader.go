package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/mountns"
)

// readResult is what a reader process prints, as JSON, on stdout.
type readResult struct {
	Ops      int64   `json:"ops"`     // open-read-close cycles completed in the window
	Seconds  float64 `json:"seconds"` // the measuring window
	Bytes    int64   `json:"bytes"`   // bytes of the last read content (size check)
	Errors   int64   `json:"errors"`  // failed cycles (any error fails the run)
	FirstErr string  `json:"first_error,omitempty"`
	// Lat are the cycle latencies in ns, sorted; only when -samples.
	Lat []int64 `json:"lat,omitempty"`
	// P50, P99, P999 and Max are latency percentiles in ns.
	P50, P99, P999, Max int64
}

// readMain is `lxmount-bench read`: open, read until EOF and close path in
// a loop on -workers locked threads, for -duration after -warmup, and
// print a readResult. With -rate the workers together pace themselves to
// that many cycles per second (open loop: a late cycle does not push the
// schedule back). -cgroup joins the process to cgroup directories first;
// -ns makes every worker thread join a mount namespace first.
func readMain(args []string) error {
	fs := flag.NewFlagSet("read", flag.ContinueOnError)
	path := fs.String("path", "", "file to read")
	workers := fs.Int("workers", 1, "concurrent reader threads")
	duration := fs.Duration("duration", time.Second, "measuring window")
	warmup := fs.Duration("warmup", 100*time.Millisecond, "unmeasured time before the window")
	rate := fs.Float64("rate", 0, "cycles per second over all workers; 0: as fast as possible")
	nsPath := fs.String("ns", "", "mount namespace file (/proc/PID/ns/mnt) the workers join")
	cgroups := fs.String("cgroup", "", "comma-separated cgroup directories to join first")
	samples := fs.Bool("samples", false, "print every latency, sorted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" || *workers < 1 {
		return errors.New("need -path and -workers >= 1")
	}
	if *cgroups != "" {
		for _, d := range strings.Split(*cgroups, ",") {
			p := filepath.Join(d, "cgroup.procs")
			if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
				return fmt.Errorf("join cgroup: %w", err)
			}
		}
	}
	var ns *mountns.Namespace
	if *nsPath != "" {
		var err error
		if ns, err = mountns.OpenPath(*nsPath); err != nil {
			return err
		}
		defer ns.Close()
	}

	start := time.Now().Add(20 * time.Millisecond) // all workers start together
	from := start.Add(*warmup)
	until := from.Add(*duration)
	type workerOut struct {
		lat      []int64
		bytes    int64
		errs     int64
		firstErr error
	}
	outs := make([]workerOut, *workers)
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outs[w]
			loop := func() error {
				var interval time.Duration
				if *rate > 0 {
					interval = time.Duration(float64(*workers) / *rate * float64(time.Second))
				}
				o.lat = make([]int64, 0, 1<<14)
				buf := make([]byte, 64<<10)
				time.Sleep(time.Until(start))
				next := start.Add(time.Duration(w) * interval / time.Duration(*workers))
				for {
					if interval > 0 {
						if d := time.Until(next); d > 0 {
							time.Sleep(d)
						}
						next = next.Add(interval)
					}
					t0 := time.Now()
					if !t0.Before(until) {
						return nil
					}
					n, err := readOnce(*path, buf)
					t1 := time.Now()
					if err != nil {
						o.errs++
						if o.firstErr == nil {
							o.firstErr = err
						}
						continue
					}
					o.bytes = n
					if !t0.Before(from) {
						o.lat = append(o.lat, int64(t1.Sub(t0)))
					}
				}
			}
			var err error
			if ns != nil {
				err = ns.Do(loop)
			} else {
				runtime.LockOSThread()
				err = loop()
			}
			if err != nil && o.firstErr == nil {
				o.firstErr, o.errs = err, o.errs+1
			}
		}()
	}
	wg.Wait()

	res := readResult{Seconds: duration.Seconds()}
	var all []int64
	for _, o := range outs {
		all = append(all, o.lat...)
		res.Bytes = max(res.Bytes, o.bytes)
		res.Errors += o.errs
		if o.firstErr != nil && res.FirstErr == "" {
			res.FirstErr = o.firstErr.Error()
		}
	}
	slices.Sort(all)
	res.Ops = int64(len(all))
	res.P50, res.P99, res.P999, res.Max = pct(all, 50), pct(all, 99), pct(all, 99.9), pct(all, 100)
	if *samples {
		res.Lat = all
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// readOnce opens path, reads it until EOF and closes it, as cat does, and
// returns how many bytes it read.
func readOnce(path string, buf []byte) (int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var total int64
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return 0, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		total += int64(n)
	}
	if err := unix.Close(fd); err != nil {
		return 0, &os.PathError{Op: "close", Path: path, Err: err}
	}
	return total, nil
}

// pct returns the p-th percentile of sorted values (nearest rank), 0 for none.
func pct(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
