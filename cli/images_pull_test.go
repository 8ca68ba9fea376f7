package cli

import (
	"strings"
	"testing"

	ctrd "github.com/shoal-project/shoal/runtime/containerd"
)

func TestPullProgress(t *testing.T) {
	a := "sha256:" + strings.Repeat("a", 64)
	b := "sha256:" + strings.Repeat("b", 64)
	var out strings.Builder
	p := &pullProgress{w: &out}
	for _, r := range [][]ctrd.LayerProgress{
		{{Digest: a, Offset: 1_200_000, Size: 3_400_000}, {Digest: b, Size: 900}},
		{{Digest: a, Offset: 3_400_000, Size: 3_400_000, Done: true}, {Digest: b, Offset: 450, Size: 900}},
		{{Digest: a, Offset: 3_400_000, Size: 3_400_000, Done: true}, {Digest: b, Offset: 900, Size: 900, Done: true}},
		{{Digest: a, Offset: 3_400_000, Size: 3_400_000, Done: true}, {Digest: b, Offset: 900, Size: 900, Done: true}},
	} {
		p.report(r)
	}
	want := `downloading sha256:aaaaaaaaaaaa 1.2MB/3.4MB
downloaded sha256:aaaaaaaaaaaa 3.4MB
downloading sha256:bbbbbbbbbbbb 450B/900B
downloaded sha256:bbbbbbbbbbbb 900B
`
	if out.String() != want {
		t.Errorf("progress:\n%s\nwant\n%s", out.String(), want)
	}
	for n, want := range map[int64]string{999: "999B", 1000: "1.0kB", 2_500_000: "2.5MB", 3_000_000_000: "3.0GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
