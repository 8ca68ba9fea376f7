package node

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/identity"
	"github.com/shoal-project/shoal/node/membership"
)

// Offline operations on a stopped agent's data dir, for a cluster that has
// lost its quorum for good (`shoal recover`; docs/disaster-recovery.md):
//
//	InspectDataDir  what the raft data says: last index and term, voters
//	RecoverDataDir  the most up-to-date survivor becomes a one-voter cluster
//	ResetDataDir    another survivor drops its raft data and rejoins fresh

// raftDir is where a data dir keeps its raft state.
func raftDir(dataDir string) string { return filepath.Join(dataDir, "raft") }

// DataDirState is what a stopped agent's data dir says about its node.
type DataDirState struct {
	// Name and RaftAddr are what the agent last ran as ("" when it never
	// recorded them).
	Name, RaftAddr string
	// Raft is the raft state.
	Raft consensus.RaftState
}

// InspectDataDir reads the raft state of the stopped agent in dataDir. It
// changes nothing.
func InspectDataDir(dataDir string, logger *slog.Logger) (DataDirState, error) {
	var st DataDirState
	if err := checkAgentDataDir(dataDir); err != nil {
		return st, err
	}
	if info, err := ReadAgentInfo(dataDir); err == nil {
		st.Name, st.RaftAddr = info.Name, hostPort(info.AdvertiseAddr, info.RaftPort)
	}
	rs, err := consensus.InspectRaft(raftDir(dataDir), logger)
	if err != nil {
		return st, err
	}
	st.Raft = rs
	return st, nil
}

// checkAgentDataDir fails unless dataDir holds a cluster identity.
func checkAgentDataDir(dataDir string) error {
	if _, err := identity.LoadCluster(dataDir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s is not the data dir of a shoal agent (no cluster identity in it): %w", dataDir, err)
		}
		return err
	}
	return nil
}

// RecoverOptions name the one voter RecoverDataDir leaves.
type RecoverOptions struct {
	// Name is the node's name (its raft id); default what the agent last
	// ran as.
	Name string
	// RaftAddr is its raft address, HOST:PORT; default what the agent last
	// advertised.
	RaftAddr string
	// Logger receives raft's logs; nil discards them.
	Logger *slog.Logger
}

// RecoverReport is what RecoverDataDir did.
type RecoverReport struct {
	consensus.RecoverResult
	// Name and RaftAddr are the one voter.
	Name, RaftAddr string
	// ForgottenPeers are the gossip addresses the node no longer tries to
	// rejoin at start.
	ForgottenPeers []string
}

// RecoverDataDir makes the stopped agent in dataDir the only voter of its
// cluster, with every object its raft log holds (consensus.RecoverRaft),
// and forgets the gossip peers it saved, so that the restarted node neither
// waits for nor keeps calling the members that are gone: the survivors
// that remain rejoin it (after ResetDataDir), new nodes join it.
func RecoverDataDir(dataDir string, opts RecoverOptions) (RecoverReport, error) {
	var rep RecoverReport
	if err := checkAgentDataDir(dataDir); err != nil {
		return rep, err
	}
	rep.Name, rep.RaftAddr = opts.Name, opts.RaftAddr
	if rep.Name == "" || rep.RaftAddr == "" {
		info, err := ReadAgentInfo(dataDir)
		if err != nil {
			return rep, fmt.Errorf("%w; pass --name and --raft-addr", err)
		}
		if rep.Name == "" {
			rep.Name = info.Name
		}
		if rep.RaftAddr == "" {
			rep.RaftAddr = hostPort(info.AdvertiseAddr, info.RaftPort)
		}
	}
	res, err := consensus.RecoverRaft(raftDir(dataDir), rep.Name, rep.RaftAddr, opts.Logger)
	if err != nil {
		return rep, err
	}
	rep.RecoverResult = res
	rep.ForgottenPeers, err = membership.ForgetPeers(dataDir)
	return rep, err
}

// ResetReport is what ResetDataDir did.
type ResetReport struct {
	// Backup is where the raft data now lives ("" when there was none).
	Backup string
	// Peers are the gossip addresses the node will try at start.
	Peers []string
}

// ResetDataDir drops the raft state of the stopped agent in dataDir (moved
// aside, not deleted) and keeps its identity, certificate and name: started
// again, it rejoins through gossip as a new member and receives the
// cluster's state from the leader. join, when given, replaces the gossip
// peers it tries at start (HOST:PORT of the recovered node).
func ResetDataDir(dataDir string, join []string, logger *slog.Logger) (ResetReport, error) {
	var rep ResetReport
	if err := checkAgentDataDir(dataDir); err != nil {
		return rep, err
	}
	_, err := consensus.InspectRaft(raftDir(dataDir), logger)
	switch {
	case errors.Is(err, consensus.ErrNoRaftState):
	case err != nil:
		return rep, err
	default:
		rep.Backup = raftDir(dataDir) + ".before-reset-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(raftDir(dataDir), rep.Backup); err != nil {
			return rep, fmt.Errorf("move the raft data aside: %w", err)
		}
	}
	if len(join) > 0 {
		if err := membership.SavePeers(dataDir, join); err != nil {
			return rep, err
		}
	}
	rep.Peers, _ = membership.SavedPeers(dataDir) // an unreadable list is what the agent will ignore too
	return rep, nil
}
