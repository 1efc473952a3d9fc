// Package nriplugin attaches Kubernetes containers through the Node
// Resource Interface (github.com/containerd/nri): the daemon registers on
// the runtime's NRI socket as a plugin, and the runtime (containerd >= 1.7
// with NRI enabled, CRI-O >= 1.26) tells it of every container of every pod
// synchronously, with the pod's metadata.
//
//   - StartContainer comes after the task is created and before it starts:
//     the container's namespaces, cgroup and process (runc's init, waiting
//     on its exec fifo, already past pivot_root, so its root is "/") exist,
//     and the runtime waits for the answer. The plugin attaches the
//     container then, bounded by hook_timeout and by the runtime's request
//     timeout, so its first instruction reads its own /proc.
//   - StopContainer and RemoveContainer detach it (the exit of its init
//     has usually made the supervisor forget it already).
//   - Synchronize, at each registration, lists the running containers: the
//     plugin attaches them in the background (the runtime bounds the whole
//     synchronization by its request timeout).
//
// The runtime's word names the container and feeds policy matching: its
// id and Kubernetes name, and an annotation view (see annotations) where
// kubernetes_namespace, kubernetes_pod, kubernetes_container and
// annotations criteria find the pod's namespace, name and labels.
//
// The connection is kept up by Plugin.Run: no socket, a refused
// registration or a runtime restart leaves the daemon working on its other
// paths (event watch, hook, reconcile) while it retries in the background.
//
// Not for: runtimes without NRI (the OCI hook and the event watch cover
// them), and sandboxes (NRI reports pods by RunPodSandbox, not as
// containers: the plugin never attaches a pause container).
package nriplugin
