package version

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    V
		wantErr bool
	}{
		{in: "v0.2.0", want: V{0, 2, 0}},
		{in: "0.2.0", want: V{0, 2, 0}},
		{in: "v1.10.3", want: V{1, 10, 3}},
		{in: "v0.3.0-rc.1", want: V{0, 3, 0}},
		{in: "v0.3.0-dev+abc123", want: V{0, 3, 0}},
		{in: "v0.3.0+abc123", want: V{0, 3, 0}},
		// Binaries from before shoal had a version published the
		// Kubernetes version they serve.
		{in: "v1.32.4-shoal", want: Legacy},
		{in: "v1.31.0-shoal", want: Legacy},
		{in: "", wantErr: true},
		{in: "v0.2", wantErr: true},
		{in: "v0.2.0.1", wantErr: true},
		{in: "v0.x.0", wantErr: true},
		{in: "v0.02.0", wantErr: true},
		{in: "v0.-1.0", wantErr: true},
		{in: "v0.2.0-", wantErr: true},
		{in: "latest", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"v0.2.0", "v0.2.0", 0},
		{"v0.2.0", "v0.2.1", -1},
		{"v0.3.0", "v0.2.9", 1},
		{"v1.0.0", "v0.99.99", 1},
		{"v0.2.0-rc.1", "v0.2.0", 0},
		{"v1.32.4-shoal", "v0.2.0", -1}, // Legacy is older than every release with a version
	}
	for _, tc := range tests {
		a, b := MustParse(tc.a), MustParse(tc.b)
		if got := a.Compare(b); got != tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got, want := a.AtLeast(b), tc.want >= 0; got != want {
			t.Errorf("%s.AtLeast(%s) = %v, want %v", tc.a, tc.b, got, want)
		}
	}
}

// The source's own Version must parse and be newer than Legacy: a build
// that reads as Legacy would never turn a feature on.
func TestCurrent(t *testing.T) {
	if v := Current(); !v.AtLeast(V{0, 2, 0}) {
		t.Fatalf("Current() = %v, want v0.2.0 or newer", v)
	}
}
