package nriplugin

import (
	"time"

	"github.com/containerd/nri/pkg/api"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/supervisor"
)

// The Kubernetes keys policy matching reads (configs: kubernetes_namespace,
// kubernetes_pod, kubernetes_container), as the kubelet names them; CRI-O
// writes them as OCI annotations, containerd as container labels.
const (
	keyPodNamespace  = "io.kubernetes.pod.namespace"
	keyPodName       = "io.kubernetes.pod.name"
	keyPodUID        = "io.kubernetes.pod.uid"
	keyContainerName = "io.kubernetes.container.name"
)

// annotations returns what policy matching sees as the annotations of ctr,
// a container of pod. Later sources win:
//
//  1. the pod's labels (app=web, ...), so that `annotations = { "app" =
//     "web" }` matches a pod's label: configs has no labels criterion;
//  2. the container's labels (containerd's CRI labels carry the kubelet's
//     io.kubernetes.* keys);
//  3. the container's OCI annotations (containerd's
//     io.kubernetes.cri.sandbox-namespace, ..., CRI-O's io.kubernetes.*);
//  4. where still unset, the pod's namespace, name and uid and the
//     container's name under the kubelet's keys, from NRI's own fields, so
//     the kubernetes_* criteria hold whatever the runtime wrote;
//  5. the pod's lxmount.io/skip annotation, where the container has none:
//     a pod annotated so is left alone, as its containers would be.
//
// The pod's other annotations are not copied: they describe the sandbox
// (containerd's io.kubernetes.cri.container-type = "sandbox" among them),
// and would make every container look like its pause container.
func annotations(pod *api.PodSandbox, ctr *api.Container) map[string]string {
	ann := map[string]string{}
	for k, v := range pod.GetLabels() {
		ann[k] = v
	}
	for k, v := range ctr.GetLabels() {
		ann[k] = v
	}
	for k, v := range ctr.GetAnnotations() {
		ann[k] = v
	}
	setUnset(ann, keyPodNamespace, pod.GetNamespace())
	setUnset(ann, keyPodName, pod.GetName())
	setUnset(ann, keyPodUID, pod.GetUid())
	setUnset(ann, keyContainerName, ctr.GetName())
	if v, ok := pod.GetAnnotations()[configs.SkipAnnotation]; ok {
		setUnset(ann, configs.SkipAnnotation, v)
	}
	return ann
}

// setUnset sets m[k] = v unless m has k or v is empty.
func setUnset(m map[string]string, k, v string) {
	if _, ok := m[k]; !ok && v != "" {
		m[k] = v
	}
}

// attachRequest is the attach the daemon is asked for container ctr of pod,
// whose init is pid, reported by runtime: the container's root is "/"
// (before start, runc's init has pivoted already). A zero deadline puts no
// bound on it (Synchronize).
func attachRequest(pod *api.PodSandbox, ctr *api.Container, pid int, runtime string, deadline time.Time) supervisor.Attach {
	name := ctr.GetName()
	if name == "" {
		name = ctr.GetId()
	}
	return supervisor.Attach{PID: pid, OCI: &supervisor.OCIContainer{
		ID:          ctr.GetId(),
		Rootfs:      "/",
		Runtime:     runtime,
		Name:        name,
		Annotations: annotations(pod, ctr),
		Deadline:    deadline,
	}}
}
