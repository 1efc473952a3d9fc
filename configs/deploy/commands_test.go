package deploy_test

// Every lxmount command line of the deployment files and of README.md runs
// with --help against the CLI built from this tree.

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// deployCommands collects every lxmount command line of the deployment
// files and of the fenced code blocks of README.md, each with where
// it was found.
func deployCommands(t *testing.T) map[string][]string {
	t.Helper()
	cmds := map[string][]string{} // "where: command line" -> argv
	add := func(where string, argvs [][]string, err error) {
		if err != nil {
			t.Errorf("%s: %v", where, err)
		}
		for _, argv := range argvs {
			cmds[where+": "+strings.Join(argv, " ")] = argv
		}
	}
	for _, name := range []string{"lxmount.service", "lxmount-reconcile.service", "lxmount-reconcile.timer"} {
		u, err := parseUnit(name, readFile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		for key, vs := range u["Service"] {
			if !strings.HasPrefix(key, "Exec") {
				continue
			}
			for _, v := range vs {
				// systemd's prefixes: - @ : + !
				argvs, err := lxmountCommands(strings.TrimLeft(v, "-@:+!"))
				add(name+" "+key, argvs, err)
			}
		}
	}
	for _, line := range strings.Split(readFile(t, "lxmount.cron"), "\n") {
		if f := strings.Fields(line); len(f) >= 7 && !strings.HasPrefix(f[0], "#") && !cronEnvRE.MatchString(line) {
			argvs, err := lxmountCommands(strings.Join(f[6:], " "))
			add("lxmount.cron", argvs, err)
		}
	}
	m, err := decodeManifest(readFile(t, "kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.DaemonSet.Spec.Template.Spec.Containers {
		add("daemonset.yaml command", [][]string{append(slices.Clone(c.Command), c.Args...)}, nil)
		if c.LivenessProbe != nil && c.LivenessProbe.Exec != nil {
			add("daemonset.yaml livenessProbe", [][]string{c.LivenessProbe.Exec.Command}, nil)
		}
	}
	add("Dockerfile", [][]string{{binPath, "daemon"}}, nil) // ENTRYPOINT + CMD, checked by TestDockerfile
	sc := bufio.NewScanner(strings.NewReader(readFile(t, "README.md")))
	inCode, shell, lineNo, pending := false, false, 0, ""
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if fence := strings.TrimSpace(line); strings.HasPrefix(fence, "```") {
			inCode = !inCode
			// Shell blocks only: a TOML `lxmount = [...]` is no command.
			lang := strings.TrimPrefix(fence, "```")
			shell = inCode && (lang == "" || lang == "sh" || lang == "bash")
			continue
		}
		if !shell {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, pending = pending+line, ""
		argvs, err := lxmountCommands(line)
		add(fmt.Sprintf("README.md:%d", lineNo), argvs, err)
	}
	return cmds
}

// lxmountBinary builds ./cmd/lxmount into a temporary directory.
func lxmountBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "lxmount")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/lxmount")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/lxmount: %v\n%s", err, out)
	}
	return bin
}

func TestCommandsExist(t *testing.T) {
	cmds := deployCommands(t)
	subcommands := map[string]bool{}
	for _, argv := range cmds {
		if len(argv) > 1 {
			subcommands[argv[1]] = true
		}
	}
	for _, want := range []string{"daemon", "reconcile", "status"} {
		if !subcommands[want] {
			t.Errorf("no `lxmount %s` found in the deployment files: the collector missed it", want)
		}
	}
	bin := lxmountBinary(t)
	wheres := slices.Sorted(maps.Keys(cmds))
	t.Logf("%d command lines:\n%s", len(wheres), strings.Join(wheres, "\n"))
	for _, where := range wheres {
		argv := cmds[where]
		if len(argv) < 2 {
			t.Errorf("%s: no subcommand", where)
			continue
		}
		// The command line itself with --help: an unknown command or flag
		// exits 2; a known one prints its usage and exits 0 without doing
		// anything.
		out, err := exec.Command(bin, append(slices.Clone(argv[1:]), "--help")...).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "Usage: lxmount "+argv[1]+" ") {
			t.Errorf("%s: `lxmount %s --help`: %v\n%s", where, strings.Join(argv[1:], " "), err, out)
		}
	}
}

// TestREADMELinks checks that the relative links of README.md
// name files that exist.
func TestREADMELinks(t *testing.T) {
	text := readFile(t, "README.md")
	for _, m := range regexp.MustCompile(`\]\(([^)#]+)\)`).FindAllStringSubmatch(text, -1) {
		link := m[1]
		if strings.Contains(link, "://") {
			continue
		}
		if _, err := os.Stat(link); err != nil {
			t.Errorf("README.md links to %s: %v", link, err)
		}
	}
}
