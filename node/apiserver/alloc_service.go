package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// Service address allocation. A Service's cluster IP and node ports are
// store claims (consensus.Command.Claims) named "service-ip/<ip>" and
// "nodeport/<port>": the FSM gives each to one object, so every replica
// agrees on who holds what, and deleting the Service frees them. The API
// server picks free candidates from its local replica and, when a
// concurrent write took one first (consensus.ErrClaimed), picks again.
//
// As in Kubernetes, node ports are one space for all protocols, and ports of
// one Service with the same port number share their node port.

// Claim name prefixes.
const (
	ClaimServiceIP = "service-ip/"
	ClaimNodePort  = "nodeport/"
)

// Defaults for Config.ServiceCIDR and Config.NodePortRange.
var (
	DefaultServiceCIDR   = netip.MustParsePrefix("10.43.0.0/16")
	DefaultNodePortRange = PortRange{First: 30000, Last: 32767}
)

// maxClaimRetries bounds how often a write picks new addresses after
// losing a race for them.
const maxClaimRetries = 8

// PortRange is an inclusive range of ports.
type PortRange struct{ First, Last int32 }

// String is "First-Last", as Kubernetes prints a port range.
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// Contains says whether p is in the range.
func (r PortRange) Contains(p int32) bool { return p >= r.First && p <= r.Last }

// ParsePortRange reads "30000-32767".
func ParsePortRange(s string) (PortRange, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 32)
	last, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
	if !ok || err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
		return PortRange{}, fmt.Errorf("invalid port range %q: want FIRST-LAST within 1-65535", s)
	}
	return PortRange{First: int32(first), Last: int32(last)}, nil
}

// KubernetesServiceIP is the address of the "kubernetes" Service: the first
// host address of the service CIDR (10.43.0.1 for 10.43.0.0/16).
func KubernetesServiceIP(cidr netip.Prefix) netip.Addr {
	return cidr.Masked().Addr().Next()
}

// serviceAllocator hands out cluster IPs and node ports.
type serviceAllocator struct {
	store *consensus.Store
	cidr  netip.Prefix
	base  uint32 // the network address
	size  uint64 // addresses in the CIDR, network and broadcast included
	ports PortRange
	err   error // a configuration error, reported on every allocation
}

func newServiceAllocator(store *consensus.Store, cidr netip.Prefix, ports PortRange) *serviceAllocator {
	if !cidr.IsValid() {
		cidr = DefaultServiceCIDR
	}
	if ports == (PortRange{}) {
		ports = DefaultNodePortRange
	}
	a := &serviceAllocator{store: store, cidr: cidr.Masked(), ports: ports}
	switch {
	case !cidr.Addr().Is4():
		a.err = fmt.Errorf("service CIDR %s: only IPv4 service CIDRs are supported", cidr)
	case cidr.Bits() > 29:
		a.err = fmt.Errorf("service CIDR %s: too small, want at most /29", cidr)
	case ports.First < 1 || ports.Last > 65535 || ports.First > ports.Last:
		a.err = fmt.Errorf("node port range %s is not valid", ports)
	default:
		b := a.cidr.Addr().As4()
		a.base = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		a.size = 1 << (32 - cidr.Bits())
	}
	return a
}

// inRange says whether ip is a host address of the CIDR (neither the
// network nor the broadcast address).
func (a *serviceAllocator) inRange(ip netip.Addr) bool {
	if !ip.Is4() || !a.cidr.Contains(ip) {
		return false
	}
	off := uint64(ipv4Uint(ip) - a.base)
	return off > 0 && off < a.size-1
}

