package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/shoal-project/shoal/node/identity"
	"github.com/shoal-project/shoal/node/membership"
)

// clusterIdentity says how this node came by its cluster identity.
type clusterIdentity struct {
	cluster *identity.Cluster
	// created: this node made a new cluster and bootstraps raft.
	created bool
}

// obtainIdentity loads the identity from the data dir (a restart), creates
// a new cluster (no state, no --join), or joins one: gossip with the key the
// token derives, find a peer's API through its gossip metadata, and ask it
// for the cluster identity over TLS pinned to the token's CA hash.
//
// startGossip starts membership with the given gossip key; obtainIdentity
// calls it once it knows the key, and returns the membership it made.
func obtainIdentity(ctx context.Context, cfg *Config, startGossip func(key []byte) (*membership.Membership, error), log *slog.Logger) (*clusterIdentity, *membership.Membership, error) {
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
	if err := ml.Join(ctx, cfg.Join); err != nil {
		return fail(err)
	}
	apiURL, err := waitForPeerAPI(ctx, ml, cfg.Name)
	if err != nil {
		return fail(err)
	}
	log.Info("requesting cluster identity", "peer", apiURL)
	c, err = identity.RequestJoin(ctx, apiURL, cfg.Name, tok)
	if err != nil {
		return fail(err)
	}
	if err := c.Save(cfg.DataDir); err != nil {
		return fail(err)
	}
	return &clusterIdentity{cluster: c}, ml, nil
}

// waitForPeerAPI returns the API URL of an alive peer learnt through gossip.
func waitForPeerAPI(ctx context.Context, ml *membership.Membership, self string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		for _, m := range ml.Members() {
			if m.Name != self && m.State == membership.Alive && m.Meta.APIAddr != "" {
				return "https://" + m.Meta.APIAddr, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", errors.New("join: no peer advertised an API address through gossip")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
