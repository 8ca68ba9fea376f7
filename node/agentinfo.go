package node

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// AgentInfo is what a running agent records in its data dir so that local
// commands (`shoal token`, `shoal kubeconfig`) can say how to reach it.
type AgentInfo struct {
	Name          string `json:"name"`
	AdvertiseAddr string `json:"advertiseAddr"`
	GossipPort    int    `json:"gossipPort"`
	RaftPort      int    `json:"raftPort"`
	APIPort       int    `json:"apiPort"`
	// ContainerdSocket and ContainerdNamespace say where this node's images
	// and containers live (`shoal images` works on them directly).
	ContainerdSocket    string `json:"containerdSocket,omitempty"`
	ContainerdNamespace string `json:"containerdNamespace,omitempty"`
	// RegistryMirrors are the agent's --registry-mirror settings, so that
	// `shoal images pull` pulls as the agent's kubelet does.
	RegistryMirrors map[string]string `json:"registryMirrors,omitempty"`
}

const agentInfoFile = "agent.json"

// GossipAddr is the HOST:PORT others pass to `shoal join`.
func (a AgentInfo) GossipAddr() string {
	return net.JoinHostPort(a.AdvertiseAddr, strconv.Itoa(a.GossipPort))
}

// APIURL is the agent's HTTPS API endpoint.
func (a AgentInfo) APIURL() string {
	return "https://" + net.JoinHostPort(a.AdvertiseAddr, strconv.Itoa(a.APIPort))
}

// WriteAgentInfo records info in dataDir atomically.
func WriteAgentInfo(dataDir string, info AgentInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("encode agent info: %w", err)
	}
	tmp := filepath.Join(dataDir, agentInfoFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write agent info: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dataDir, agentInfoFile))
}

// ReadAgentInfo reads what WriteAgentInfo recorded.
func ReadAgentInfo(dataDir string) (AgentInfo, error) {
	var info AgentInfo
	b, err := os.ReadFile(filepath.Join(dataDir, agentInfoFile))
	if err != nil {
		return info, fmt.Errorf("read agent info (has `shoal agent` run with --data-dir %s?): %w", dataDir, err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("decode %s: %w", filepath.Join(dataDir, agentInfoFile), err)
	}
	return info, nil
}
