package dnsd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Handler turns a DNS query into a DNS response. Names under the cluster
// domain are answered from the Resolver, PTR queries for known IPs and for
// the configured reverse zones likewise, and everything else is handed to the
// Forwarder. Answer is a pure function of the request, the Resolver's state
// and the current Settings; the Server is only its transport.
//
// A Handler is safe for concurrent use.
type Handler struct {
	cfg      Config
	resolver Resolver
	log      *slog.Logger

	domain  string // lower-case FQDN, "cluster.local."
	ttl     uint32
	soa     dns.SOA
	reverse []reverseZone

	live atomic.Pointer[liveSettings]
}

// liveSettings is the hot-reloadable part, swapped as one pointer.
type liveSettings struct {
	settings  Settings
	forwarder Forwarder
}

var _ dns.Handler = (*Handler)(nil)

// maxChase bounds how many in-cluster CNAMEs (ExternalName Services pointing
// at each other) one answer follows.
const maxChase = 8

// NewHandler returns a handler answering from r. It does no I/O.
func NewHandler(r Resolver, cfg Config) *Handler {
	cfg = cfg.withDefaults()
	h := &Handler{
		cfg:      cfg,
		resolver: r,
		log:      cfg.Logger,
		domain:   dns.CanonicalName(cfg.Domain),
		ttl:      uint32(cfg.TTL / time.Second),
	}
	if h.ttl == 0 {
		h.ttl = 1
	}
	h.soa = h.newSOA(h.domain)
	h.reverse = reverseZones(cfg.ReverseZones)
	h.Reload(cfg.Settings)
	return h
}

// Reload atomically replaces the hot-reloadable settings. Queries already
// being forwarded finish with the old upstreams. A Config.Forwarder given to
// NewHandler stays in place while s.Upstreams is empty.
func (h *Handler) Reload(s Settings) {
	var fwd Forwarder
	if len(s.Upstreams) == 0 && h.cfg.Forwarder != nil {
		fwd = h.cfg.Forwarder
	} else {
		fwd = NewUpstreams(s.Upstreams, s.ForwardTimeout)
	}
	h.live.Store(&liveSettings{settings: s, forwarder: fwd})
}

// Settings returns the settings currently in force.
func (h *Handler) Settings() Settings { return h.live.Load().settings }

// Domain returns the cluster domain as a lower-case FQDN.
func (h *Handler) Domain() string { return h.domain }

// Answer returns the response to req. It never returns nil and never panics:
// a panic while answering (in the Resolver, say) is recovered and answered
// SERVFAIL. The response is not truncated; the transport does that.
func (h *Handler) Answer(req *dns.Msg) *dns.Msg {
	return h.AnswerContext(context.Background(), req)
}

// AnswerContext is Answer with a context that bounds forwarding.
func (h *Handler) AnswerContext(ctx context.Context, req *dns.Msg) (resp *dns.Msg) {
	resp, fwd := h.answerLocal(req)
	if fwd {
		resp = h.forwardSafe(ctx, req)
	}
	if h.log.Enabled(ctx, slog.LevelDebug) {
		h.log.Debug("dnsd: query", "question", question(req),
			"rcode", dns.RcodeToString[resp.Rcode], "answers", len(resp.Answer))
	}
	return resp
}

// answerLocal answers req without the network: from the Resolver, the
// reverse zones or an error RCODE. forward is true (and resp nil) when
// req is for a name outside them, which only an upstream can answer; the
// UDP server hands those to a goroutine of their own so that a slow
// upstream never holds up the cluster's names. A panic becomes SERVFAIL.
func (h *Handler) answerLocal(req *dns.Msg) (resp *dns.Msg, forward bool) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("dnsd: panic while answering", "question", question(req),
				"panic", p, "stack", string(debug.Stack()))
			resp, forward = h.reply(req, answer{err: fmt.Errorf("panic: %v", p)}), false
		}
	}()
	if req == nil {
		return h.reply(new(dns.Msg), answer{err: errFormat}), false
	}
	if req.Opcode != dns.OpcodeQuery {
		return h.reply(req, answer{err: errNotImplemented}), false
	}
	if len(req.Question) != 1 {
		return h.reply(req, answer{err: errFormat}), false
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		resp = h.reply(req, answer{})
		resp.Rcode = dns.RcodeBadVers
		return resp, false
	}

	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	if inZone(name, h.domain) {
		if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
			return h.reply(req, answer{err: errRefused}), false
		}
		return h.reply(req, h.cluster(q.Name, name, q.Qtype, 0)), false
	}
	if a, ok := h.reverseAnswer(q.Name, name, q.Qtype); ok {
		return h.reply(req, a), false
	}
	return nil, true
}

// forwardSafe is forward with a panic turned into SERVFAIL.
func (h *Handler) forwardSafe(ctx context.Context, req *dns.Msg) (resp *dns.Msg) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("dnsd: panic while forwarding", "question", question(req),
				"panic", p, "stack", string(debug.Stack()))
			resp = h.reply(req, answer{err: fmt.Errorf("panic: %v", p)})
		}
	}()
	return h.forward(ctx, req)
}

