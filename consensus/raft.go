package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"golang.org/x/sync/singleflight"
)

// Raft runs a node's raft instance with the Store as its FSM, and forwards
// writes and read-index requests from followers to the leader.
//
//	NewRaft --> running --Shutdown()--> stopped
//
// NewRaft opens the stores, listens and starts raft; Shutdown stops it and
// is idempotent. Leadership changes are reported on LeaderChanges.
type Raft struct {
	cfg       RaftConfig
	advertise string
	logger    *slog.Logger
	store     *Store

	raft  *raft.Raft
	logs  *wal.WAL // closes its meta database too
	trans *raft.NetworkTransport
	mux   *mux
	fwd   *forwarder

	// readyTerm is the term in which this node, as leader, has applied
	// everything committed before it (see leaderReadIndex).
	readyTerm   atomic.Uint64
	termBarrier singleflight.Group // one barrier per new term
	// acked is the highest index of a write this node acknowledged as a
	// follower before its own replica applied it; local reads wait for it
	// (ReadYourWrites).
	acked atomic.Uint64

	notifyCh chan bool // from raft
	leaderCh chan bool // to the node

	// leaders wakes forwarded calls on a leader change (leader_watch.go),
	// fed by observer.
	leaders  *leaderWatch
	observer *raft.Observer

	// fsm is raft's FSM (for its counters); gate holds the leader's
	// verdicts on the gated features (features.go).
	fsm  *fsm
	gate featureGate

	done         chan struct{}
	wg           sync.WaitGroup
	shutdownOnce sync.Once
	shutdownErr  error
}

// logCacheEntries is how many of the latest log entries raft keeps in
// memory beside the WAL: several of raft's batches of appends (64).
const logCacheEntries = 256

// NewRaft opens the raft state under cfg.DataDir, listens on cfg.BindAddr
// and starts raft with store as its FSM. The store should be fresh: raft
// restores the latest snapshot into it and replays the log. When the state
// on disk cannot be read, the error is a *DamagedStoreError that names the
// damaged file and says what to do (never a panic); the store must then be
// discarded.
func NewRaft(cfg RaftConfig, store *Store) (_ *Raft, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "raft", "node_id", cfg.NodeID)
	hl := newHCLogAdapter(logger, "raft")

	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()

	logs, err := openLogStore(cfg.DataDir, cfg.Tuning.WALSegmentSize, hl.Named("wal"))
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { _ = logs.Close() })
	snaps, err := openSnapshotStore(cfg.DataDir, hl.Named("snapshots"))
	if err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("consensus: raft listen: %w", err)
	}
	advertise := cfg.AdvertiseAddr
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	m := newMux(ln, cfg.ServerTLS, tcpAddr(advertise), logger)
	m.wg.Add(1)
	go m.run()
	cleanup = append(cleanup, func() { _ = m.close() })

	d := dialer{tlsConf: cfg.ClientTLS}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  &streamLayer{chanListener: m.raft, dialer: d},
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hl.Named("net"),
	})
	cleanup = append(cleanup, func() { _ = trans.Close() })

	r := &Raft{
		cfg:       cfg,
		advertise: advertise,
		logger:    logger,
		store:     store,
		logs:      logs,
		trans:     trans,
		mux:       m,
		notifyCh:  make(chan bool, 16),
		leaderCh:  make(chan bool, 16),
		leaders:   newLeaderWatch(),
		done:      make(chan struct{}),
	}
	rc := cfg.raftConfig()
	rc.Logger = hl
	rc.NotifyCh = r.notifyCh

	f := &fsm{store: store, logger: logger}
	r.fsm = f
	err = noPanic(hl, "start raft", func() error {
		if cfg.Bootstrap {
			has, err := raft.HasExistingState(logs, logs, snaps)
			if err != nil {
				return fmt.Errorf("inspect raft state: %w", err)
			}
			if !has {
				conf := raft.Configuration{Servers: []raft.Server{{
					Suffrage: raft.Voter, ID: rc.LocalID, Address: raft.ServerAddress(advertise),
				}}}
				if err := raft.BootstrapCluster(rc, logs, logs, snaps, trans, conf); err != nil {
					return fmt.Errorf("bootstrap: %w", err)
				}
				logger.Info("bootstrapped single-voter raft cluster", "address", advertise)
			}
		}
		// The leader's replication reads back what it just appended; the
		// cache answers from memory instead of the WAL's file (4.5% of
		// the servers' CPU under 64 writers, issue 13). Nomad and Consul
		// wrap their log stores the same way.
		cached, err := raft.NewLogCache(logCacheEntries, logs)
		if err != nil {
			return fmt.Errorf("log cache: %w", err)
		}
		r.raft, err = raft.NewRaft(rc, f, cached, logs, snaps, trans)
		return err
	})
	if err != nil {
		logger.Error("raft cannot start from its state", "data_dir", cfg.DataDir, "error", err)
		_ = logs.Close() // the diagnosis reopens the log
		return nil, diagnoseStore(cfg.DataDir, fmt.Errorf("consensus: start raft: %w", err))
	}

	r.fwd = newForwarder(r, d)
	leaderObs := make(chan raft.Observation, 16)
	r.observer = raft.NewObserver(leaderObs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.raft.RegisterObserver(r.observer)
	r.wg.Add(4)
	go r.observeLeaders(leaderObs)
	go func() {
		defer r.wg.Done()
		r.fwd.serveStreams(m.stream)
	}()
	go func() {
		defer r.wg.Done()
		if err := r.fwd.server.Serve(m.rpc); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			logger.Error("forwarding server stopped", "error", err)
		}
	}()
	go r.relayLeadership()
	logger.Info("raft started", "address", advertise)
	return r, nil
}

