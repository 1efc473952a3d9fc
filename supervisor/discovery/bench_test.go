package discovery

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkScan times Scan on this host with default sources after starting
// n minimal containers (sleep as PID 1 of new pid and mount namespaces) or n
// runc containers (whose state.json Scan also reads, with or without a
// Cache that is warm after the first iteration). It reports the
// containers Scan found and the processes procfs listed, since other
// workloads on the host count too.
func BenchmarkScan(b *testing.B) {
	for _, bc := range []struct {
		kind  string
		n     int
		cache bool
	}{{"bare", 20, false}, {"bare", 200, false}, {"runc", 20, false}, {"runc", 20, true}} {
		name := fmt.Sprintf("%s=%d", bc.kind, bc.n)
		if bc.cache {
			name += "/cache"
		}
		b.Run(name, func(b *testing.B) {
			requireRoot(b)
			opts := Options{}
			if bc.cache {
				opts.Cache = &Cache{}
			}
			switch bc.kind {
			case "bare":
				for range bc.n {
					startBare(b)
				}
			case "runc":
				rootfs := buildBusyboxRootfs(b)
				root := filepath.Join(b.TempDir(), "runc-root")
				for i := range bc.n {
					startRunc(b, root, rootfs, fmt.Sprint("bench", i), nil)
				}
				opts.Sources = append(DefaultSources(), Source{Format: RuncState, Dir: root})
			}
			var found int
			for b.Loop() {
				cs, err := Scan(opts)
				if err != nil {
					b.Fatal(err)
				}
				found = len(cs)
			}
			pids, err := listPIDs("/proc")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(found), "containers")
			b.ReportMetric(float64(len(pids)), "procs")
		})
	}
}

// BenchmarkParseRuncStatePodman times the largest state file seen: runc's
// state.json for a Podman container, ~100 kB because of Podman's seccomp
// profile.
func BenchmarkParseRuncStatePodman(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "podman", "state.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseRuncState(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolve times Resolve of a minimal container's init on this
// host after starting n of them (each one process, so the host holds n
// more), against the load of every process outside the host's pid
// namespace that Resolve did before it read only the target's mount
// namespace ("full").
func BenchmarkResolve(b *testing.B) {
	for _, n := range []int{20, 500, 1000} {
		for _, full := range []bool{false, true} {
			name := fmt.Sprintf("bare=%d", n)
			if full {
				name += "/full"
			}
			b.Run(name, func(b *testing.B) {
				requireRoot(b)
				var pids []int
				for range n {
					pids = append(pids, startBare(b))
				}
				opts := Options{Cache: &Cache{}}
				i := 0
				for b.Loop() {
					pid := pids[i%len(pids)]
					i++
					var err error
					if full {
						_, err = resolveFullFor(opts, pid)
					} else {
						_, err = Resolve(opts, pid)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				all, err := listPIDs("/proc")
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(all)), "procs")
			})
		}
	}
}
