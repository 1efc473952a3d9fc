package supervisor

import (
	"testing"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/supervisor/discovery"
)

// TestChooseByName checks that a policy's `name` key sees the name
// discovery reports: for a Docker container its `docker run --name`, not
// its 64-hex id.
func TestChooseByName(t *testing.T) {
	ps, err := configs.ParsePolicies("names.toml", []byte(`
[[policy]]
name = "docker-web"
[policy.match]
runtime = "docker"
name = ["web", "web-*"]

[[policy]]
name = "by-id"
[policy.match]
id = "d858*"
`))
	if err != nil {
		t.Fatal(err)
	}
	pols := PoliciesFrom(&configs.Set{Daemon: configs.DefaultDaemon(), Policies: ps})
	const id = "d858273d4dbc4c6a4168583a57e65581f3adc647909b98bf73aaee05bcac2434"
	docker := func(name string) discovery.Container {
		return discovery.Container{Runtime: "docker", ID: id, Name: name,
			CgroupV1: map[string]string{"memory": "/docker/" + id}}
	}
	tests := []struct {
		name string
		c    discovery.Container
		want string // "" : no policy
	}{
		{name: "docker run --name web", c: docker("web"), want: "docker-web"},
		{name: "docker run --name web-2", c: docker("web-2"), want: "docker-web"},
		{name: "another docker name falls to the id policy", c: docker("db"), want: "by-id"},
		{name: "a podman container named web", c: discovery.Container{Runtime: "podman", ID: "cd53", Name: "web"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, ok, why, err := pols.Choose(tt.c, "")
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if ok {
				got = ch.Policy
			}
			if got != tt.want {
				t.Errorf("Choose = %q (%s), want %q", got, why, tt.want)
			}
		})
	}
}
