// Command criclient is the small CRI client of the opt-in containerd NRI
// test (integration/nri_containerd_test.go, build tag nri_containerd): it
// speaks k8s.io/cri-api's runtime.v1 over containerd's socket, as the
// kubelet does, for the few calls the test needs. It is its own module so
// that the project's go.mod does not carry cri-api and gRPC for a test
// tool; internal/testenv.BuildCRIClient builds it.
//
//	criclient -addr SOCK runp SPEC              prints the pod sandbox id
//	criclient -addr SOCK create SPEC POD        prints the container id
//	criclient -addr SOCK start ID
//	criclient -addr SOCK status ID              prints {"state","exit_code","log_path","pid"}
//	criclient -addr SOCK stop ID
//	criclient -addr SOCK rmp POD                stops and removes the pod sandbox
//	criclient -addr SOCK pods                   prints the ids of all pod sandboxes
//	criclient -addr SOCK version
//
// SPEC is a JSON file (Spec).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Spec is what runp and create build their requests from.
type Spec struct {
	PodName      string   `json:"pod_name"`
	PodNamespace string   `json:"pod_namespace"`
	PodUID       string   `json:"pod_uid"`
	CgroupParent string   `json:"cgroup_parent"`
	LogDir       string   `json:"log_dir"`
	Container    string   `json:"container"`
	Image        string   `json:"image"`
	Command      []string `json:"command"`
	MemoryLimit  int64    `json:"memory_limit"`
	CPUQuota     int64    `json:"cpu_quota"`
	CPUPeriod    int64    `json:"cpu_period"`
}

func main() {
	addr := flag.String("addr", "", "containerd's socket")
	timeout := flag.Duration("timeout", 60*time.Second, "per call")
	flag.Parse()
	args := flag.Args()
	if *addr == "" || len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: criclient -addr SOCK runp|create|start|status|stop|rmp|pods|version ...")
		os.Exit(2)
	}
	conn, err := grpc.NewClient("unix://"+*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	rt := cri.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, rt, args); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "criclient:", err)
	os.Exit(1)
}

func need(args []string, n int) error {
	if len(args) != n+1 {
		return fmt.Errorf("%s takes %d arguments", args[0], n)
	}
	return nil
}

func readSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Spec
	return &s, json.Unmarshal(b, &s)
}

// podConfig: host network (no CNI here), the pod's own IPC and PID
// namespaces through the sandbox, cgroupfs parent.
func podConfig(s *Spec) *cri.PodSandboxConfig {
	return &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: s.PodName, Namespace: s.PodNamespace, Uid: s.PodUID},
		LogDirectory: s.LogDir,
		Labels:       map[string]string{"app": s.PodName},
		Linux: &cri.LinuxPodSandboxConfig{
			CgroupParent: s.CgroupParent,
			SecurityContext: &cri.LinuxSandboxSecurityContext{
				NamespaceOptions: &cri.NamespaceOption{Network: cri.NamespaceMode_NODE, Pid: cri.NamespaceMode_CONTAINER, Ipc: cri.NamespaceMode_POD},
			},
		},
	}
}

func run(ctx context.Context, rt cri.RuntimeServiceClient, args []string) error {
	switch args[0] {
	case "version":
		r, err := rt.Version(ctx, &cri.VersionRequest{})
		if err != nil {
			return err
		}
		fmt.Printf("%s %s %s\n", r.RuntimeName, r.RuntimeVersion, r.RuntimeApiVersion)
	case "runp":
		if err := need(args, 1); err != nil {
			return err
		}
		s, err := readSpec(args[1])
		if err != nil {
			return err
		}
		r, err := rt.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: podConfig(s)})
		if err != nil {
			return err
		}
		fmt.Println(r.PodSandboxId)
	case "create":
		if err := need(args, 2); err != nil {
			return err
		}
		s, err := readSpec(args[1])
		if err != nil {
			return err
		}
		r, err := rt.CreateContainer(ctx, &cri.CreateContainerRequest{
			PodSandboxId:  args[2],
			SandboxConfig: podConfig(s),
			Config: &cri.ContainerConfig{
				Metadata: &cri.ContainerMetadata{Name: s.Container},
				Image:    &cri.ImageSpec{Image: s.Image},
				Command:  s.Command,
				LogPath:  s.Container + ".log",
				Linux: &cri.LinuxContainerConfig{
					Resources: &cri.LinuxContainerResources{MemoryLimitInBytes: s.MemoryLimit, CpuQuota: s.CPUQuota, CpuPeriod: s.CPUPeriod},
				},
			},
		})
		if err != nil {
			return err
		}
		fmt.Println(r.ContainerId)
	case "start":
		if err := need(args, 1); err != nil {
			return err
		}
		_, err := rt.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: args[1]})
		return err
	case "stop":
		if err := need(args, 1); err != nil {
			return err
		}
		_, err := rt.StopContainer(ctx, &cri.StopContainerRequest{ContainerId: args[1], Timeout: 5})
		return err
	case "status":
		if err := need(args, 1); err != nil {
			return err
		}
		r, err := rt.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: args[1], Verbose: true})
		if err != nil {
			return err
		}
		var info struct {
			Pid int `json:"pid"`
		}
		_ = json.Unmarshal([]byte(r.Info["info"]), &info)
		return json.NewEncoder(os.Stdout).Encode(map[string]any{
			"state": r.Status.State.String(), "exit_code": r.Status.ExitCode,
			"log_path": r.Status.LogPath, "pid": info.Pid,
		})
	case "rmp":
		if err := need(args, 1); err != nil {
			return err
		}
		if _, err := rt.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: args[1]}); err != nil {
			return err
		}
		_, err := rt.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: args[1]})
		return err
	case "pods":
		r, err := rt.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{})
		if err != nil {
			return err
		}
		for _, p := range r.Items {
			fmt.Println(p.Id)
		}
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}
