package dnsd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/miekg/dns"
)

// The UDP path. Each UDP socket (several per address, SO_REUSEPORT, one
// per core: see Server) is read by one goroutine, a udpWorker, which
// answers in place. A query for a cluster name that was answered before,
// at the Resolver's current version (Versioned), is answered from the
// worker's cache of packed answers: the request is parsed in place, the
// answer is the cached bytes with the client's ID, flags and question
// copied in, and nothing is allocated or decoded. Anything else takes the
// handler (miekg/dns decode, Resolver, pack), and its answer is kept for
// the next time when it is a plain function of the question and the
// version. Names that must be forwarded go to a goroutine of their own.
//
// Why per worker: a shared cache would need a lock or atomic on every
// query, and its cache lines would bounce between the cores that the
// sockets exist to keep apart; each worker packs an answer once per
// change of the Resolver instead of once overall.

// maxCachedAnswers bounds a worker's cache: past it the cache starts
// over (names of the world's search-path expansions are unbounded).
const maxCachedAnswers = 1 << 16

// The header flag bits a cached answer takes from each request.
const (
	flagRD = 1 << 8 // recursion desired
	flagCD = 1 << 4 // checking disabled
)

// packedAnswer is a cached answer less its ID, flags RD and CD, and
// question: the bytes after the question, which point into it only by
// offset, so any question of the same lower-case name fits.
type packedAnswer struct {
	flags                     uint16 // without RD and CD
	ancount, nscount, arcount uint16
	tail                      []byte
}

// udpWorker serves one UDP socket. Its cache and buffers are its own:
// only its goroutine touches them.
type udpWorker struct {
	h       *Handler
	conn    *net.UDPConn
	ctx     context.Context // ends forwarding when the server stops
	forward *sync.WaitGroup // forwarding goroutines, waited for by Run

	batch *udpBatch // the worker's answers, sent together; nil: each at once

	versioned Versioned // nil: the Resolver has no version, nothing is cached
	version   uint64
	cache     map[string]*packedAnswer
	key       []byte
	out       []byte
}

func newUDPWorker(ctx context.Context, h *Handler, conn *net.UDPConn, forward *sync.WaitGroup) *udpWorker {
	w := &udpWorker{h: h, conn: conn, ctx: ctx, forward: forward,
		key: make([]byte, 0, 260), out: make([]byte, 0, dns.MaxMsgSize)}
	if v, ok := h.resolver.(Versioned); ok {
		w.versioned = v
		w.cache = make(map[string]*packedAnswer)
	}
	return w
}

// udpReadSize is the largest query a worker reads; a longer datagram is
// dropped (queries are a few hundred bytes at most).
const udpReadSize = 4096

// run reads and answers until the socket is closed, a batch of
// datagrams at a time (udpBatch).
func (w *udpWorker) run() error {
	b, err := newUDPBatch(w.conn, udpReadSize)
	if err != nil {
		return err
	}
	w.batch = b
	for {
		n, err := b.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		for i := range n {
			if pkt, from, ok := b.packet(i); ok {
				w.serve(pkt, from)
			}
		}
		if err := b.flush(); err != nil && !errors.Is(err, net.ErrClosed) {
			w.h.log.Debug("dnsd: write responses", "error", err)
		}
	}
}

// serve answers one datagram. A panic costs the query, not the socket.
func (w *udpWorker) serve(pkt []byte, from netip.AddrPort) {
	defer func() {
		if p := recover(); p != nil {
			w.h.log.Error("dnsd: panic while serving UDP", "panic", p)
		}
	}()
	if !w.h.servesIP(from.Addr()) {
		w.refuse(pkt, from)
		return
	}
	q, fast := parseQuery(pkt, w.key[:0])
	w.key = q.key[:0]
	q.maxSize = min(q.maxSize, max(int(w.h.cfg.UDPSize), dns.MinMsgSize))
	var version uint64
	if fast && w.versioned != nil {
		// Read before answering: an answer made while the version moves
		// is kept under the older version and dropped at the next query.
		version = w.versioned.Version()
		if version != w.version {
			clear(w.cache)
			w.version = version
		}
		if a := w.cache[string(q.key)]; a != nil && q.end+len(a.tail) <= q.maxSize {
			w.write(a.packInto(w.out[:0], pkt, q), from)
			return
		}
	}
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil {
		w.h.log.Debug("dnsd: malformed UDP query", "from", from, "error", err)
		return
	}
	resp, fwd := w.h.answerLocal(req)
	if fwd {
		w.forward.Add(1)
		go func() {
			defer w.forward.Done()
			resp := w.h.forwardSafe(w.ctx, req)
			resp.Truncate(w.h.udpSize(req))
			out, err := resp.Pack()
			if err != nil {
				w.h.log.Debug("dnsd: pack forwarded answer", "error", err)
				return
			}
			// Not through the batch: that belongs to the worker.
			if _, err := w.conn.WriteToUDPAddrPort(out, from); err != nil {
				w.h.log.Debug("dnsd: write response", "to", from, "error", err)
			}
		}()
		return
	}
	resp.Truncate(w.h.udpSize(req))
	// Truncate turns compression off for what fits without it; with it
	// the answer's owner is a pointer to the question, so a kept answer
	// carries each client's own spelling of the name (0x20), and is
	// smaller.
	resp.Compress = true
	out, err := resp.PackBuffer(w.out[:0])
	if err != nil {
		w.h.log.Debug("dnsd: pack answer", "question", question(req), "error", err)
		return
	}
	w.write(out, from)
	if fast && w.versioned != nil && cacheable(resp) && q.end <= len(out) && bytes.Equal(out[12:q.end], pkt[12:q.end]) {
		if len(w.cache) >= maxCachedAnswers {
			clear(w.cache)
		}
		w.cache[string(q.key)] = &packedAnswer{
			flags:   binary.BigEndian.Uint16(out[2:]) &^ (flagRD | flagCD),
			ancount: binary.BigEndian.Uint16(out[6:]),
			nscount: binary.BigEndian.Uint16(out[8:]),
			arcount: binary.BigEndian.Uint16(out[10:]),
			tail:    bytes.Clone(out[q.end:]),
		}
	}
}

