package identity

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// backupIdentity is the cluster identity as a backup carries it: what
// Save writes, minus the node's own certificate (a restored node issues
// itself a new one).
type backupIdentity struct {
	CACert string `json:"caCert"`
	CAKey  string `json:"caKey"`
	Secret string `json:"secret"`
}

// MarshalBackup encodes the cluster identity for a backup (`shoal snapshot
// save`): the CA certificate and key and the secret, so that a cluster
// restored from it keeps its join token, admin token and kubeconfigs. The
// result is as sensitive as the CA key.
func (c *Cluster) MarshalBackup() ([]byte, error) {
	keyPEM, err := encodeKeyPEM(c.CAKey)
	if err != nil {
		return nil, fmt.Errorf("encode cluster identity: %w", err)
	}
	return json.Marshal(backupIdentity{CACert: string(c.CACertPEM), CAKey: string(keyPEM), Secret: hex.EncodeToString(c.Secret)})
}

// ClusterFromBackup decodes what MarshalBackup encoded, checking that the
// CA certificate is a CA, that the key is its key and that the secret is
// long enough.
func ClusterFromBackup(b []byte) (*Cluster, error) {
	var bi backupIdentity
	if err := json.Unmarshal(b, &bi); err != nil {
		return nil, fmt.Errorf("decode cluster identity: %w", err)
	}
	secret, err := hex.DecodeString(bi.Secret)
	if err != nil || len(secret) < minSecretLen {
		return nil, fmt.Errorf("decode cluster identity: the secret is not a hex string of at least %d bytes", minSecretLen)
	}
	c, err := clusterFromPEM([]byte(bi.CACert), []byte(bi.CAKey), secret)
	if err != nil {
		return nil, fmt.Errorf("decode cluster identity: %w", err)
	}
	return c, nil
}
