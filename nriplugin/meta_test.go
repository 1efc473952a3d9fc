package nriplugin

import (
	"reflect"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"

	"github.com/lxmount/lxmount/configs"
)

// TestAnnotations: what policy matching sees of a pod's container, per
// runtime's way of writing the Kubernetes keys.
func TestAnnotations(t *testing.T) {
	pod := &api.PodSandbox{Id: "p1", Name: "web-0", Namespace: "shop", Uid: "u-1",
		Labels:      map[string]string{"app": "web", "tier": "front", "io.cri-containerd.kind": "sandbox"},
		Annotations: map[string]string{"io.kubernetes.cri.container-type": "sandbox", "team": "a"},
	}
	tests := []struct {
		name string
		pod  *api.PodSandbox
		ctr  *api.Container
		want map[string]string
	}{
		{
			name: "containerd: CRI annotations, kubelet labels",
			pod:  pod,
			ctr: &api.Container{Id: "c1", Name: "nginx",
				Labels: map[string]string{"io.kubernetes.pod.namespace": "shop", "io.kubernetes.container.name": "nginx",
					"io.cri-containerd.kind": "container"},
				Annotations: map[string]string{"io.kubernetes.cri.container-type": "container",
					"io.kubernetes.cri.sandbox-namespace": "shop", "io.kubernetes.cri.sandbox-name": "web-0"},
			},
			want: map[string]string{
				"app": "web", "tier": "front", "io.cri-containerd.kind": "container",
				"io.kubernetes.pod.namespace": "shop", "io.kubernetes.container.name": "nginx",
				"io.kubernetes.cri.container-type":    "container",
				"io.kubernetes.cri.sandbox-namespace": "shop", "io.kubernetes.cri.sandbox-name": "web-0",
				"io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.uid": "u-1",
			},
		},
		{
			name: "nothing but NRI's fields",
			pod:  &api.PodSandbox{Name: "job-x", Namespace: "batch", Uid: "u-2"},
			ctr:  &api.Container{Id: "c2", Name: "main"},
			want: map[string]string{"io.kubernetes.pod.namespace": "batch", "io.kubernetes.pod.name": "job-x",
				"io.kubernetes.pod.uid": "u-2", "io.kubernetes.container.name": "main"},
		},
		{
			name: "the container's annotation wins over a label of the same key",
			pod:  &api.PodSandbox{Labels: map[string]string{"app": "pod-label"}},
			ctr:  &api.Container{Labels: map[string]string{"app": "ctr-label"}, Annotations: map[string]string{"app": "annotation"}},
			want: map[string]string{"app": "annotation"},
		},
		{
			name: "a pod annotated skip",
			pod:  &api.PodSandbox{Annotations: map[string]string{configs.SkipAnnotation: "true"}},
			ctr:  &api.Container{},
			want: map[string]string{configs.SkipAnnotation: "true"},
		},
		{
			name: "the container's own skip annotation wins",
			pod:  &api.PodSandbox{Annotations: map[string]string{configs.SkipAnnotation: "true"}},
			ctr:  &api.Container{Annotations: map[string]string{configs.SkipAnnotation: "false"}},
			want: map[string]string{configs.SkipAnnotation: "false"},
		},
		{
			name: "no pod",
			pod:  nil,
			ctr:  &api.Container{Name: "c"},
			want: map[string]string{"io.kubernetes.container.name": "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := annotations(tt.pod, tt.ctr); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("annotations =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

// TestAnnotationsMatchPolicies: the view feeds configs' kubernetes_*
// criteria, and the pod's other annotations never make a container look
// like a sandbox.
func TestAnnotationsMatchPolicies(t *testing.T) {
	pols, err := configs.ParsePolicies("10.toml", []byte(`
[[policy]]
name = "sandboxes"
[policy.match]
annotations = { "io.kubernetes.cri.container-type" = "sandbox" }

[[policy]]
name = "shop-web"
[policy.match]
kubernetes_namespace = "shop"
kubernetes_pod = "web-*"
kubernetes_container = "nginx"
annotations = { "app" = "web" }
`))
	if err != nil {
		t.Fatal(err)
	}
	set := &configs.Set{Policies: pols}
	pod := &api.PodSandbox{Name: "web-0", Namespace: "shop", Labels: map[string]string{"app": "web"},
		Annotations: map[string]string{"io.kubernetes.cri.container-type": "sandbox"}}
	ctr := &api.Container{Id: "c1", Name: "nginx"}
	p, why := set.Match(configs.Container{ID: ctr.Id, Name: ctr.Name, Annotations: annotations(pod, ctr)})
	if p == nil || p.Name != "shop-web" {
		t.Fatalf("matched %v (%s), want shop-web", p, why)
	}
}

// TestAttachRequest: the attach asked for a starting container.
func TestAttachRequest(t *testing.T) {
	deadline := time.Unix(100, 0)
	req := attachRequest(&api.PodSandbox{Namespace: "ns"}, &api.Container{Id: "abc", Name: "app"}, 42, "containerd", deadline)
	if req.PID != 42 || req.OCI == nil || req.OCI.ID != "abc" || req.OCI.Name != "app" || req.OCI.Rootfs != "/" ||
		req.OCI.Runtime != "containerd" || !req.OCI.Deadline.Equal(deadline) || req.OCI.Annotations["io.kubernetes.pod.namespace"] != "ns" {
		t.Errorf("attachRequest = %+v, OCI %+v", req, req.OCI)
	}
	if req := attachRequest(nil, &api.Container{Id: "abc"}, 1, "", time.Time{}); req.OCI.Name != "abc" {
		t.Errorf("a container without a name is named %q, want its id", req.OCI.Name)
	}
}
