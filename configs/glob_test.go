package configs

import "testing"

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		name, pattern, subject string
		want                   bool
	}{
		{"literal equal", "/kubepods/pod1", "/kubepods/pod1", true},
		{"literal differs", "/kubepods/pod1", "/kubepods/pod12", false},
		{"double star below", "/kubepods/**", "/kubepods/burstable/pod1/abc", true},
		{"double star one level", "/kubepods/**", "/kubepods/abc", true},
		{"double star matches the dir itself", "/kubepods/**", "/kubepods", true},
		{"double star not a sibling prefix", "/kubepods/**", "/kubepods.slice/abc", false},
		{"star stays in its segment", "/machine.slice/*", "/machine.slice/libpod-1.scope", true},
		{"star does not cross slash", "/machine.slice/*", "/machine.slice/a/b", false},
		{"star needs a segment", "/machine.slice/*", "/machine.slice", false},
		{"star inside segment", "/system.slice/docker-*.scope", "/system.slice/docker-ab12.scope", true},
		{"star inside segment mismatch", "/system.slice/docker-*.scope", "/system.slice/docker.service", false},
		{"middle double star zero segments", "/a/**/c", "/a/c", true},
		{"middle double star many segments", "/a/**/c", "/a/b/b/c", true},
		{"middle double star wrong tail", "/a/**/c", "/a/b/d", false},
		{"leading double star", "/**/cri-containerd-*.scope", "/kubepods.slice/x.slice/cri-containerd-1.scope", true},
		{"repeated double star", "/**/**/x", "/x", true},
		{"question mark", "/pod?", "/pod1", true},
		{"question mark not slash", "/a?b", "/a/b", false},
		{"class", "/pod[0-9]", "/pod7", true},
		{"negated class", "/pod[^0-9]", "/pod7", false},
		{"escaped star is literal", `/a\*`, "/a*", true},
		{"escaped star not a wildcard", `/a\*`, "/ab", false},
		{"name glob", "prod-*", "prod-eu", true},
		{"name glob needs prefix", "prod-*", "staging", false},
		{"empty subject", "*", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := compileGlob(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.match(tt.subject); got != tt.want {
				t.Errorf("%q matching %q = %v, want %v", tt.pattern, tt.subject, got, tt.want)
			}
		})
	}
}

func TestGlobCompileErrors(t *testing.T) {
	tests := []struct{ name, pattern, want string }{
		{"empty", "", "empty pattern"},
		{"double star inside segment", "/kube**", `"**" must be a whole path segment, as in /kubepods/**`},
		{"triple star", "/a/***", `"**" must be a whole path segment, as in /kubepods/**`},
		{"unclosed class", "/pod[0-9", `unclosed "[" or dangling "\" in segment "pod[0-9"`},
		{"dangling backslash", `/pod\`, `unclosed "[" or dangling "\" in segment "pod\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileGlob(tt.pattern)
			if err == nil || err.Error() != tt.want {
				t.Errorf("compileGlob(%q) = %v, want %q", tt.pattern, err, tt.want)
			}
		})
	}
	for _, ok := range []string{`/a\**`, "/[**]", "**", "/a/**/b/**"} {
		if _, err := compileGlob(ok); err != nil {
			t.Errorf("compileGlob(%q) = %v, want ok", ok, err)
		}
	}
}

func TestGlobMatchDoesNotAllocate(t *testing.T) {
	g, err := compileGlob("/kubepods/**/cri-containerd-*.scope")
	if err != nil {
		t.Fatal(err)
	}
	s := "/kubepods/burstable/pod0f2c/cri-containerd-4b1e.scope"
	if n := testing.AllocsPerRun(100, func() { g.match(s) }); n != 0 {
		t.Errorf("match allocates %v times", n)
	}
}