// write sends one of the worker's answers: queued in its batch (sent
// after the batch's last query), or at once without one.
func (w *udpWorker) write(b []byte, to netip.AddrPort) {
	var err error
	if w.batch != nil {
		err = w.batch.queue(b, to)
	} else {
		_, err = w.conn.WriteToUDPAddrPort(b, to)
	}
	if err != nil {
		w.h.log.Debug("dnsd: write response", "to", to, "error", err)
	}
}

// refuse answers a source that is not a client REFUSED.
func (w *udpWorker) refuse(pkt []byte, from netip.AddrPort) {
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil {
		return
	}
	refused := new(dns.Msg)
	refused.SetRcode(req, dns.RcodeRefused)
	if out, err := refused.Pack(); err == nil {
		w.write(out, from)
	}
}

// packInto writes the answer to the query pkt (parsed as q) into dst.
func (a *packedAnswer) packInto(dst, pkt []byte, q parsedQuery) []byte {
	var hdr [12]byte
	copy(hdr[:2], pkt[:2]) // the client's ID
	flags := a.flags | binary.BigEndian.Uint16(pkt[2:])&(flagRD|flagCD)
	binary.BigEndian.PutUint16(hdr[2:], flags)
	binary.BigEndian.PutUint16(hdr[4:], 1)
	binary.BigEndian.PutUint16(hdr[6:], a.ancount)
	binary.BigEndian.PutUint16(hdr[8:], a.nscount)
	binary.BigEndian.PutUint16(hdr[10:], a.arcount)
	dst = append(dst, hdr[:]...)
	dst = append(dst, pkt[12:q.end]...) // the question as the client spelled it
	return append(dst, a.tail...)
}

// cacheable reports whether resp is a function of its question and the
// Resolver's version alone: a positive or negative answer, not
// truncated, and no record set of several members, which the handler
// shuffles for each query.
func cacheable(resp *dns.Msg) bool {
	if resp.Truncated || (resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError) {
		return false
	}
	for _, rrs := range [][]dns.RR{resp.Answer, resp.Extra} {
		for i := 1; i < len(rrs); i++ {
			for j := range i {
				if rrs[i].Header().Rrtype == rrs[j].Header().Rrtype && rrs[i].Header().Name == rrs[j].Header().Name {
					return false
				}
			}
		}
	}
	return true
}

// parsedQuery is what parseQuery read of a plain query.
type parsedQuery struct {
	// key is the lower-case wire name, type, class and whether the query
	// has an OPT record: the cache key.
	key []byte
	// end is the offset just past the question.
	end int
	// maxSize is the largest answer the client takes over UDP.
	maxSize int
}

// parseQuery reads the header and question of pkt in place, appending
// the cache key to key. ok is false for anything but a plain query: one
// question with an uncompressed name, no answer or authority records, and
// at most an option-less EDNS0 (version 0) OPT record; those take the
// handler's full path.
func parseQuery(pkt, key []byte) (q parsedQuery, ok bool) {
	q.key = key
	if len(pkt) < 12+1+4 {
		return q, false
	}
	flags := binary.BigEndian.Uint16(pkt[2:])
	if flags&0x8000 != 0 || flags&0x7800 != 0 { // a response, or not QUERY
		return q, false
	}
	qd, an, ns, ar := binary.BigEndian.Uint16(pkt[4:]), binary.BigEndian.Uint16(pkt[6:]), binary.BigEndian.Uint16(pkt[8:]), binary.BigEndian.Uint16(pkt[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return q, false
	}
	off := 12
	for {
		if off >= len(pkt) {
			return q, false
		}
		l := int(pkt[off])
		if l == 0 {
			key = append(key, 0)
			off++
			break
		}
		if l > 63 || off+1+l > len(pkt) || off+1+l-12 > 255 { // a pointer, or too long
			return q, false
		}
		key = append(key, byte(l))
		for _, c := range pkt[off+1 : off+1+l] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			key = append(key, c)
		}
		off += 1 + l
	}
	if off+4 > len(pkt) {
		return q, false
	}
	key = append(key, pkt[off:off+4]...) // type and class
	off += 4
	q.end = off
	q.maxSize = dns.MinMsgSize
	edns := byte(0)
	if ar == 1 {
		// An OPT record: root name, type 41, class = payload size, TTL =
		// extended RCODE, version and flags, no options.
		opt := pkt[off:]
		if len(opt) != 11 || opt[0] != 0 || binary.BigEndian.Uint16(opt[1:]) != dns.TypeOPT ||
			opt[6] != 0 || binary.BigEndian.Uint16(opt[9:]) != 0 {
			return q, false
		}
		edns = 1
		q.maxSize = max(dns.MinMsgSize, int(binary.BigEndian.Uint16(opt[3:])))
		off += 11
	}
	if off != len(pkt) {
		return q, false
	}
	q.key = append(key, edns)
	return q, true
}
