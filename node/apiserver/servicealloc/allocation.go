package servicealloc

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// maxClaimRetries bounds how often a write picks new addresses after
// losing a race for them.
const maxClaimRetries = 8

// Allocation is the allocation of one Service write: what was assigned
// automatically (and may be picked again after losing a race). A nil
// Allocation (a write of another kind) sets no claims and never retries.
type Allocation struct {
	a   *Allocator
	svc *corev1.Service
	// kept are the values the stored Service already had (on update): they
	// need no range check, so a Service outlives a change of range.
	keptIPs   map[string]bool
	keptPorts map[int32]bool
	// auto undo the automatic assignments.
	auto []func()
}

// Allocate assigns the cluster IPs and node ports svc lacks, and checks the
// ones it asks for; old is the stored Service on update, nil on create. It
// changes svc in place. Its errors are Kubernetes API errors (Invalid for
// a bad or taken request, InternalError for a full range), ready for the
// client.
func (a *Allocator) Allocate(svc, old *corev1.Service) (*Allocation, error) {
	al := &Allocation{a: a, svc: svc, keptIPs: map[string]bool{}, keptPorts: map[int32]bool{}}
	if old != nil {
		for _, ip := range old.Spec.ClusterIPs {
			al.keptIPs[ip] = true
		}
		for _, p := range old.Spec.Ports {
			al.keptPorts[p.NodePort] = true
		}
		al.keptPorts[old.Spec.HealthCheckNodePort] = true
	}
	if err := al.assign(); err != nil {
		return nil, err
	}
	return al, nil
}

func (al *Allocation) owner() string {
	return consensus.ObjectKey("services", al.svc.Namespace, al.svc.Name)
}

func (al *Allocation) invalid(errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, al.svc.Name, errs)
}

// assign fills in and checks the Service's addresses.
func (al *Allocation) assign() error {
	if err := al.a.err; err != nil {
		return apierrors.NewInternalError(err)
	}
	if err := al.assignIPs(); err != nil {
		return err
	}
	return al.assignNodePorts()
}

