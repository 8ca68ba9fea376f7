package identity

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// JoinPath is where the API server mounts JoinHandler (POST).
const JoinPath = "/shoal/v1/join"

// maxJoinBody bounds a join request and a join response.
const maxJoinBody = 64 << 10

// joinRequest is the body a joiner POSTs to JoinPath.
type joinRequest struct {
	// Name is the joining node's name.
	Name string `json:"name"`
	// Proof is hex HMAC-SHA256(secret, "join:"+name).
	Proof string `json:"proof"`
}

// joinResponse is what an admitted joiner receives.
//
// It carries the CA key, not only the CA certificate: every node must be able
// to admit the next joiner and sign its own certificate, because no node is
// special and the node that created the cluster may be gone. This widens
// nothing: the secret is the real root of trust (anyone with the token can
// join and so obtain a CA-signed certificate anyway), and the key only
// travels over TLS to a client that proved the secret. The secret itself is
// not sent back; the joiner already has it from the token.
type joinResponse struct {
	CACert string `json:"caCert"`
	CAKey  string `json:"caKey"`
}

// status is the Kubernetes-Status-shaped body of a refused join, so kubectl
// style clients and humans read the same message.
type status struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Metadata   map[string]string `json:"metadata"`
	Status     string            `json:"status"`
	Message    string            `json:"message"`
	Reason     string            `json:"reason"`
	Code       int               `json:"code"`
}

// JoinHandler answers POST JoinPath: a node that proves the secret, with
// {"name": N, "proof": hex HMAC-SHA256(secret, "join:"+N)}, gets the CA
// certificate and key as JSON {"caCert": PEM, "caKey": PEM}. A wrong proof
// gets 403 with a Status whose message is "join refused: wrong token"; a
// malformed request gets 400. The handler serves over the API's TLS listener
// (APIServerTLS) and needs no client certificate: the joiner has none yet.
func JoinHandler(c *Cluster) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "join: use POST")
			return
		}
		var req joinRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, maxJoinBody)).Decode(&req); err != nil {
			writeStatus(w, http.StatusBadRequest, "BadRequest", "join: malformed request: "+err.Error())
			return
		}
		if req.Name == "" {
			writeStatus(w, http.StatusBadRequest, "BadRequest", "join: name is required")
			return
		}
		proof, err := hex.DecodeString(req.Proof)
		if err != nil || !hmac.Equal(proof, mac(c.Secret, labelJoin+req.Name)) {
			writeStatus(w, http.StatusForbidden, "Forbidden", ErrWrongToken.Error())
			return
		}
		keyPEM, err := encodeKeyPEM(c.CAKey)
		if err != nil {
			writeStatus(w, http.StatusInternalServerError, "InternalError", "join: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(joinResponse{CACert: string(c.CACertPEM), CAKey: string(keyPEM)})
	})
}

// writeStatus writes a Kubernetes-style Status failure.
func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(status{
		Kind: "Status", APIVersion: "v1", Metadata: map[string]string{},
		Status: "Failure", Message: msg, Reason: reason, Code: code,
	})
}

// RequestJoin asks the API server at apiURL ("https://host:port", or just
// "host:port") to admit node name with tok, and returns the cluster identity
// (CA certificate and key from the server, secret from the token). The
// caller saves it and issues its own node certificate (EnsureNodeCert).
//
// The joiner has no CA to verify the server with yet, so it pins instead: it
// accepts the TLS handshake only if the presented chain contains a
// certificate whose SHA-256 is tok.CAHash and the server's leaf certificate is
// signed by that CA (which the handshake proves the server holds the key
// for). Otherwise it fails with ErrCAMismatch and never sends the proof.
// A refused proof fails with ErrWrongToken.
func RequestJoin(ctx context.Context, apiURL, name string, tok *Token) (*Cluster, error) {
	url := joinURL(apiURL)
	var (
		mu     sync.Mutex
		pinErr error
	)
	tlsCfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is the CA pin in VerifyConnection, not the system
		// roots and host name: the cluster CA is private and the joiner
		// knows it only by hash.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			err := verifyPinned(cs.PeerCertificates, tok.CAHash)
			if err != nil {
				mu.Lock()
				pinErr = err
				mu.Unlock()
			}
			return err
		},
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	body, _ := json.Marshal(joinRequest{Name: name, Proof: tok.JoinProof(name)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		if pinErr != nil {
			return nil, pinErr
		}
		return nil, fmt.Errorf("join request to %s: %w", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJoinBody))
	if err != nil {
		return nil, fmt.Errorf("join request to %s: read response: %w", url, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusForbidden:
		return nil, ErrWrongToken
	default:
		var st status
		if json.Unmarshal(data, &st) == nil && st.Message != "" {
			return nil, fmt.Errorf("join request to %s: %s: %s", url, resp.Status, st.Message)
		}
		return nil, fmt.Errorf("join request to %s: %s", url, resp.Status)
	}
	var jr joinResponse
	if err := json.Unmarshal(data, &jr); err != nil {
		return nil, fmt.Errorf("join request to %s: malformed response: %w", url, err)
	}
	c, err := clusterFromPEM([]byte(jr.CACert), []byte(jr.CAKey), tok.Secret)
	if err != nil {
		return nil, fmt.Errorf("join request to %s: %w", url, err)
	}
	if got := c.CAHash(); got != tok.CAHash {
		return nil, fmt.Errorf("%w (expected sha256 %s, got %s)", ErrCAMismatch, tok.CAHash, got)
	}
	return c, nil
}

// joinURL turns "host:port" or "https://host:port[/]" into the join URL.
func joinURL(apiURL string) string {
	u := strings.TrimRight(apiURL, "/")
	if !strings.Contains(u, "://") {
		u = "https://" + u
	}
	return u + JoinPath
}

// verifyPinned checks that chain contains the CA whose DER hashes to caHash
// and that the leaf is signed by it for server use. Having the CA certificate
// in the chain is not enough on its own (it is public); the leaf's signature
// and the handshake's proof of the leaf key are what tie the server to it.
func verifyPinned(chain []*x509.Certificate, caHash string) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: the server presented no certificate", ErrCAMismatch)
	}
	var ca *x509.Certificate
	for _, c := range chain {
		if certHash(c.Raw) == caHash {
			ca = c
			break
		}
	}
	if ca == nil {
		got := certHash(chain[len(chain)-1].Raw)
		return fmt.Errorf("%w (expected sha256 %s, got %s)", ErrCAMismatch, caHash, got)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if err := verifyChain(chain[:1], roots, x509.ExtKeyUsageServerAuth); err != nil {
		return fmt.Errorf("%w: %w", ErrCAMismatch, err)
	}
	return nil
}
