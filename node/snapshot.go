package node

import (
	"fmt"
	"net/http"
	"time"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/internal/version"
)

// SnapshotPath is where every peer's API serves a backup of the cluster
// (`shoal snapshot save`), to authenticated clients only: the file holds
// the cluster CA key and secret.
const SnapshotPath = "/shoal/v1/snapshot"

// snapshotHandler streams a consistent backup: the local replica once it
// reflects every write acknowledged before the request (a quorum read, as
// for a consistent list), with the cluster identity. A failure part way
// cuts the stream short, which the file's missing checksum reveals.
func (n *Node) snapshotHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "snapshot: only GET", http.StatusMethodNotAllowed)
			return
		}
		if err := n.raft.ConsistentRead(r.Context()); err != nil {
			http.Error(w, fmt.Sprintf("snapshot: cannot take a consistent snapshot without a raft leader: %v", err), http.StatusServiceUnavailable)
			return
		}
		id, err := n.cluster.MarshalBackup()
		if err != nil {
			http.Error(w, fmt.Sprintf("snapshot: %v", err), http.StatusInternalServerError)
			return
		}
		snap := n.store.Snapshot()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "no-store")
		info := consensus.BackupInfo{Created: time.Now().UTC(), Source: n.cfg.Name, ShoalVersion: version.Version, Identity: id}
		if err := consensus.WriteBackup(w, info, snap); err != nil {
			n.log.Warn("snapshot stream cut short", "index", snap.Index(), "error", err)
			return
		}
		n.log.Info("snapshot sent", "index", snap.Index(), "remote", r.RemoteAddr)
	})
}
