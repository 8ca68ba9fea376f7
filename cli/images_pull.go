package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	ctrd "github.com/shoal-project/shoal/runtime/containerd"
)

// pullReportEvery is how often `images pull` says how far each layer is.
const pullReportEvery = time.Second

// newImagesPullCommand is `shoal images pull IMAGE`: the local node's
// containerd pulls IMAGE through the agent's registry mirrors, as its
// kubelet would, saying on stderr how far each layer is.
func newImagesPullCommand(deps Deps, dataDir ucli.Flag) *ucli.Command {
	return &ucli.Command{
		Name:      "pull",
		Usage:     "pull an image into the local node, through the agent's registry mirrors",
		ArgsUsage: "IMAGE",
		Flags:     []ucli.Flag{dataDir},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("usage: shoal images pull IMAGE")
			}
			ref := c.Args().First()
			rt, err := localRuntime(c)
			if err != nil {
				return err
			}
			defer rt.Close()
			fmt.Fprintf(deps.Stderr, "Pulling %s...\n", ref)
			pp := &pullProgress{w: deps.Stderr}
			img, err := rt.PullImageReporting(c.Context, ref, nil, pullReportEvery, pp.report)
			if err != nil {
				return err
			}
			fmt.Fprintf(deps.Stdout, "pulled %s (%s)\n", img.Ref, img.ID)
			return nil
		},
	}
}

// pullProgress prints a pull's layer reports: a line per layer still
// downloading, and one when a layer is complete.
type pullProgress struct {
	w    io.Writer
	done map[string]bool
}

func (p *pullProgress) report(layers []ctrd.LayerProgress) {
	if p.done == nil {
		p.done = map[string]bool{}
	}
	for _, l := range layers {
		switch {
		case l.Done && !p.done[l.Digest]:
			p.done[l.Digest] = true
			fmt.Fprintf(p.w, "downloaded %s %s\n", shortDigest(l.Digest), humanBytes(l.Size))
		case !l.Done && l.Offset > 0:
			fmt.Fprintf(p.w, "downloading %s %s/%s\n", shortDigest(l.Digest), humanBytes(l.Offset), humanBytes(l.Size))
		}
	}
}

// shortDigest is "sha256:" and the first 12 hex digits, as docker shows
// layers.
func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12]
}

// humanBytes is a size in decimal units: 512B, 3.4kB, 1.2MB, 1.0GB.
func humanBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%dB", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1fkB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1fMB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1fGB", float64(n)/1e9)
}
