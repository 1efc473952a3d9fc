package deploy_test

// Checks of kubernetes/Dockerfile, by its text: no Docker engine here.

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerInstructions returns the Dockerfile's instructions, continuation
// lines joined and comments dropped, as "KEYWORD rest".
func dockerInstructions(text string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// goMinor returns "1.26" of "1.26.8" or "1.26".
func goMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

func TestDockerfile(t *testing.T) {
	ins := dockerInstructions(readFile(t, "kubernetes/Dockerfile"))
	var froms, runs []string
	var copyToBin, entrypoint, cmd string
	for _, in := range ins {
		kw, rest, _ := strings.Cut(in, " ")
		switch strings.ToUpper(kw) {
		case "FROM":
			froms = append(froms, rest)
		case "RUN":
			runs = append(runs, rest)
		case "COPY":
			if strings.HasSuffix(rest, " "+binPath) {
				copyToBin = rest
			}
		case "ENTRYPOINT":
			entrypoint = rest
		case "CMD":
			cmd = rest
		}
	}
	if len(froms) != 2 {
		t.Fatalf("FROM %q: want a build stage and a runtime stage", froms)
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go ([0-9.]+)$`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	if m := regexp.MustCompile(`^golang:([0-9.]+)\S* AS build$`).FindStringSubmatch(froms[0]); m == nil || goMinor(m[1]) != goMinor(string(goVersion[1])) {
		t.Errorf("build stage %q: want golang:%s AS build (go.mod: go %s)", froms[0], goMinor(string(goVersion[1])), goVersion[1])
	}
	if !regexp.MustCompile(`^debian:[a-z]+-slim$`).MatchString(froms[1]) {
		t.Errorf("runtime stage %q: want debian:<release>-slim", froms[1])
	}
	all := strings.Join(runs, "\n")
	if !regexp.MustCompile(`apt-get install [^\n]*\bfuse3\b`).MatchString(all) {
		t.Error("no RUN installs fuse3 (fusermount3)")
	}
	if !regexp.MustCompile(`CGO_ENABLED=0 go build [^\n]*\./cmd/lxmount`).MatchString(all) {
		t.Error("no RUN builds ./cmd/lxmount with CGO_ENABLED=0")
	}
	if !strings.HasPrefix(copyToBin, "--from=build ") {
		t.Errorf("no COPY --from=build of the binary to %s", binPath)
	}
	if entrypoint != `["`+binPath+`"]` || cmd != `["daemon"]` {
		t.Errorf("ENTRYPOINT %s CMD %s: want [%q] [\"daemon\"]", entrypoint, cmd, binPath)
	}
	ignore := strings.Fields(readFile(t, "kubernetes/Dockerfile.dockerignore"))
	for _, p := range []string{"bin", "build", ".git"} {
		if !slices.Contains(ignore, p) {
			t.Errorf("Dockerfile.dockerignore does not keep %s out of the build context", p)
		}
	}
}
