package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// A sandbox lives in StateDir:
//
//	sandboxes/<id>/sandbox.json   metadata (ListSandboxes reads it after a restart)
//	sandboxes/<id>/hostname|hosts|resolv.conf   bind-mounted into every container
//	sandboxes/<id>/logs/<container id>.log      CRI-format logs (+ .1 rotated)
//	netns/<id>                    the pinned network namespace
//
//	RunSandbox --> ready --StopSandbox--> stopped --RemoveSandbox--> gone
//	                 ^                       |
//	                 +------ RunSandbox -----+   (same UID: network again)

// sandboxRecord is what sandbox.json holds.
type sandboxRecord struct {
	runtime.Sandbox
	Hostname    string                `json:"hostname"`
	HostNetwork bool                  `json:"hostNetwork"`
	Ports       []runtime.PortMapping `json:"ports,omitempty"`
}

// sandboxID is stable for a pod, so RunSandbox is idempotent.
func sandboxID(cfg runtime.SandboxConfig) string {
	h := sha256.Sum256([]byte(cfg.Namespace + "/" + cfg.Name + "/" + cfg.UID))
	return hex.EncodeToString(h[:8])
}

func (r *Runtime) sandboxDir(id string) string {
	return filepath.Join(sandboxesDir(r.opts.StateDir), id)
}
func (r *Runtime) netnsPath(id string) string { return filepath.Join(netnsDir(r.opts.StateDir), id) }

// RunSandbox creates (or re-readies) the pod's sandbox.
func (r *Runtime) RunSandbox(ctx context.Context, cfg runtime.SandboxConfig) (*runtime.Sandbox, error) {
	if cfg.UID == "" || cfg.Name == "" {
		return nil, errors.New("sandbox: UID and Name are required")
	}
	id := sandboxID(cfg)
	defer r.keys.lock("sandbox/" + id)()
	rec, err := r.loadSandbox(id)
	switch {
	case err == nil && rec.Ready:
		return &rec.Sandbox, nil
	case err == nil:
		// stopped: network again, same files
	case errors.Is(err, runtime.ErrNotFound):
		rec = &sandboxRecord{Sandbox: runtime.Sandbox{
			ID: id, UID: cfg.UID, Namespace: cfg.Namespace, Name: cfg.Name,
			Labels: cfg.Labels, Created: time.Now().UTC(),
		}}
	default:
		return nil, err
	}
	rec.HostNetwork, rec.Ports = cfg.HostNetwork, cfg.PortMappings
	rec.Hostname = cfg.Hostname
	if rec.Hostname == "" {
		rec.Hostname = cfg.Name
	}
	if cfg.HostNetwork {
		rec.Hostname, _ = os.Hostname()
	}
	dir := r.sandboxDir(id)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("sandbox dir: %w", err)
	}
	if err := r.setupNetwork(ctx, rec); err != nil {
		return nil, err
	}
	if err := writeSandboxFiles(dir, rec, cfg.DNS); err != nil {
		return nil, errors.Join(err, r.teardownNetwork(ctx, rec))
	}
	rec.Ready = true
	if err := r.saveSandbox(rec); err != nil {
		return nil, errors.Join(err, r.teardownNetwork(ctx, rec))
	}
	r.log.Debug("sandbox ready", "sandbox_id", id, "pod", cfg.Namespace+"/"+cfg.Name, "ip", rec.IP)
	return &rec.Sandbox, nil
}

// setupNetwork makes the netns and hands it to the network plugin.
func (r *Runtime) setupNetwork(ctx context.Context, rec *sandboxRecord) error {
	if rec.HostNetwork {
		rec.NetNS, rec.IP = "", ""
		return nil
	}
	path := r.netnsPath(rec.ID)
	if !isNetNSMounted(path) {
		_ = os.Remove(path)
		if err := createNetNS(path); err != nil {
			return err
		}
	}
	rec.NetNS = path
	if r.opts.Network == nil {
		rec.IP = ""
		return nil
	}
	ip, err := r.opts.Network.Setup(ctx, rec.ID, path, podRef(rec), rec.Ports)
	if err != nil {
		return errors.Join(fmt.Errorf("sandbox network: %w", err), removeNetNS(path))
	}
	rec.IP = ip
	return nil
}

// teardownNetwork undoes setupNetwork; idempotent.
func (r *Runtime) teardownNetwork(ctx context.Context, rec *sandboxRecord) error {
	if rec.HostNetwork {
		return nil
	}
	var errs []error
	path := r.netnsPath(rec.ID)
	if r.opts.Network != nil {
		if err := r.opts.Network.Teardown(ctx, rec.ID, path, podRef(rec)); err != nil {
			errs = append(errs, fmt.Errorf("sandbox network teardown: %w", err))
		}
	}
	errs = append(errs, removeNetNS(path))
	return errors.Join(errs...)
}

