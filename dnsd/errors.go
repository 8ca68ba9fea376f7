package dnsd

import (
	"errors"

	"github.com/miekg/dns"
)

// Sentinel errors. Resolver implementations and the handler's lookups return
// them (possibly wrapped); rcodeFor is the one place they become RCODEs.
var (
	// ErrNotFound means the queried name does not exist: NXDOMAIN.
	ErrNotFound = errors.New("dnsd: name not found")
	// ErrNoData means the name exists but has no records of the queried
	// type: NOERROR with an empty answer and the zone's SOA (NODATA).
	ErrNoData = errors.New("dnsd: no records of the requested type")
	// ErrNoUpstream means a query must be forwarded but no upstream resolver
	// is configured: REFUSED, so that a stub resolver tries its next server.
	ErrNoUpstream = errors.New("dnsd: no upstream resolver configured")

	// errFormat is a malformed query: FORMERR.
	errFormat = errors.New("dnsd: malformed query")
	// errNotImplemented is an opcode other than QUERY: NOTIMP.
	errNotImplemented = errors.New("dnsd: opcode not implemented")
	// errRefused is a query dnsd will not answer (a non-IN class in the
	// cluster domain): REFUSED.
	errRefused = errors.New("dnsd: query refused")
	// errLoop is an ExternalName CNAME chain that does not end: SERVFAIL.
	errLoop = errors.New("dnsd: CNAME loop")
)

// rcodeFor maps an answer error to its RCODE. Anything unknown, including a
// Resolver failure or a recovered panic, is SERVFAIL.
func rcodeFor(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrNoData):
		return dns.RcodeSuccess
	case errors.Is(err, ErrNotFound):
		return dns.RcodeNameError
	case errors.Is(err, ErrNoUpstream), errors.Is(err, errRefused):
		return dns.RcodeRefused
	case errors.Is(err, errFormat):
		return dns.RcodeFormatError
	case errors.Is(err, errNotImplemented):
		return dns.RcodeNotImplemented
	default:
		return dns.RcodeServerFailure
	}
}

// isNegative reports whether err is an answer that carries the zone's SOA in
// the authority section (NXDOMAIN and NODATA, RFC 2308).
func isNegative(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoData)
}
