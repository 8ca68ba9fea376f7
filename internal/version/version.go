// Package version is shoal's own release version: what a node publishes in
// gossip, shows as its Node's kubeletVersion (the VERSION column of `shoal
// get nodes`), and what the leader compares before it uses a raft command
// kind or field that older binaries cannot apply (consensus' feature gate).
//
// It is not the Kubernetes API version shoal serves (apiserver.Version,
// v1.32.4-shoal), which kubectl reads for its version-skew warning.
//
// Release builds set Version with the linker:
//
//	go build -ldflags "-X github.com/shoal-project/shoal/internal/version.Version=v0.2.1" ./cmd/shoal
//
// Without it a build reports the version of its source tree.
package version

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is this binary's shoal version, "vMAJOR.MINOR.PATCH" with an
// optional "-prerelease" and "+build". A var, not a const, so that -X can
// set it.
var Version = "v0.3.0"

// Legacy is the version of binaries from before shoal had a version of its
// own: they published the Kubernetes version they serve (e.g.
// "v1.32.4-shoal") in gossip. Parse reads any such string as Legacy, the
// release that knows no gated feature.
var Legacy = V{0, 1, 0}

// V is a parsed version: its core numbers only. Pre-release and build
// suffixes are dropped: a v0.3.0-rc1 or a v0.3.0-dev build is cut from the
// source that introduced v0.3.0's features, so it counts as v0.3.0.
type V struct{ Major, Minor, Patch int }

// String renders v as "vMAJOR.MINOR.PATCH".
func (v V) String() string { return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Compare returns -1, 0 or 1 as v is older than, equal to or newer than w.
func (v V) Compare(w V) int {
	for _, d := range [3]int{v.Major - w.Major, v.Minor - w.Minor, v.Patch - w.Patch} {
		switch {
		case d < 0:
			return -1
		case d > 0:
			return 1
		}
	}
	return 0
}

// AtLeast reports whether v is w or newer.
func (v V) AtLeast(w V) bool { return v.Compare(w) >= 0 }

// Parse reads a shoal version ("v0.2.0", "0.2.0", "v0.3.0-rc.1+abc").
// A string with the pre-release "shoal" is a Legacy binary's Kubernetes
// version and parses as Legacy. Anything else is an error: the caller must
// treat a version it cannot read as older than every gated feature.
func Parse(s string) (V, error) {
	noBuild, _, _ := strings.Cut(strings.TrimPrefix(s, "v"), "+")
	core, pre, hasPre := strings.Cut(noBuild, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return V{}, fmt.Errorf("version %q: want vMAJOR.MINOR.PATCH", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || p != strconv.Itoa(v) {
			return V{}, fmt.Errorf("version %q: %q is not a number", s, p)
		}
		n[i] = v
	}
	if hasPre && pre == "shoal" {
		return Legacy, nil
	}
	if hasPre && pre == "" {
		return V{}, fmt.Errorf("version %q: empty pre-release", s)
	}
	return V{n[0], n[1], n[2]}, nil
}

// MustParse is Parse for constants in the source; it panics on an error.
func MustParse(s string) V {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Current is Version parsed. It panics when a Version set by -X does not
// parse: a broken build (node.New refuses to start an agent of one).
func Current() V { return MustParse(Version) }