func ipv4Uint(ip netip.Addr) uint32 {
	b := ip.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uintIPv4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// takenBy says whether claim is held by an object other than owner.
func (a *serviceAllocator) takenBy(claim, owner string) bool {
	o, ok := a.store.ClaimOwner(claim)
	return ok && o != owner
}

// nextIP picks a free address at random, skipping the first host address
// (the kubernetes Service's).
func (a *serviceAllocator) nextIP(owner string) (netip.Addr, bool) {
	n := a.size - 3 // host addresses after the first
	start := rand.Uint64N(n)
	for i := range n {
		ip := uintIPv4(a.base + 2 + uint32((start+i)%n))
		if !a.takenBy(ClaimServiceIP+ip.String(), owner) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// nextPort picks a free node port at random that is not in used.
func (a *serviceAllocator) nextPort(owner string, used map[int32]bool) (int32, bool) {
	n := int32(a.ports.Last - a.ports.First + 1)
	start := rand.Int32N(n)
	for i := range n {
		p := a.ports.First + (start+i)%n
		if !used[p] && !a.takenBy(nodePortClaim(p), owner) {
			return p, true
		}
	}
	return 0, false
}

func nodePortClaim(p int32) string { return ClaimNodePort + strconv.Itoa(int(p)) }

// serviceAllocation is the allocation of one Service write: what was
// assigned automatically (and may be picked again after losing a race).
type serviceAllocation struct {
	a   *serviceAllocator
	svc *corev1.Service
	// kept are the values the stored Service already had (on update): they
	// need no range check, so a Service outlives a change of range.
	keptIPs   map[string]bool
	keptPorts map[int32]bool
	// auto undo the automatic assignments.
	auto []func()
}

// allocate assigns the cluster IPs and node ports obj (a Service) lacks,
// and checks the ones it asks for; old is the stored object on update.
// Other kinds need nothing: it returns nil.
func (s *Server) allocate(obj, old runtime.Object) (*serviceAllocation, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	al := &serviceAllocation{a: s.services, svc: svc, keptIPs: map[string]bool{}, keptPorts: map[int32]bool{}}
	if o, ok := old.(*corev1.Service); ok {
		for _, ip := range o.Spec.ClusterIPs {
			al.keptIPs[ip] = true
		}
		for _, p := range o.Spec.Ports {
			al.keptPorts[p.NodePort] = true
		}
		al.keptPorts[o.Spec.HealthCheckNodePort] = true
	}
	if err := al.assign(); err != nil {
		return nil, err
	}
	return al, nil
}

func (al *serviceAllocation) owner() string {
	return consensus.ObjectKey("services", al.svc.Namespace, al.svc.Name)
}

func (al *serviceAllocation) invalid(errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, al.svc.Name, errs)
}

// assign fills in and checks the Service's addresses.
func (al *serviceAllocation) assign() error {
	if err := al.a.err; err != nil {
		return internalError(err)
	}
	if err := al.assignIPs(); err != nil {
		return err
	}
	return al.assignNodePorts()
}

func (al *serviceAllocation) assignIPs() error {
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
			return internalError(errors.New("failed to allocate a serviceIP: range is full"))
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

// needsNodePorts is the registry's rule: NodePort services, and
// LoadBalancer services unless allocateLoadBalancerNodePorts is false.
func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return ptr.Deref(svc.Spec.AllocateLoadBalancerNodePorts, true)
	}
	return false
}

func (al *serviceAllocation) assignNodePorts() error {
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
			return 0, internalError(errors.New("failed to allocate a nodePort: range is full"))
		}
		used[np] = true
		return np, nil
	}
	if needsNodePorts(al.svc) {
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

// claims are the store claims of the Service as allocated.
func (al *serviceAllocation) claims() []string {
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

// setClaims makes cmd carry the allocation's claims; a nil allocation
// leaves cmd alone.
func (al *serviceAllocation) setClaims(cmd *consensus.Command) {
	if al == nil {
		return
	}
	cmd.Claims = al.claims()
	cmd.SetClaims = true
}

// retryClaims decides what to do after a write failed with err: it
// answers true when err is consensus.ErrClaimed and new addresses were
// picked (the caller encodes the object again and retries), or the error
// to return.
func (al *serviceAllocation) retryClaims(err error, attempt int, gr schema.GroupResource) (bool, error) {
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

// EnsureKubernetesService creates the "kubernetes" Service in the
// "default" namespace when it is missing: ClusterIP KubernetesServiceIP
// (10.43.0.1 by default), port 443 named "https" to target port 6443 (the
// port of Config.ServerAddress when it has one), no selector. The leader
// calls it at bootstrap; it retries until the namespace exists or ctx ends,
// and returns nil once the Service exists (an existing one is left as is).
func (s *Server) EnsureKubernetesService(ctx context.Context) error {
	const namespace, name = "default", "kubernetes"
	k, ok := registry.Lookup("", "v1", "services")
	if !ok {
		return errors.New("apiserver: services are not registered")
	}
	for {
		err := s.createKubernetesService(ctx, k, namespace, name)
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return nil
		case apierrors.IsInvalid(err), apierrors.IsInternalError(err) && s.services.err != nil:
			return fmt.Errorf("create service %s/%s: %w", namespace, name, err)
		}
		s.log.Debug("create kubernetes service", "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("create service %s/%s: %w (last error: %v)", namespace, name, ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (s *Server) createKubernetesService(ctx context.Context, k *registry.Kind, namespace, name string) error {
	if _, err := s.store.Get("services", namespace, name); err == nil {
		return apierrors.NewAlreadyExists(k.GroupResource(), name)
	}
	if err := s.checkNamespace(ctx, namespace); err != nil {
		return err
	}
	target := 6443
	if _, port, err := net.SplitHostPort(s.cfg.ServerAddress); err == nil {
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
			target = n
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: KubernetesServiceIP(s.services.cidr).String(),
			Ports: []corev1.ServicePort{{
				Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(int32(target)),
			}},
		},
	}
	k.Default(svc)
	k.PrepareForCreate(svc)
	if errs := s.validate(k, svc, nil); len(errs) > 0 {
		return invalid(k.GVK().GroupKind(), name, errs)
	}
	al, err := s.allocate(svc, nil)
	if err != nil {
		return err
	}
	raw, err := encodeObject(k, svc)
	if err != nil {
		return internalError(err)
	}
	cmd := &consensus.Command{
		Op: consensus.OpCreate, Resource: k.GroupResource().String(), Namespace: namespace, Name: name,
		Object: raw, UID: uuid.NewString(), Time: s.now().UTC().Format(time.RFC3339),
	}
	al.setClaims(cmd)
	if _, err := s.prop.Propose(ctx, cmd); err != nil {
		if errors.Is(err, consensus.ErrClaimed) {
			owner, _ := s.store.ClaimOwner(cmd.Claims[0])
			return al.invalid(field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs"), svc.Spec.ClusterIPs,
				fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated (by %s)", svc.Spec.ClusterIP, owner))})
		}
		return storeError(err, k.GroupResource(), name)
	}
	return nil
}
