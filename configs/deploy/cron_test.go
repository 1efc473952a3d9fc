package deploy_test

// Checks of lxmount.cron: an /etc/cron.d file with one job that runs
// `lxmount reconcile` as root.

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// cronFieldRanges are the bounds of the five time fields of crontab(5).
var cronFieldRanges = [5]struct {
	name     string
	min, max int
	names    []string // names for min, min+1, ...
}{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{"day of week", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// checkCronField validates one time field: a comma list of "*", "N",
// "N-M", each optionally "/step"; numbers in range or names.
func checkCronField(i int, f string) error {
	r := cronFieldRanges[i]
	value := func(s string) (int, bool) {
		if n, err := strconv.Atoi(s); err == nil {
			return n, n >= r.min && n <= r.max
		}
		if j := slices.Index(r.names, strings.ToLower(s)); j >= 0 {
			return r.min + j, true
		}
		return 0, false
	}
	for _, item := range strings.Split(f, ",") {
		base, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n < 1 {
				return fmt.Errorf("%s field %q: bad step %q", r.name, f, step)
			}
		}
		if base == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(base, "-")
		a, ok := value(lo)
		if !ok {
			return fmt.Errorf("%s field %q: %q is not in %d-%d", r.name, f, lo, r.min, r.max)
		}
		if isRange {
			if b, ok := value(hi); !ok || b < a {
				return fmt.Errorf("%s field %q: bad range %q", r.name, f, base)
			}
		} else if hasStep {
			return fmt.Errorf("%s field %q: a step needs * or a range", r.name, f)
		}
	}
	return nil
}

var cronEnvRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\s*=`)

func TestCron(t *testing.T) {
	text := readFile(t, "lxmount.cron")
	if !strings.HasSuffix(text, "\n") {
		t.Error("lxmount.cron does not end with a newline: cron ignores an unterminated last line")
	}
	var jobs []string
	env := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case cronEnvRE.MatchString(line):
			k, v, _ := strings.Cut(line, "=")
			env[strings.TrimSpace(k)] = strings.TrimSpace(v)
		default:
			jobs = append(jobs, line)
		}
	}
	if len(jobs) != 1 {
		t.Fatalf("lxmount.cron: %d job lines, want 1: %q", len(jobs), jobs)
	}
	// /etc/cron.d format: 5 time fields, the user, the command.
	fields := strings.Fields(jobs[0])
	if len(fields) < 7 {
		t.Fatalf("job %q: want 5 time fields, a user and a command", jobs[0])
	}
	for i, f := range fields[:5] {
		if err := checkCronField(i, f); err != nil {
			t.Error(err)
		}
	}
	if fields[5] != "root" {
		t.Errorf("job runs as %q, want root", fields[5])
	}
	command := strings.Join(fields[6:], " ")
	segments, err := pipeline(command)
	if err != nil {
		t.Fatal(err)
	}
	if len(segments) == 0 || !slices.Equal(segments[0], []string{binPath, "reconcile"}) {
		t.Errorf("job command %q does not start with `%s reconcile`", command, binPath)
	}
	for _, seg := range segments {
		if !filepath.IsAbs(seg[0]) {
			t.Errorf("job command %q: %q is not an absolute path", command, seg[0])
		}
	}
	// The daemon a run starts runs fusermount3 (/usr/bin on Debian) from PATH.
	if p := env["PATH"]; !slices.Contains(filepath.SplitList(p), "/usr/bin") {
		t.Errorf("PATH=%q lacks /usr/bin, where fusermount3 is", p)
	}
}
