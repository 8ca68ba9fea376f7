package nodelifecycle

import (
	"strconv"
	"strings"
	"testing"
)

func TestNextPodCIDR(t *testing.T) {
	cases := []struct {
		name, cluster string
		taken         []string
		want, err     string
	}{
		{name: "first", cluster: "10.42.0.0/16", want: "10.42.0.0/24"},
		{name: "skips taken", cluster: "10.42.0.0/16", taken: []string{"10.42.0.0/24", "10.42.1.0/24"}, want: "10.42.2.0/24"},
		{name: "fills a hole", cluster: "10.42.0.0/16", taken: []string{"10.42.1.0/24"}, want: "10.42.0.0/24"},
		{name: "full", cluster: "10.42.0.0/24", taken: []string{"10.42.0.0/24"}, err: "no free /24"},
		{name: "too small", cluster: "10.42.0.0/25", err: "at least a /24"},
		{name: "past 256", cluster: "10.40.0.0/14", taken: seq256(), want: "10.41.0.0/24"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			taken := map[string]bool{}
			for _, c := range tc.taken {
				taken[c] = true
			}
			got, err := nextPodCIDR(tc.cluster, taken)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want error containing %q, got %v (%s)", tc.err, err, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("nextPodCIDR(%s) = %s, %v; want %s", tc.cluster, got, err, tc.want)
			}
		})
	}
}

func seq256() []string {
	var out []string
	for i := 0; i < 256; i++ {
		out = append(out, "10.40."+strconv.Itoa(i)+".0/24")
	}
	return out
}