func (al *Allocation) assignIPs() error {
	s := &al.svc.Spec
	if s.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	specPath := field.NewPath("spec")
	var errs field.ErrorList
	if p := s.IPFamilyPolicy; p != nil && *p == corev1.IPFamilyPolicyRequireDualStack {
		errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), *p, "this cluster is not configured for dual-stack services"))
	}
	if len(s.IPFamilies) > 1 {
		errs = append(errs, field.Invalid(specPath.Child("ipFamilies"), s.IPFamilies, "when multiple IP families are specified, the cluster must be configured for dual-stack"))
	} else if len(s.IPFamilies) == 1 && s.IPFamilies[0] != corev1.IPv4Protocol {
		errs = append(errs, field.Invalid(specPath.Child("ipFamilies").Index(0), s.IPFamilies, fmt.Sprintf("ipfamily %s is not configured on cluster", s.IPFamilies[0])))
	}
	if len(errs) > 0 {
		return al.invalid(errs)
	}
	if s.ClusterIP == corev1.ClusterIPNone {
		return nil // headless
	}
	if len(s.ClusterIPs) == 0 {
		ip, ok := al.a.nextIP(al.owner())
		if !ok {
			return apierrors.NewInternalError(errors.New("failed to allocate a serviceIP: range is full"))
		}
		s.ClusterIP, s.ClusterIPs = ip.String(), []string{ip.String()}
		al.auto = append(al.auto, func() { s.ClusterIP, s.ClusterIPs = "", nil })
		return nil
	}
	ipsPath := specPath.Child("clusterIPs")
	if len(s.ClusterIPs) > 1 {
		return al.invalid(field.ErrorList{field.Invalid(ipsPath, s.ClusterIPs, "when multiple IPs are specified, the cluster must be configured for dual-stack")})
	}
	ip := s.ClusterIPs[0]
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		// Validation accepts what net.ParseIP does; keep one spelling.
		parsed := net.ParseIP(ip)
		if parsed == nil {
			return al.invalid(field.ErrorList{field.Invalid(ipsPath, s.ClusterIPs, "must be a valid IP address")})
		}
		addr, _ = netip.AddrFromSlice(parsed)
		addr = addr.Unmap()
	}
	if !al.keptIPs[ip] && !al.a.inRange(addr) {
		return al.invalid(field.ErrorList{field.Invalid(ipsPath, s.ClusterIPs, fmt.Sprintf(
			"failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, ip, al.a.cidr))})
	}
	if al.a.takenBy(ClaimServiceIP+addr.String(), al.owner()) {
		return al.invalid(field.ErrorList{field.Invalid(ipsPath, s.ClusterIPs, fmt.Sprintf(
			"failed to allocate IP %s: provided IP is already allocated", ip))})
	}
	return nil
}

func (al *Allocation) assignNodePorts() error {
	s := &al.svc.Spec
	owner := al.owner()
	portsPath := field.NewPath("spec", "ports")
	used := map[int32]bool{}
	byPort := map[int32]int32{} // service port -> node port
	check := func(np int32, path *field.Path) *field.Error {
		switch {
		case used[np]:
			return nil // shared within this Service
		case !al.keptPorts[np] && !al.a.ports.Contains(np):
			return field.Invalid(path, np, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", al.a.ports))
		case al.a.takenBy(nodePortClaim(np), owner):
			return field.Invalid(path, np, "provided port is already allocated")
		}
		used[np] = true
		return nil
	}
	// Requested node ports first, so that automatic ones avoid them.
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.NodePort == 0 {
			continue
		}
		if fe := check(p.NodePort, portsPath.Index(i).Child("nodePort")); fe != nil {
			return al.invalid(field.ErrorList{fe})
		}
		if _, ok := byPort[p.Port]; !ok {
			byPort[p.Port] = p.NodePort
		}
	}
	if s.HealthCheckNodePort != 0 {
		if fe := check(s.HealthCheckNodePort, field.NewPath("spec", "healthCheckNodePort")); fe != nil {
			return al.invalid(field.ErrorList{fe})
		}
	}
	next := func() (int32, error) {
		np, ok := al.a.nextPort(owner, used)
		if !ok {
			return 0, apierrors.NewInternalError(errors.New("failed to allocate a nodePort: range is full"))
		}
		used[np] = true
		return np, nil
	}
	if registry.NeedsNodePorts(al.svc) {
		for i := range s.Ports {
			p := &s.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			np, ok := byPort[p.Port]
			if !ok {
				var err error
				if np, err = next(); err != nil {
					return err
				}
				byPort[p.Port] = np
			}
			p.NodePort = np
			al.auto = append(al.auto, func() { p.NodePort = 0 })
		}
	}
	if s.Type == corev1.ServiceTypeLoadBalancer && s.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal && s.HealthCheckNodePort == 0 {
		np, err := next()
		if err != nil {
			return err
		}
		s.HealthCheckNodePort = np
		al.auto = append(al.auto, func() { s.HealthCheckNodePort = 0 })
	}
	return nil
}

// Claims are the store claims of the Service as allocated, sorted.
func (al *Allocation) Claims() []string {
	s := &al.svc.Spec
	var out []string
	if s.Type != corev1.ServiceTypeExternalName {
		for _, ip := range s.ClusterIPs {
			if parsed := net.ParseIP(ip); parsed != nil {
				addr, _ := netip.AddrFromSlice(parsed)
				out = append(out, ClaimServiceIP+addr.Unmap().String())
			}
		}
	}
	for _, p := range s.Ports {
		if p.NodePort != 0 {
			out = append(out, nodePortClaim(p.NodePort))
		}
	}
	if s.HealthCheckNodePort != 0 {
		out = append(out, nodePortClaim(s.HealthCheckNodePort))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SetClaims makes cmd carry the allocation's claims; a nil allocation
// leaves cmd alone.
func (al *Allocation) SetClaims(cmd *consensus.Command) {
	if al == nil {
		return
	}
	cmd.Claims = al.Claims()
	cmd.SetClaims = true
}

// RetryClaims decides what to do after a write failed with err: it
// answers true when err is consensus.ErrClaimed and new addresses were
// picked (the caller encodes the Service again and retries), or the error
// to return (err itself when it was not about claims). gr names the
// resource in the Conflict returned once retries run out.
func (al *Allocation) RetryClaims(err error, attempt int, gr schema.GroupResource) (bool, error) {
	if al == nil || !errors.Is(err, consensus.ErrClaimed) {
		return false, err
	}
	if attempt >= maxClaimRetries {
		return false, apierrors.NewConflict(gr, al.svc.Name, errors.New("the allocated addresses were taken by concurrent writes; please try again"))
	}
	// The local replica now reflects the write that took the claim: the
	// requested values are checked again and the automatic ones re-picked.
	for i := len(al.auto) - 1; i >= 0; i-- {
		al.auto[i]()
	}
	al.auto = nil
	if err := al.assign(); err != nil {
		return false, err
	}
	return true, nil
}
