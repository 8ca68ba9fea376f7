package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/shoal-project/shoal/node"
)

func TestAgentDefaults(t *testing.T) {
	ta := newTestApp(t, Deps{})
	if err := ta.run("agent"); err != nil {
		t.Fatal(err)
	}
	want := node.DefaultConfig()
	if !reflect.DeepEqual(*ta.agentCfg, want) {
		t.Fatalf("config =\n%+v\nwant the defaults\n%+v", *ta.agentCfg, want)
	}
}

func TestAgentFlags(t *testing.T) {
	ta := newTestApp(t, Deps{})
	err := ta.run("agent", "--name", "n1", "--data-dir", "/tmp/x", "--advertise", "10.0.0.1", "--bind", "10.0.0.1",
		"--gossip-port", "8946", "--raft-port", "8947", "--api-port", "8443",
		"--join", "10.0.0.2:7946", "--join", "10.0.0.3:7946", "--token", "SHOAL-1-a-b", "--voters", "5", "--voter-grace", "30s",
		"--containerd", "/run/containerd/containerd.sock", "--ingress-http-port", "8080", "--ingress-https-port", "0",
		"--registry-mirror", "gcr.io=http://127.0.0.1:5000", "--registry-mirror", "docker.io=https://mirror.local",
		"--cluster-cidr", "10.50.0.0/16", "--service-cidr", "10.51.0.0/20",
		"--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	want := node.DefaultConfig()
	want.Name, want.DataDir, want.AdvertiseAddr, want.BindAddr = "n1", "/tmp/x", "10.0.0.1", "10.0.0.1"
	want.GossipPort, want.RaftPort, want.APIPort = 8946, 8947, 8443
	want.Join, want.Token, want.Voters, want.VoterGrace = []string{"10.0.0.2:7946", "10.0.0.3:7946"}, "SHOAL-1-a-b", 5, 30*time.Second
	want.ContainerdSocket = "/run/containerd/containerd.sock"
	want.IngressHTTPPort, want.IngressHTTPSPort = 8080, 0
	want.RegistryMirrors = map[string]string{"gcr.io": "http://127.0.0.1:5000", "docker.io": "https://mirror.local"}
	want.ClusterCIDR, want.ServiceCIDR = netip.MustParsePrefix("10.50.0.0/16"), netip.MustParsePrefix("10.51.0.0/20")
	if !reflect.DeepEqual(*ta.agentCfg, want) {
		t.Fatalf("config =\n%+v\nwant\n%+v", *ta.agentCfg, want)
	}
}

func TestAgentValidation(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--voters", "2"}, "--voters: 2 must be 1, 3, 5 or 7"},
		{[]string{"--voter-grace", "-1s"}, "--voter-grace: -1s must not be negative"},
		{[]string{"--join", "10.0.0.2:7946"}, "--token: required with --join"},
		{[]string{"--bind", "nope"}, `--bind: "nope" is not an IP address`},
		{[]string{"--api-port", "70000"}, "--api-port: 70000 is not a port"},
		{[]string{"--ingress-https-port", "-1"}, "--ingress-https-port: -1 is not a port (0 disables)"},
		{[]string{"--registry-mirror", "gcr.io"}, `--registry-mirror: "gcr.io" is not HOST=URL`},
		{[]string{"--registry-mirror", "gcr.io=ftp://x"}, "is not an http(s) URL"},
		{[]string{"--log-level", "loud"}, `--log-level: "loud"`},
		{[]string{"--cluster-cidr", "10.42.0.0"}, `--cluster-cidr: "10.42.0.0" is not a CIDR (such as 10.42.0.0/16)`},
		{[]string{"--service-cidr", ""}, `--service-cidr: "" is not a CIDR (such as 10.43.0.0/16)`},
		{[]string{"--cluster-cidr", "fd00::/48"}, "--cluster-cidr: fd00::/48 is not IPv4"},
		{[]string{"--cluster-cidr", "10.42.0.0/25"}, "--cluster-cidr: 10.42.0.0/25 is too small: each node gets a /24 of it, so at most a /24"},
		{[]string{"--service-cidr", "10.43.0.0/30"}, "--service-cidr: 10.43.0.0/30 is too small"},
		{[]string{"--service-cidr", "10.43.1.0/16"}, "--service-cidr: 10.43.1.0/16 has host bits set; did you mean 10.43.0.0/16?"},
		{[]string{"--service-cidr", "10.42.128.0/20"}, "--service-cidr: 10.42.128.0/20 overlaps --cluster-cidr 10.42.0.0/16"},
		{[]string{"10.0.0.2:7946"}, "did you mean `shoal join 10.0.0.2:7946`"},
	} {
		ta := newTestApp(t, Deps{})
		err := ta.run(append([]string{"agent"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("agent %v: err = %v, want %q", tc.args, err, tc.want)
		}
		if ta.agentCfg != nil {
			t.Errorf("agent %v: ran despite the error", tc.args)
		}
	}
}

func TestAgentGetsCancellableContextAndLogger(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var gotLogger *slog.Logger
	ta := newTestApp(t, Deps{RunAgent: func(ctx context.Context, cfg node.Config, logger *slog.Logger) error {
		gotLogger = logger
		<-ctx.Done()
		return ctx.Err()
	}})
	done := make(chan error, 1)
	go func() { done <- ta.Run(ctx, []string{"shoal", "agent", "--log-level", "warn"}) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if ExitCode(err, &ta.stderr) != 0 {
			t.Error("a cancelled agent must exit 0")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("agent did not stop on cancel")
	}
	if gotLogger == nil || gotLogger.Enabled(ctx, slog.LevelInfo) || !gotLogger.Enabled(ctx, slog.LevelWarn) {
		t.Error("logger does not honour --log-level warn")
	}
}

// TestAgentLoggerTakesKlog: what client-go's libraries log through klog
// (an event the recorder could not write, say) reaches the agent's
// structured log as one line, not klog's own format on stderr.
func TestAgentLoggerTakesKlog(t *testing.T) {
	var buf bytes.Buffer
	cfg := agentConfig{LogLevel: slog.LevelInfo}
	cfg.logger(&buf)
	t.Cleanup(func() { klog.ClearLogger() })
	klog.ErrorS(errors.New("connection refused"), "Unable to write event", "event", "web.1")
	klog.Flush()
	out := buf.String()
	if !strings.Contains(out, "component=client-go") || !strings.Contains(out, `msg="Unable to write event"`) || strings.Count(out, "\n") != 1 {
		t.Fatalf("agent log = %q, want one structured line from component=client-go", out)
	}
}
