// cnidriver: a CNI runtime in miniature over Debian's libcni (golang-github-appc-cni-dev 1.1.2),
// calling plugins the way containerd and CRI-O do through the same library:
//
//	cnidriver add   -conflist F -cache DIR -path P -netns NS -cid ID -ifname IF [-args K=V;..] [-cap JSON]
//	cnidriver check ...same...            (prevResult = the cached ADD result)
//	cnidriver del   ...same...            (prevResult = the cached ADD result; cache entry removed)
//	cnidriver gc    -conflist F -cache DIR -path P [-valid ID/IF,ID/IF]
//
// ADD prints the final result of the chain on stdout; any failure is printed on stderr and the
// exit code is 1 (2 for bad usage).
//
// libcni 1.1.2 predates GC (added in libcni 1.2.0), so gcNetworkList below is upstream's
// CNIConfig.GCNetworkList rebuilt on the 1.1.2 API: every cached attachment of the network that
// is not valid gets DelNetworkList with its cached CNI_ARGS and capability args, then (only for
// a conflist at cniVersion >= 1.1.0) every plugin gets GC with "cni.dev/valid-attachments".
// One difference is inherent: 1.1.2's cache does not record the netns, so the stale DEL is sent
// with an empty CNI_NETNS (the spec allows that; 1.2 would send the dead netns path).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
)

type gcAttachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
}

// The cache entry libcni writes on ADD (libcni's cachedInfo, unexported in 1.1.2).
type cachedAttachment struct {
	Kind           string                 `json:"kind"`
	ContainerID    string                 `json:"containerId"`
	IfName         string                 `json:"ifName"`
	NetworkName    string                 `json:"networkName"`
	CniArgs        [][2]string            `json:"cniArgs,omitempty"`
	CapabilityArgs map[string]interface{} `json:"capabilityArgs,omitempty"`
}

func cachedAttachments(cacheDir string) ([]cachedAttachment, error) {
	dir := filepath.Join(cacheDir, "results")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []cachedAttachment
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var a cachedAttachment
		if json.Unmarshal(b, &a) != nil || a.Kind != libcni.CNICacheV1 {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

func gcNetworkList(ctx context.Context, c *libcni.CNIConfig, list *libcni.NetworkConfigList, cacheDir string, valid []gcAttachment) error {
	var raw map[string]interface{}
	if err := json.Unmarshal(list.Bytes, &raw); err == nil {
		if d, ok := raw["disableGC"].(bool); ok && d {
			return nil
		}
	}
	cached, err := cachedAttachments(cacheDir)
	if err != nil {
		return nil // as upstream: an unreadable cache is not an error
	}
	isValid := make(map[gcAttachment]bool, len(valid))
	for _, a := range valid {
		isValid[a] = true
	}
	var errs []error
	for _, a := range cached {
		if a.NetworkName != list.Name || isValid[gcAttachment{a.ContainerID, a.IfName}] {
			continue
		}
		rt := &libcni.RuntimeConf{ContainerID: a.ContainerID, IfName: a.IfName, Args: a.CniArgs, CapabilityArgs: a.CapabilityArgs}
		if err := c.DelNetworkList(ctx, list, rt); err != nil {
			errs = append(errs, fmt.Errorf("failed to delete stale attachment %s %s: %w", rt.ContainerID, rt.IfName, err))
		}
	}
	if gt, _ := version.GreaterThanOrEqualTo(list.CNIVersion, "1.1.0"); gt {
		if valid == nil {
			valid = []gcAttachment{}
		}
		inject := map[string]interface{}{
			"name":                      list.Name,
			"cniVersion":                list.CNIVersion,
			"cni.dev/valid-attachments": valid,
			"cni.dev/attachments":       valid, // libcni sends both (containernetworking/cni#1101)
		}
		for _, plugin := range list.Plugins {
			conf, err := libcni.InjectConf(plugin, inject)
			if err != nil {
				errs = append(errs, fmt.Errorf("failed to generate configuration to GC plugin %s: %w", plugin.Network.Type, err))
				continue
			}
			path, err := invoke.FindInPath(plugin.Network.Type, c.Path)
			if err != nil {
				errs = append(errs, fmt.Errorf("failed to GC plugin %s: %w", plugin.Network.Type, err))
				continue
			}
			args := &invoke.Args{Command: "GC", Path: strings.Join(c.Path, string(os.PathListSeparator))}
			if err := invoke.ExecPluginWithoutResult(ctx, path, conf.Bytes, args, nil); err != nil {
				errs = append(errs, fmt.Errorf("failed to GC plugin %s: %w", plugin.Network.Type, err))
			}
		}
	}
	return joinErrors(errs)
}

// errors.Join arrived in Go 1.20; Debian bookworm has 1.19.
func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n"))
}

func parseArgs(s string) [][2]string {
	var out [][2]string
	for _, kv := range strings.Split(s, ";") {
		if kv == "" {
			continue
		}
		p := strings.SplitN(kv, "=", 2)
		if len(p) == 2 {
			out = append(out, [2]string{p[0], p[1]})
		}
	}
	return out
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cnidriver add|check|del|gc [flags]")
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	conflist := fs.String("conflist", "", "network configuration list file")
	cacheDir := fs.String("cache", "", "libcni cache directory")
	path := fs.String("path", "/usr/lib/cni", "CNI_PATH (':'-separated)")
	netns := fs.String("netns", "", "network namespace path")
	cid := fs.String("cid", "", "container ID")
	ifname := fs.String("ifname", "eth0", "interface name in the container")
	cniArgs := fs.String("args", "", "CNI_ARGS as K=V;K=V")
	capArgs := fs.String("cap", "", "capability args (runtimeConfig) as a JSON object")
	valid := fs.String("valid", "", "GC: valid attachments as ID/IF,ID/IF")
	_ = fs.Parse(os.Args[2:])
	if *conflist == "" || *cacheDir == "" {
		fmt.Fprintln(os.Stderr, "-conflist and -cache are required")
		os.Exit(2)
	}

	list, err := libcni.ConfListFromFile(*conflist)
	if err != nil {
		fail(err)
	}
	c := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(*path), *cacheDir, nil)
	rt := &libcni.RuntimeConf{ContainerID: *cid, NetNS: *netns, IfName: *ifname, Args: parseArgs(*cniArgs)}
	if *capArgs != "" {
		if err := json.Unmarshal([]byte(*capArgs), &rt.CapabilityArgs); err != nil {
			fail(fmt.Errorf("-cap: %w", err))
		}
	}
	ctx := context.Background()

	switch cmd {
	case "add":
		res, err := c.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		if err := res.Print(); err != nil {
			fail(err)
		}
	case "check":
		if err := c.CheckNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "del":
		if err := c.DelNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "gc":
		var va []gcAttachment
		for _, s := range strings.Split(*valid, ",") {
			if p := strings.SplitN(s, "/", 2); len(p) == 2 {
				va = append(va, gcAttachment{ContainerID: p[0], IfName: p[1]})
			}
		}
		if err := gcNetworkList(ctx, c, list, *cacheDir, va); err != nil {
			fail(err)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", cmd)
		os.Exit(2)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err.Error())
	os.Exit(1)
}