// ServeDNS implements dns.Handler: it answers and writes the response,
// truncated to what the transport allows.
func (h *Handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	h.serve(context.Background(), w, req)
}

// serve answers req and writes it to w. Over UDP the response is cut to 512
// bytes, or to the client's EDNS0 payload size capped by Config.UDPSize, with
// TC set when records had to go; clients then retry over TCP.
func (h *Handler) serve(ctx context.Context, w dns.ResponseWriter, req *dns.Msg) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("dnsd: panic while writing", "panic", p)
		}
	}()
	if !h.serves(w.RemoteAddr()) {
		refused := new(dns.Msg)
		refused.SetRcode(req, dns.RcodeRefused)
		if err := w.WriteMsg(refused); err != nil {
			h.log.Debug("dnsd: write response", "error", err)
		}
		return
	}
	resp := h.AnswerContext(ctx, req)
	resp.Truncate(h.maxSize(w, req))
	if err := w.WriteMsg(resp); err != nil {
		h.log.Debug("dnsd: write response", "error", err)
	}
}

// serves reports whether a query from addr is answered (Config.Clients).
func (h *Handler) serves(addr net.Addr) bool {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		return false
	}
	return h.servesIP(ip)
}

// servesIP reports whether a query from ip is answered: loopback and
// Config.Clients.
func (h *Handler) servesIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return true
	}
	for _, p := range h.cfg.Clients {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (h *Handler) maxSize(w dns.ResponseWriter, req *dns.Msg) int {
	if _, udp := w.RemoteAddr().(*net.UDPAddr); !udp {
		return dns.MaxMsgSize
	}
	return h.udpSize(req)
}

// udpSize is the largest UDP answer req may get: 512 bytes, or the
// client's EDNS0 payload size capped by Config.UDPSize.
func (h *Handler) udpSize(req *dns.Msg) int {
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = int(min(opt.UDPSize(), h.cfg.UDPSize))
	}
	return max(size, dns.MinMsgSize)
}

// answer is what a lookup produced, before it becomes a message.
type answer struct {
	rrs   []dns.RR
	extra []dns.RR
	// err is nil, ErrNotFound, ErrNoData or a failure; see rcodeFor.
	err error
	// soa goes into the authority section of a negative answer.
	soa *dns.SOA
	// auth sets the AA flag.
	auth bool
}

// reply builds the response message for req from a.
func (h *Handler) reply(req *dns.Msg, a answer) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = a.auth
	m.RecursionAvailable = true
	m.Compress = true
	err := a.err
	if err == nil && len(a.rrs) == 0 {
		err = ErrNoData
	}
	m.Rcode = rcodeFor(err)
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		m.Answer = a.rrs
		m.Extra = a.extra
	case dns.RcodeServerFailure:
		h.log.Debug("dnsd: answer failed", "question", question(req), "error", err)
	}
	if isNegative(err) && a.soa != nil {
		m.Ns = []dns.RR{a.soa}
	}
	if req.IsEdns0() != nil {
		m.SetEdns0(h.cfg.UDPSize, false)
	}
	return m
}

// forward hands req to the current Forwarder and adapts its reply.
func (h *Handler) forward(ctx context.Context, req *dns.Msg) *dns.Msg {
	fwd := h.live.Load().forwarder
	resp, err := fwd.Forward(ctx, req)
	if err != nil {
		h.log.Debug("dnsd: forward", "question", question(req), "error", err)
		return h.reply(req, answer{err: err})
	}
	resp.Id = req.Id
	resp.Question = req.Question
	resp.Compress = true
	return resp
}

// cluster answers a name under the cluster domain. owner is the name as the
// client spelled it (records are owned by it), name its lower-case form.
func (h *Handler) cluster(owner, name string, qtype uint16, depth int) answer {
	a := answer{auth: true, soa: h.newSOACopy()}
	rest := strings.TrimSuffix(strings.TrimSuffix(name, h.domain), ".")
	if rest == "" {
		if qtype == dns.TypeSOA || qtype == dns.TypeANY {
			a.rrs = []dns.RR{h.newSOACopy()}
		}
		return a
	}
	labels := strings.Split(rest, ".")
	zone, labels := labels[len(labels)-1], labels[:len(labels)-1]
	switch zone {
	case "svc":
		a.rrs, a.extra, a.err = h.svcZone(owner, labels, qtype, depth)
	case "pod":
		a.rrs, a.err = h.podZone(owner, labels, qtype)
	case "dns-version":
		// The Kubernetes DNS schema version record (dns-spec 2.2).
		if len(labels) != 0 {
			a.err = ErrNotFound
		} else if qtype == dns.TypeTXT || qtype == dns.TypeANY {
			a.rrs = []dns.RR{&dns.TXT{Hdr: h.hdr(owner, dns.TypeTXT), Txt: []string{"1.1.0"}}}
		}
	default:
		a.err = ErrNotFound
	}
	return a
}

func question(req *dns.Msg) string {
	if req == nil || len(req.Question) == 0 {
		return ""
	}
	q := req.Question[0]
	return q.Name + " " + dns.TypeToString[q.Qtype]
}
