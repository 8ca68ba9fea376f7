package dnsd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Forwarder answers a query dnsd is not authoritative for.
//
// Contract: Forward must be safe for concurrent use. It may block, but no
// longer than ctx allows plus its own per-upstream timeouts. It returns the
// upstream's reply (any RCODE, the handler passes it through), ErrNoUpstream
// when it has nowhere to send the query, or another error (SERVFAIL). It must
// not modify req.
type Forwarder interface {
	Forward(ctx context.Context, req *dns.Msg) (*dns.Msg, error)
}

// Upstreams is the default Forwarder: it tries each upstream resolver in
// order over UDP, retries over TCP when the UDP answer is truncated, and
// moves on to the next upstream on a network error, SERVFAIL or REFUSED.
// It is immutable; Handler.Reload replaces it as a whole.
type Upstreams struct {
	servers []string
	udp     *dns.Client
	tcp     *dns.Client
}

var _ Forwarder = (*Upstreams)(nil)

// NewUpstreams returns a forwarder over servers ("host" or "host:port", port
// 53 by default). timeout bounds one exchange with one server (default
// DefaultForwardTimeout).
func NewUpstreams(servers []string, timeout time.Duration) *Upstreams {
	if timeout <= 0 {
		timeout = DefaultForwardTimeout
	}
	u := &Upstreams{
		udp: &dns.Client{Net: "udp", Timeout: timeout, UDPSize: dns.MaxMsgSize},
		tcp: &dns.Client{Net: "tcp", Timeout: timeout},
	}
	for _, s := range servers {
		if s == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(s, "53")
		}
		u.servers = append(u.servers, s)
	}
	return u
}

// Servers returns the normalised upstream addresses.
func (u *Upstreams) Servers() []string { return append([]string(nil), u.servers...) }

// Forward implements Forwarder.
func (u *Upstreams) Forward(ctx context.Context, req *dns.Msg) (*dns.Msg, error) {
	if len(u.servers) == 0 {
		return nil, ErrNoUpstream
	}
	var last *dns.Msg
	var lastErr error
	for _, server := range u.servers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("forward: %w", err)
		}
		resp, err := u.exchange(ctx, req, server)
		if err != nil {
			lastErr = fmt.Errorf("forward to %s: %w", server, err)
			continue
		}
		if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
			last = resp
			continue
		}
		return resp, nil
	}
	if last != nil {
		return last, nil
	}
	return nil, lastErr
}

func (u *Upstreams) exchange(ctx context.Context, req *dns.Msg, server string) (*dns.Msg, error) {
	resp, err := exchangeOnce(ctx, u.udp, req, server)
	if err != nil {
		// Timeout or refused port: the next upstream is a better bet than
		// TCP to the same one.
		return nil, err
	}
	if !resp.Truncated {
		return resp, nil
	}
	return exchangeOnce(ctx, u.tcp, req, server)
}

// exchangeOnce is dns.Client.ExchangeContext that also gives up when ctx is
// cancelled (miekg/dns only honours a deadline), so a stopping server does
// not wait out the upstream timeout.
func exchangeOnce(ctx context.Context, c *dns.Client, req *dns.Msg, server string) (*dns.Msg, error) {
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, req, conn)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return resp, err
}

// UpstreamsFromResolvConf reads the nameservers of a resolv.conf file (the
// node's /etc/resolv.conf) as "host:port" upstreams.
func UpstreamsFromResolvConf(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read upstreams: %w", err)
	}
	out := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}

// UpstreamsExcept returns upstreams ("host:port" or "host") without those
// on host self, whatever their port. The node's dnsd listens on the node's
// address, which a node's /etc/resolv.conf may well name: forwarding there
// would send each outside query back to dnsd until it timed out.
func UpstreamsExcept(upstreams []string, self string) []string {
	own, ownErr := netip.ParseAddr(self)
	isSelf := func(host string) bool {
		if host == self {
			return true
		}
		// An IP spelled another way is still the same address.
		a, err := netip.ParseAddr(host)
		return err == nil && ownErr == nil && a.Unmap() == own.Unmap()
	}
	var out []string
	for _, u := range upstreams {
		host, _, err := net.SplitHostPort(u)
		if err != nil {
			host = u
		}
		if !isSelf(host) {
			out = append(out, u)
		}
	}
	return out
}