func podRef(rec *sandboxRecord) runtime.PodRef {
	return runtime.PodRef{Namespace: rec.Namespace, Name: rec.Name, UID: rec.UID}
}

// StopSandbox kills the sandbox's containers and removes its network.
func (r *Runtime) StopSandbox(ctx context.Context, id string) error {
	defer r.keys.lock("sandbox/" + id)()
	rec, err := r.loadSandbox(id)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	cs, err := r.ListContainers(ctx, id)
	if err != nil {
		return err
	}
	if !rec.Ready && !slices.ContainsFunc(cs, func(c *runtime.ContainerStatus) bool { return c.State == runtime.StateRunning }) {
		return nil // stopped already (a failed teardown leaves it Ready)
	}
	for _, c := range cs {
		// A created container may hold a task whose start was cut short:
		// StopContainer removes it.
		if c.State != runtime.StateExited {
			if err := r.StopContainer(ctx, c.ID, 0); err != nil {
				return fmt.Errorf("stop sandbox %s: %w", id, err)
			}
		}
	}
	if err := r.teardownNetwork(ctx, rec); err != nil {
		return err
	}
	rec.Ready, rec.IP = false, ""
	return r.saveSandbox(rec)
}

// RemoveSandbox stops the sandbox and removes its containers and files.
func (r *Runtime) RemoveSandbox(ctx context.Context, id string) error {
	if err := r.StopSandbox(ctx, id); err != nil {
		return err
	}
	defer r.keys.lock("sandbox/" + id)()
	cs, err := r.ListContainers(ctx, id)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := r.RemoveContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("remove sandbox %s: %w", id, err)
		}
	}
	if err := os.RemoveAll(r.sandboxDir(id)); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", id, err)
	}
	return nil
}

// ListSandboxes reads every sandbox.json of the node, oldest first.
func (r *Runtime) ListSandboxes(ctx context.Context) ([]*runtime.Sandbox, error) {
	ents, err := os.ReadDir(sandboxesDir(r.opts.StateDir))
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	var out []*runtime.Sandbox
	for _, e := range ents {
		rec, err := r.loadSandbox(e.Name())
		if err != nil {
			r.log.Debug("skipping sandbox", "sandbox_id", e.Name(), "error", err)
			continue
		}
		out = append(out, &rec.Sandbox)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

func (r *Runtime) loadSandbox(id string) (*sandboxRecord, error) {
	if id == "" || strings.ContainsAny(id, "/.") {
		return nil, fmt.Errorf("sandbox %q: %w", id, runtime.ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(r.sandboxDir(id), "sandbox.json"))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("sandbox %s: %w", id, runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", id, err)
	}
	var rec sandboxRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", id, err)
	}
	return &rec, nil
}

// saveSandbox writes sandbox.json atomically.
func (r *Runtime) saveSandbox(rec *sandboxRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(r.sandboxDir(rec.ID), "sandbox.json")
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return fmt.Errorf("save sandbox: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("save sandbox: %w", err)
	}
	return nil
}

// writeSandboxFiles writes hostname, hosts and resolv.conf.
func writeSandboxFiles(dir string, rec *sandboxRecord, dns *runtime.DNSConfig) error {
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if rec.HostNetwork {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
	} else if rec.IP != "" {
		hosts += rec.IP + "\t" + rec.Hostname + "\n"
	} else {
		hosts += "127.0.1.1\t" + rec.Hostname + "\n"
	}
	resolv, err := resolvConf(dns)
	if err != nil {
		return err
	}
	files := map[string]string{
		"hostname":    rec.Hostname + "\n",
		"hosts":       hosts,
		"resolv.conf": resolv,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("sandbox %s: %w", name, err)
		}
	}
	return nil
}

// resolvConf renders dns, or copies the host's file when dns is nil.
func resolvConf(dns *runtime.DNSConfig) (string, error) {
	if dns == nil {
		b, err := os.ReadFile("/etc/resolv.conf")
		if os.IsNotExist(err) {
			return "", nil
		}
		return string(b), err
	}
	var sb strings.Builder
	if len(dns.Searches) > 0 {
		fmt.Fprintf(&sb, "search %s\n", strings.Join(dns.Searches, " "))
	}
	for _, s := range dns.Servers {
		fmt.Fprintf(&sb, "nameserver %s\n", s)
	}
	if len(dns.Options) > 0 {
		fmt.Fprintf(&sb, "options %s\n", strings.Join(dns.Options, " "))
	}
	return sb.String(), nil
}
