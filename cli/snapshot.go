package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/client-go/rest"

	"github.com/shoal-project/shoal/node"
)

// sensitiveNote is said wherever a snapshot file is written.
const sensitiveNote = "the file holds the cluster CA key and secret: anyone who reads it can join nodes to the cluster and act as its admin; keep it as private as the machines (it is written 0600)"

// newSnapshotCommand is `shoal snapshot save|restore|status`: backups of a
// whole cluster, in the spirit of etcdctl snapshot save and etcdutl
// snapshot restore.
func newSnapshotCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:  "snapshot",
		Usage: "back up a cluster to a file, and start a new cluster from one",
		Description: `A snapshot holds every object, the store's claims (Service cluster IPs and
node ports) and the cluster identity (CA certificate and key, secret): a cluster
restored from it keeps its join token, and old kubeconfigs still work.

  shoal snapshot save FILE [--server URL ...]     through any peer
  shoal snapshot status FILE                      check a file, say what it holds
  shoal snapshot restore FILE --data-dir DIR      prepare a fresh data dir, then
  shoal agent --data-dir DIR ...                  starts a one-node cluster from it;
                                                  other nodes join it as usual

` + sensitiveNote + `.`,
		Subcommands: []*ucli.Command{
			newSnapshotSaveCommand(deps),
			newSnapshotRestoreCommand(deps),
			newSnapshotStatusCommand(deps),
		},
	}
}

func newSnapshotSaveCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "save",
		Usage:     "write a consistent snapshot of the cluster, taken by any peer, to FILE",
		ArgsUsage: "FILE",
		Description: `The peer (--server, else the kubeconfig's or the local agent's) first makes
sure its replica holds every write acknowledged before the request, as for a
consistent read, so the cluster must have a raft leader. The download goes to a
temporary file beside FILE, is verified (checksum and contents), and only then
renamed to FILE.

` + sensitiveNote + `.`,
		Flags: clientFlags(),
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return errors.New("usage: shoal snapshot save FILE")
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			return saveSnapshot(c, cl.rest, c.Args().First(), deps.Stdout)
		},
	}
}

// saveSnapshot downloads a snapshot from the peer of cfg into file.
func saveSnapshot(c *ucli.Context, cfg *rest.Config, file string, out io.Writer) error {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	url := strings.TrimRight(cfg.Host, "/") + node.SnapshotPath
	req, err := http.NewRequestWithContext(c.Context, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("snapshot save: %s answered %s: %s", cfg.Host, resp.Status, strings.TrimSpace(string(msg)))
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		return fmt.Errorf("snapshot save: download from %s: %w", cfg.Host, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	snap, err := node.ReadSnapshotFile(tmp.Name())
	if err != nil {
		return fmt.Errorf("snapshot save: the downloaded snapshot is not valid: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	done = true
	fmt.Fprintf(out, "Snapshot saved to %s: %s\n", file, describeSnapshot(snap))
	fmt.Fprintf(out, "Note: %s.\n", sensitiveNote)
	return nil
}

// describeSnapshot says in one line what a snapshot holds.
func describeSnapshot(s *node.SnapshotFile) string {
	return fmt.Sprintf("taken by %s at %s, index %d, %d objects, %d claims, cluster CA sha256 %s",
		s.Info.Source, s.Info.Created.Format(time.RFC3339), s.Info.Index, s.Objects, s.Claims, s.Cluster.CAHash())
}

func newSnapshotStatusCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "status",
		Usage:     "verify a snapshot file and say what it holds",
		ArgsUsage: "FILE",
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return errors.New("usage: shoal snapshot status FILE")
			}
			snap, err := node.ReadSnapshotFile(c.Args().First())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(deps.Stdout, "%s: valid; %s\n", c.Args().First(), describeSnapshot(snap))
			return err
		},
	}
}

func newSnapshotRestoreCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "restore",
		Usage:     "prepare a fresh data dir from which `shoal agent` starts a new one-node cluster holding the snapshot",
		ArgsUsage: "FILE",
		Description: `The file is verified first (format, checksum, contents). The data dir must
not exist or be empty; it is built under a temporary name beside it and renamed
into place once complete. Then start the agent on it with the flags it is to run
with (name, addresses, ports): at its first start it becomes the only voter of a
new cluster with the snapshot's objects, claims and identity, and prints the join
command for the others. The old cluster's Node objects come back as they were;
nodes that do not rejoin turn NotReady (Unknown) after 40s, and their pods are
evicted as in Kubernetes.

Do not run the restored cluster beside the old one on the same network: they
share the join token and gossip key.`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "data-dir", Value: node.DefaultDataDir(), Usage: "the new agent's data dir (must not exist or be empty)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return errors.New("usage: shoal snapshot restore FILE --data-dir DIR")
			}
			dir := c.String("data-dir")
			snap, err := node.RestoreSnapshot(c.Args().First(), dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(deps.Stdout, "Restored %s into %s: %s\n", c.Args().First(), dir, describeSnapshot(snap))
			fmt.Fprintf(deps.Stdout, "Start the new cluster with: shoal agent --data-dir %s [--name ... --bind ...]\n", dir)
			return nil
		},
	}
}
