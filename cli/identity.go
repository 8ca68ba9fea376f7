package cli

import (
	"github.com/shoal-project/shoal/node/identity"
)

// LoadIdentity reads the cluster identity an agent keeps in dataDir: the
// default Deps.LoadCluster.
func LoadIdentity(dataDir string) (Credentials, error) {
	c, err := identity.LoadCluster(dataDir)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{JoinToken: c.JoinToken(), AdminToken: c.AdminToken(), CACertPEM: c.CACertPEM}, nil
}
