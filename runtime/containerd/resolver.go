package containerd

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"

	"github.com/shoal-project/shoal/runtime"
)

// resolver returns a docker resolver that sends a mirrored registry's
// requests to its mirror (and only there) and any other registry's to the
// registry itself over HTTPS (plain HTTP for localhost).
func (r *Runtime) resolver(auth *runtime.RegistryAuth) (remotes.Resolver, error) {
	client := &http.Client{Timeout: 5 * time.Minute}
	authorizer := docker.NewDockerAuthorizer(
		docker.WithAuthClient(client),
		docker.WithAuthCreds(func(string) (string, string, error) { return credentials(auth) }),
	)
	mirrors := map[string]*url.URL{}
	for host, raw := range r.opts.Mirrors {
		u, err := parseMirror(raw)
		if err != nil {
			return nil, fmt.Errorf("mirror for %s: %w", host, err)
		}
		mirrors[host] = u
	}
	defaults := docker.ConfigureDefaultRegistries(
		docker.WithClient(client),
		docker.WithAuthorizer(authorizer),
		docker.WithPlainHTTP(docker.MatchLocalhost),
	)
	hosts := func(host string) ([]docker.RegistryHost, error) {
		u, ok := mirrors[host]
		if !ok {
			return defaults(host)
		}
		return []docker.RegistryHost{{
			Client:       client,
			Authorizer:   authorizer,
			Host:         u.Host,
			Scheme:       u.Scheme,
			Path:         strings.TrimSuffix(u.Path, "/") + "/v2",
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
		}}, nil
	}
	return docker.NewResolver(docker.ResolverOptions{Hosts: hosts}), nil
}

// parseMirror accepts "http://host:port[/path]", "https://..." or a bare
// "host:port" (HTTPS).
func parseMirror(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q: want http(s)://host[:port]", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/v2")
	return u, nil
}

// credentials turns RegistryAuth into a user and password.
func credentials(a *runtime.RegistryAuth) (string, string, error) {
	if a == nil {
		return "", "", nil
	}
	if a.Username != "" || a.Password != "" {
		return a.Username, a.Password, nil
	}
	if a.Auth == "" {
		return "", "", nil
	}
	b, err := base64.StdEncoding.DecodeString(a.Auth)
	if err != nil {
		return "", "", fmt.Errorf("registry auth: %w", err)
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", "", fmt.Errorf("registry auth: want base64(user:password)")
	}
	return user, pass, nil
}
