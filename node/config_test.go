package node

import (
	"net/netip"
	"strings"
	"testing"
)

func TestConfigDefaultsValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Name, cfg.DataDir = "n1", t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	if cfg.ClusterCIDR.String() != "10.42.0.0/16" || cfg.ServiceCIDR.String() != "10.43.0.0/16" {
		t.Errorf("default CIDRs = %s, %s; want 10.42.0.0/16, 10.43.0.0/16", cfg.ClusterCIDR, cfg.ServiceCIDR)
	}
}

func TestConfigCIDRs(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name             string
		cluster, service netip.Prefix
		want             []string // "" means valid
	}{
		{"defaults", DefaultClusterCIDR, DefaultServiceCIDR, nil},
		{"other private ranges", p("172.20.0.0/14"), p("192.168.100.0/24"), nil},
		{"smallest allowed", p("10.1.2.0/24"), p("10.9.9.8/29"), nil},
		{"unset", netip.Prefix{}, netip.Prefix{}, []string{
			"--cluster-cidr: must be set (an IPv4 CIDR such as 10.42.0.0/16)",
			"--service-cidr: must be set (an IPv4 CIDR such as 10.43.0.0/16)"}},
		{"IPv6", p("fd00:42::/48"), p("fd00:43::/112"), []string{
			"--cluster-cidr: fd00:42::/48 is not IPv4", "--service-cidr: fd00:43::/112 is not IPv4"}},
		{"host bits", p("10.42.0.1/16"), DefaultServiceCIDR, []string{"--cluster-cidr: 10.42.0.1/16 has host bits set; did you mean 10.42.0.0/16?"}},
		{"cluster too small", p("10.42.0.0/25"), DefaultServiceCIDR, []string{"--cluster-cidr: 10.42.0.0/25 is too small"}},
		{"service too small", DefaultClusterCIDR, p("10.43.0.0/30"), []string{"--service-cidr: 10.43.0.0/30 is too small"}},
		{"overlap", p("10.0.0.0/8"), DefaultServiceCIDR, []string{"--service-cidr: 10.43.0.0/16 overlaps --cluster-cidr 10.0.0.0/8"}},
	} {
		cfg := DefaultConfig()
		cfg.Name, cfg.DataDir = "n1", t.TempDir()
		cfg.ClusterCIDR, cfg.ServiceCIDR = tc.cluster, tc.service
		err := cfg.Validate()
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want it to say %q", tc.name, err, w)
			}
		}
	}
}
