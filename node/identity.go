package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/node/identity"
	"github.com/shoal-project/shoal/node/membership"
)

// clusterIdentity says how this node came by its cluster identity.
type clusterIdentity struct {
	cluster *identity.Cluster
	// created: this node made a new cluster and bootstraps raft.
	created bool
	// joined: this node just joined a cluster through --join.
	joined bool
}

// obtainIdentity loads the identity from the data dir (a restart), creates
// a new cluster (no state, no --join), or joins one: gossip with the key the
// token derives, find a peer's API through its gossip metadata, and ask it
// for the cluster identity over TLS pinned to the token's CA hash.
//
// startGossip starts membership with the given gossip key; obtainIdentity
// calls it once it knows the key, and returns the membership it made.
func obtainIdentity(ctx context.Context, cfg *Config, startGossip func(key []byte) (*membership.Membership, error), log *slog.Logger, p progress) (*clusterIdentity, *membership.Membership, error) {
	c, err := identity.LoadCluster(cfg.DataDir)
	if err == nil {
		if cfg.Token != "" {
			tok, err := identity.ParseToken(cfg.Token)
			if err != nil {
				return nil, nil, err
			}
			if tok.CAHash != c.CAHash() {
				return nil, nil, fmt.Errorf("join refused: this data dir (%s) belongs to another cluster (CA sha256 %s, token names %s)", cfg.DataDir, c.CAHash(), tok.CAHash)
			}
		}
		ml, err := startGossip(c.GossipKey())
		if err != nil {
			return nil, nil, err
		}
		return &clusterIdentity{cluster: c}, ml, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("load cluster identity: %w", err)
	}
	if len(cfg.Join) == 0 {
		c, err := identity.NewCluster()
		if err != nil {
			return nil, nil, fmt.Errorf("create cluster identity: %w", err)
		}
		if err := c.Save(cfg.DataDir); err != nil {
			return nil, nil, err
		}
		ml, err := startGossip(c.GossipKey())
		if err != nil {
			return nil, nil, err
		}
		return &clusterIdentity{cluster: c, created: true}, ml, nil
	}
	tok, err := identity.ParseToken(cfg.Token)
	if err != nil {
		return nil, nil, err
	}
	ml, err := startGossip(tok.GossipKey())
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*clusterIdentity, *membership.Membership, error) {
		ml.Shutdown()
		return nil, nil, err
	}
	p.printf("contacting %s...", strings.Join(cfg.Join, ", "))
	if err := ml.Join(ctx, cfg.Join); err != nil {
		return fail(err)
	}
	p.printf("joined gossip: %d members", len(ml.Members()))
	c, peer, err := requestIdentity(ctx, ml, cfg.Name, tok, log)
	if err != nil {
		return fail(err)
	}
	p.printf("got the cluster certificate from %s", peer)
	if err := c.Save(cfg.DataDir); err != nil {
		return fail(err)
	}
	return &clusterIdentity{cluster: c, joined: true}, ml, nil
}

// requestIdentity asks the peers that gossip advertises for the cluster
// identity, one after another, until one answers, and says which did. A
// peer may advertise its API a moment before it serves it; a refusal of the
// token is final.
func requestIdentity(ctx context.Context, ml *membership.Membership, self string, tok *identity.Token, log *slog.Logger) (*identity.Cluster, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var lastErr error
	for {
		for _, m := range ml.Members() {
			if m.Name == self || m.State != membership.Alive || m.Meta.APIAddr == "" {
				continue
			}
			log.Info("requesting cluster identity", "peer", m.Meta.APIAddr)
			c, err := identity.RequestJoin(ctx, "https://"+m.Meta.APIAddr, self, tok)
			if err == nil {
				return c, m.Meta.APIAddr, nil
			}
			if errors.Is(err, identity.ErrWrongToken) || errors.Is(err, identity.ErrCAMismatch) {
				return nil, "", err
			}
			lastErr = err
			log.Debug("peer did not answer the join", "peer", m.Meta.APIAddr, "error", err)
		}
		select {
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = errors.New("no peer advertised an API address through gossip")
			}
			return nil, "", fmt.Errorf("join: %w", lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