// relayLeadership copies raft's leadership notifications to leaderCh, never
// blocking raft: when the consumer lags, the oldest notification is dropped.
func (r *Raft) relayLeadership() {
	defer r.wg.Done()
	for {
		select {
		case v := <-r.notifyCh:
			r.logger.Info("leadership changed", "leader", v)
			for sent := false; !sent; {
				select {
				case r.leaderCh <- v:
					sent = true
				default:
					select {
					case <-r.leaderCh:
					default:
					}
				}
			}
		case <-r.done:
			return
		}
	}
}

// LeaderChanges reports leadership transitions: true when this node became
// leader, false when it lost leadership. Buffered, for a single consumer;
// if the consumer falls far behind, the oldest transitions are dropped, so
// the last value received is always the current state. Never closed.
func (r *Raft) LeaderChanges() <-chan bool { return r.leaderCh }

// IsLeader reports whether this node is the raft leader now.
func (r *Raft) IsLeader() bool { return r.raft.State() == raft.Leader }

// Leader returns the current leader's id and raft address ("" if unknown).
func (r *Raft) Leader() (id, addr string) {
	a, i := r.raft.LeaderWithID()
	return string(i), string(a)
}

// ID returns this node's raft id.
func (r *Raft) ID() string { return r.cfg.NodeID }

// Addr returns this node's advertised raft address.
func (r *Raft) Addr() string { return r.advertise }

// Store returns the FSM's store.
func (r *Raft) Store() *Store { return r.store }

// LastContact is how long ago this node last heard from the leader (0 on the
// leader itself; very large if never).
func (r *Raft) LastContact() time.Duration {
	if r.IsLeader() {
		return 0
	}
	return time.Since(r.raft.LastContact())
}

// Stats returns raft's diagnostic counters.
func (r *Raft) Stats() map[string]string { return r.raft.Stats() }

// Snapshot forces a raft snapshot now (the policy in RaftTuning otherwise
// decides).
func (r *Raft) Snapshot() error { return r.raft.Snapshot().Error() }

// Shutdown stops raft, the forwarding server and the listener, and closes
// the log store. It is idempotent and returns the first call's error.
func (r *Raft) Shutdown() error {
	r.shutdownOnce.Do(func() {
		var errs []error
		r.raft.DeregisterObserver(r.observer)
		if err := r.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
		_ = r.fwd.server.Close()
		r.fwd.client.CloseIdleConnections()
		r.fwd.closeStreams()
		_ = r.trans.Close()
		if err := r.mux.close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close raft listener: %w", err))
		}
		close(r.done)
		r.wg.Wait()
		if err := r.logs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft wal: %w", err))
		}
		r.shutdownErr = errors.Join(errs...)
		r.logger.Info("raft stopped")
	})
	return r.shutdownErr
}
