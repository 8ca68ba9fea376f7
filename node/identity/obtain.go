package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"time"
)

// Gossip is the gossip membership a node obtains its identity through:
// the join finds the peers' APIs in their gossip metadata.
// *membership.Membership satisfies it.
type Gossip interface {
	// Join contacts the gossip addresses (HOST:PORT) of existing members.
	Join(ctx context.Context, addrs []string) error
	// NumMembers is how many members gossip knows, this node included.
	NumMembers() int
	// PeerAPIAddrs lists the API addresses (HOST:PORT) that the alive
	// members other than this node advertise.
	PeerAPIAddrs() []string
	// Shutdown stops gossip.
	Shutdown() error
}

// ObtainConfig is what Obtain needs to know.
type ObtainConfig struct {
	// DataDir holds the identity (Dir(DataDir)).
	DataDir string
	// Name is this node's name, which the join proof covers.
	Name string
	// Join lists gossip addresses of existing members; Token is the join
	// token (required with Join, checked against a saved identity when
	// given without it).
	Join  []string
	Token string
	// StartGossip starts gossip membership with the given key. Obtain
	// calls it once, as soon as it knows the key, and shuts down what it
	// returned if the join then fails.
	StartGossip func(key []byte) (Gossip, error)
	// JoinTimeout bounds the search for a peer that answers the join
	// request; default 60s.
	JoinTimeout time.Duration
	Logger      *slog.Logger
	// Progress receives the steps of a join, for the person at the
	// terminal; nil prints nothing.
	Progress func(format string, args ...any)
}

// Obtained says how a node came by its cluster identity.
type Obtained struct {
	Cluster *Cluster
	// Created: this node made a new cluster and bootstraps raft.
	Created bool
	// Joined: this node just joined a cluster through Join.
	Joined bool
}

// Obtain loads the identity from the data dir (a restart), creates a new
// cluster (no saved identity, no Join), or joins one: gossip with the key
// the token derives, find a peer's API through its gossip metadata, and ask
// it for the cluster identity over TLS pinned to the token's CA hash
// (RequestJoin). A created or joined identity is saved before Obtain
// returns, so a restart finds it.
func Obtain(ctx context.Context, cfg ObtainConfig) (Obtained, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Progress == nil {
		cfg.Progress = func(string, ...any) {}
	}
	c, err := LoadCluster(cfg.DataDir)
	switch {
	case err == nil:
		return restarted(c, cfg)
	case !errors.Is(err, fs.ErrNotExist):
		return Obtained{}, fmt.Errorf("load cluster identity: %w", err)
	case len(cfg.Join) == 0:
		return create(cfg)
	}
	return join(ctx, cfg)
}

// restarted starts gossip with a saved identity. A token given again (a
// unit that still says `shoal join --token`) must name the same cluster:
// a data dir is never silently reused for another.
func restarted(c *Cluster, cfg ObtainConfig) (Obtained, error) {
	if cfg.Token != "" {
		tok, err := ParseToken(cfg.Token)
		if err != nil {
			return Obtained{}, err
		}
		if tok.CAHash != c.CAHash() {
			return Obtained{}, fmt.Errorf("join refused: this data dir (%s) belongs to another cluster (CA sha256 %s, token names %s)", cfg.DataDir, c.CAHash(), tok.CAHash)
		}
	}
	if _, err := cfg.StartGossip(c.GossipKey()); err != nil {
		return Obtained{}, err
	}
	return Obtained{Cluster: c}, nil
}

func create(cfg ObtainConfig) (Obtained, error) {
	c, err := NewCluster()
	if err != nil {
		return Obtained{}, fmt.Errorf("create cluster identity: %w", err)
	}
	if err := c.Save(cfg.DataDir); err != nil {
		return Obtained{}, err
	}
	if _, err := cfg.StartGossip(c.GossipKey()); err != nil {
		return Obtained{}, err
	}
	return Obtained{Cluster: c, Created: true}, nil
}

func join(ctx context.Context, cfg ObtainConfig) (Obtained, error) {
	tok, err := ParseToken(cfg.Token)
	if err != nil {
		return Obtained{}, err
	}
	g, err := cfg.StartGossip(tok.GossipKey())
	if err != nil {
		return Obtained{}, err
	}
	fail := func(err error) (Obtained, error) {
		if serr := g.Shutdown(); serr != nil {
			cfg.Logger.Warn("gossip shutdown after a failed join", "error", serr)
		}
		return Obtained{}, err
	}
	cfg.Progress("contacting %s...", strings.Join(cfg.Join, ", "))
	if err := g.Join(ctx, cfg.Join); err != nil {
		return fail(err)
	}
	cfg.Progress("joined gossip: %d members", g.NumMembers())
	timeout := cfg.JoinTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	c, peer, err := requestFromPeers(ctx, g, cfg.Name, tok, timeout, cfg.Logger)
	if err != nil {
		return fail(err)
	}
	cfg.Progress("got the cluster certificate from %s", peer)
	if err := c.Save(cfg.DataDir); err != nil {
		return fail(err)
	}
	return Obtained{Cluster: c, Joined: true}, nil
}

// requestFromPeers asks the peers that gossip advertises for the cluster
// identity, one after another, until one answers, and says which did. A
// peer may advertise its API a moment before it serves it, so failures are
// retried until timeout; a refusal of the token is final.
func requestFromPeers(ctx context.Context, g Gossip, self string, tok *Token, timeout time.Duration, log *slog.Logger) (*Cluster, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	retry := time.NewTicker(200 * time.Millisecond)
	defer retry.Stop()
	var lastErr error
	for {
		for _, addr := range g.PeerAPIAddrs() {
			log.Info("requesting cluster identity", "peer", addr)
			c, err := RequestJoin(ctx, "https://"+addr, self, tok)
			if err == nil {
				return c, addr, nil
			}
			if errors.Is(err, ErrWrongToken) || errors.Is(err, ErrCAMismatch) {
				return nil, "", err
			}
			lastErr = err
			log.Debug("peer did not answer the join", "peer", addr, "error", err)
		}
		select {
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = errors.New("no peer advertised an API address through gossip")
			}
			return nil, "", fmt.Errorf("join: %w", lastErr)
		case <-retry.C:
		}
	}
}
