package registry

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// nodePortMin and nodePortMax bound the nodePorts of NodePort and
// LoadBalancer services (Kubernetes' default range, which shoal uses).
var (
	nodePortMin int32 = 30000
	nodePortMax int32 = 32767
)

// kubeletPort may not be exposed by a LoadBalancer service.
const kubeletPort = 10250

var (
	supportedServiceTypes   = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	supportedAffinity       = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	supportedTrafficPolicy  = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	supportedInternalPolicy = []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
)

func serviceKind() *Kind {
	spec := corev1.ServiceSpec{}.SwaggerDoc()
	return &Kind{
		Group: "", Version: "v1", Kind: "Service",
		Resource: "services", Singular: "service",
		ShortNames: []string{"svc"}, Categories: []string{"all"},
		Namespaced: true,
		Verbs:      verbsAll,
		Subresources: []Subresource{
			{Name: "proxy", Kind: "ServiceProxyOptions", Verbs: verbsProxy},
			statusSub("Service"),
		},
		HasStatus:        true,
		New:              func() runtime.Object { return &corev1.Service{} },
		NewList:          func() runtime.Object { return &corev1.ServiceList{} },
		Default:          typed(defaultService),
		Validate:         typedValidate(validateService),
		ValidateStatus:   typedValidate(validateServiceStatus),
		PrepareForCreate: typed(prepareServiceForCreate),
		PrepareForUpdate: typed2(prepareServiceForUpdate),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Type", "string", spec["type"]),
			column("Cluster-IP", "string", spec["clusterIP"]),
			column("External-IP", "string", spec["externalIPs"]),
			column("Port(s)", "string", spec["ports"]),
			ageColumn(),
			wideColumn("Selector", "string", spec["selector"]),
		},
		Row:    typedRow(7, serviceRow),
		Fields: typedFields(serviceFields),
	}
}

// defaultService is SetDefaults_Service, plus the single-stack IPv4 family
// fields Kubernetes' service REST fills in on create.
func defaultService(svc *corev1.Service) {
	s := &svc.Spec
	if s.SessionAffinity == "" {
		s.SessionAffinity = corev1.ServiceAffinityNone
	}
	if s.SessionAffinity == corev1.ServiceAffinityNone {
		s.SessionAffinityConfig = nil
	}
	if s.SessionAffinity == corev1.ServiceAffinityClientIP {
		if s.SessionAffinityConfig == nil {
			s.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}
		if s.SessionAffinityConfig.ClientIP == nil {
			s.SessionAffinityConfig.ClientIP = &corev1.ClientIPConfig{}
		}
		if s.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			s.SessionAffinityConfig.ClientIP.TimeoutSeconds = ptr.To(corev1.DefaultClientIPServiceAffinitySeconds)
		}
	}
	if s.Type == "" {
		s.Type = corev1.ServiceTypeClusterIP
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		p.TargetPort = intOrPort(p.TargetPort, p.Port)
	}
	if needsExternalTrafficPolicy(svc) && s.ExternalTrafficPolicy == "" {
		s.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if s.Type != corev1.ServiceTypeExternalName {
		if s.InternalTrafficPolicy == nil {
			s.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
		}
		if len(s.IPFamilies) == 0 {
			s.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		if s.IPFamilyPolicy == nil {
			s.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
		}
	}
	if s.Type == corev1.ServiceTypeLoadBalancer && s.AllocateLoadBalancerNodePorts == nil {
		s.AllocateLoadBalancerNodePorts = ptr.To(true)
	}
	defaultLoadBalancerIPMode(svc)
}

func needsExternalTrafficPolicy(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// NeedsNodePorts says whether svc gets node ports: NodePort Services, and
// LoadBalancer Services unless allocateLoadBalancerNodePorts is false. The
// update rules drop node ports by it, and the allocator assigns them by it.
func NeedsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return ptr.Deref(svc.Spec.AllocateLoadBalancerNodePorts, true)
	}
	return false
}

func isHeadlessService(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone ||
		len(svc.Spec.ClusterIPs) == 1 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone
}

// normalizeClusterIPs keeps spec.clusterIP and spec.clusterIPs[0] in step,
// as the service strategy does.
func normalizeClusterIPs(svc *corev1.Service) {
	s := &svc.Spec
	switch {
	case s.ClusterIP != "" && len(s.ClusterIPs) == 0:
		s.ClusterIPs = []string{s.ClusterIP}
	case s.ClusterIP == "" && len(s.ClusterIPs) > 0:
		s.ClusterIP = s.ClusterIPs[0]
	}
}

// prepareServiceForCreate resets status and normalizes clusterIPs. The
// clusterIP and nodePorts themselves are allocated outside this package.
func prepareServiceForCreate(svc *corev1.Service) {
	svc.Status = corev1.ServiceStatus{}
	normalizeClusterIPs(svc)
}

// prepareServiceForUpdate carries allocated values (clusterIP, nodePorts,
// healthCheckNodePort) over from the stored service when the update omits
// them, and drops fields the new type no longer uses, as Kubernetes'
// patchAllocatedValues and dropTypeDependentFields do.
func prepareServiceForUpdate(svc, old *corev1.Service) {
	s, o := &svc.Spec, &old.Spec
	oldNeedsIP := o.Type != corev1.ServiceTypeExternalName
	newNeedsIP := s.Type != corev1.ServiceTypeExternalName
	if oldNeedsIP && newNeedsIP {
		if s.ClusterIP == "" {
			s.ClusterIP = o.ClusterIP
		}
		if len(s.ClusterIPs) == 0 && s.ClusterIP == o.ClusterIP {
			s.ClusterIPs = slices.Clone(o.ClusterIPs)
		}
	}
	if NeedsNodePorts(old) && NeedsNodePorts(svc) {
		used := sets.New[int32]()
		for _, p := range s.Ports {
			if p.NodePort != 0 {
				used.Insert(p.NodePort)
			}
		}
		byName := map[string]int32{}
		for _, p := range o.Ports {
			byName[p.Name] = p.NodePort
		}
		for i := range s.Ports {
			if v := byName[s.Ports[i].Name]; s.Ports[i].NodePort == 0 && !used.Has(v) {
				s.Ports[i].NodePort = v
			}
		}
	}
	if s.HealthCheckNodePort == 0 && s.Type == corev1.ServiceTypeLoadBalancer && s.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		s.HealthCheckNodePort = o.HealthCheckNodePort
	}
	normalizeClusterIPs(svc)

	// dropTypeDependentFields: only fields unchanged from the stored object
	// are dropped, so an explicit user value still meets validation.
	if !newNeedsIP && oldNeedsIP {
		if slices.Equal(s.ClusterIPs, o.ClusterIPs) {
			s.ClusterIP, s.ClusterIPs = "", nil
		}
		if slices.Equal(s.IPFamilies, o.IPFamilies) {
			s.IPFamilies = nil
		}
		if ptr.Equal(s.IPFamilyPolicy, o.IPFamilyPolicy) {
			s.IPFamilyPolicy = nil
		}
		if ptr.Equal(s.InternalTrafficPolicy, o.InternalTrafficPolicy) {
			s.InternalTrafficPolicy = nil
		}
	}
	if NeedsNodePorts(old) && !NeedsNodePorts(svc) {
		oldPorts := sets.New[int32]()
		for _, p := range o.Ports {
			oldPorts.Insert(p.NodePort)
		}
		for i := range s.Ports {
			if oldPorts.Has(s.Ports[i].NodePort) {
				s.Ports[i].NodePort = 0
			}
		}
	}
	if needsExternalTrafficPolicy(old) && !needsExternalTrafficPolicy(svc) && s.ExternalTrafficPolicy == o.ExternalTrafficPolicy {
		s.ExternalTrafficPolicy = ""
	}
	if s.Type != corev1.ServiceTypeLoadBalancer {
		if s.HealthCheckNodePort == o.HealthCheckNodePort {
			s.HealthCheckNodePort = 0
		}
		if ptr.Equal(s.AllocateLoadBalancerNodePorts, o.AllocateLoadBalancerNodePorts) {
			s.AllocateLoadBalancerNodePorts = nil
		}
	}
}

// validateService is ValidateService (and ValidateServiceUpdate when old is
// set): service names are DNS-1035 labels.
func validateService(svc, old *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&svc.ObjectMeta, nil, true, apivalidation.NameIsDNS1035Label)
	} else {
		errs = validateMeta(&svc.ObjectMeta, &old.ObjectMeta, true, nil)
		errs = append(errs, validateClusterIPsUpdate(svc, old)...)
	}
	specPath := field.NewPath("spec")
	s := &svc.Spec
	headless := isHeadlessService(svc)

	if len(s.Ports) == 0 && !headless && s.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}
	switch s.Type {
	case corev1.ServiceTypeLoadBalancer:
		if headless {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), corev1.ClusterIPNone, "may not be set to 'None' for LoadBalancer services"))
		}
		for i, p := range s.Ports {
			if p.Port == kubeletPort {
				errs = append(errs, field.Invalid(specPath.Child("ports").Index(i), p.Port, fmt.Sprintf("may not expose port %v externally since it is used by kubelet", kubeletPort)))
			}
		}
	case corev1.ServiceTypeNodePort:
		if headless {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), corev1.ClusterIPNone, "may not be set to 'None' for NodePort services"))
		}
	case corev1.ServiceTypeExternalName:
		if len(s.ClusterIPs) > 0 || s.ClusterIP != "" {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(s.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if s.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		if cname := strings.TrimSuffix(s.ExternalName, "."); cname != "" {
			errs = append(errs, validateDNS1123Subdomain(cname, specPath.Child("externalName"))...)
		} else {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		}
	}

	names := sets.New[string]()
	for i := range s.Ports {
		errs = append(errs, validateServicePort(&s.Ports[i], len(s.Ports) > 1, names, specPath.Child("ports").Index(i))...)
	}
	if s.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabels(s.Selector, specPath.Child("selector"))...)
	}
	switch {
	case s.SessionAffinity == "":
		errs = append(errs, field.Required(specPath.Child("sessionAffinity"), ""))
	case !slices.Contains(supportedAffinity, s.SessionAffinity):
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), s.SessionAffinity, supportedAffinity))
	}
	switch {
	case s.Type == "":
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	case !slices.Contains(supportedServiceTypes, s.Type):
		errs = append(errs, field.NotSupported(specPath.Child("type"), s.Type, supportedServiceTypes))
	}
	errs = append(errs, validateClusterIPs(svc, specPath)...)
	for i, ip := range s.ExternalIPs {
		errs = append(errs, validation.IsValidIP(specPath.Child("externalIPs").Index(i), ip)...)
	}
	errs = append(errs, validateNodePorts(svc, specPath.Child("ports"))...)

	if s.ExternalTrafficPolicy != "" {
		if !needsExternalTrafficPolicy(svc) {
			errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		} else if !slices.Contains(supportedTrafficPolicy, s.ExternalTrafficPolicy) {
			errs = append(errs, field.NotSupported(specPath.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, supportedTrafficPolicy))
		}
	} else if needsExternalTrafficPolicy(svc) {
		errs = append(errs, field.Required(specPath.Child("externalTrafficPolicy"), ""))
	}
	if p := s.InternalTrafficPolicy; p != nil && !slices.Contains(supportedInternalPolicy, *p) {
		errs = append(errs, field.NotSupported(specPath.Child("internalTrafficPolicy"), *p, supportedInternalPolicy))
	}
	return errs
}

// validateServicePort is Kubernetes' validateServicePort.
func validateServicePort(sp *corev1.ServicePort, requireName bool, names sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && sp.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	} else if sp.Name != "" {
		errs = append(errs, validateDNS1123Label(sp.Name, path.Child("name"))...)
		if names.Has(sp.Name) {
			errs = append(errs, field.Duplicate(path.Child("name"), sp.Name))
		} else {
			names.Insert(sp.Name)
		}
	}
	for _, msg := range validation.IsValidPortNum(int(sp.Port)) {
		errs = append(errs, field.Invalid(path.Child("port"), sp.Port, msg))
	}
	errs = append(errs, validateProtocol(sp.Protocol, path.Child("protocol"))...)
	errs = append(errs, validatePortNumOrName(sp.TargetPort, path.Child("targetPort"))...)
	return errs
}

func validateClusterIPs(svc *corev1.Service, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	s := &svc.Spec
	ipsPath := specPath.Child("clusterIPs")
	if len(s.ClusterIPs) > 0 && s.ClusterIP != s.ClusterIPs[0] {
		errs = append(errs, field.Invalid(ipsPath, s.ClusterIPs, "first value must match `clusterIP`"))
	}
	for i, ip := range s.ClusterIPs {
		if ip == corev1.ClusterIPNone {
			if i != 0 || len(s.ClusterIPs) > 1 {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, "'None' must be the first and only value"))
			}
			continue
		}
		errs = append(errs, validation.IsValidIP(ipsPath.Index(i), ip)...)
	}
	if len(s.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(ipsPath, s.ClusterIPs, "may only hold up to 2 values"))
	}
	return errs
}

// validateNodePorts checks nodePort use, range and uniqueness, and port
// uniqueness per protocol.
func validateNodePorts(svc *corev1.Service, portsPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	type key struct {
		proto corev1.Protocol
		port  int32
	}
	nodePorts := map[key]bool{}
	ports := map[key]bool{}
	for i, p := range svc.Spec.Ports {
		idx := portsPath.Index(i)
		if p.NodePort != 0 {
			switch {
			case svc.Spec.Type == corev1.ServiceTypeClusterIP:
				errs = append(errs, field.Forbidden(idx.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			case p.NodePort < nodePortMin || p.NodePort > nodePortMax:
				errs = append(errs, field.Invalid(idx.Child("nodePort"), p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", nodePortMin, nodePortMax)))
			}
			k := key{p.Protocol, p.NodePort}
			if nodePorts[k] {
				errs = append(errs, field.Duplicate(idx.Child("nodePort"), p.NodePort))
			}
			nodePorts[k] = true
		}
		k := key{p.Protocol, p.Port}
		if ports[k] {
			errs = append(errs, field.Duplicate(idx, corev1.ServicePort{Protocol: p.Protocol, Port: p.Port}))
		}
		ports[k] = true
	}
	return errs
}

// validateClusterIPsUpdate is validateUpgradeDowngradeClusterIPs: a
// clusterIP may not change once set, except to or from ExternalName.
func validateClusterIPsUpdate(svc, old *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadlessService(svc) && isHeadlessService(old) {
		return nil
	}
	var errs field.ErrorList
	path := field.NewPath("spec", "clusterIPs")
	n, o := svc.Spec.ClusterIPs, old.Spec.ClusterIPs
	switch {
	case len(o) == len(n):
		for i := range o {
			if o[i] != n[i] {
				errs = append(errs, field.Invalid(path.Index(i), n, "may not change once set"))
			}
		}
	case len(o) > len(n):
		if len(n) == 0 {
			errs = append(errs, field.Invalid(path.Index(0), n, "primary clusterIP can not be unset"))
		} else if n[0] != o[0] {
			errs = append(errs, field.Invalid(path.Index(0), n, "may not change once set"))
		}
	case len(o) > 0 && n[0] != o[0]:
		errs = append(errs, field.Invalid(path.Index(0), n, "may not change once set"))
	}
	return errs
}

func serviceFields(svc *corev1.Service) fields.Set {
	return mergeFields(objectMetaFields(&svc.ObjectMeta, true), fields.Set{
		"spec.clusterIP": svc.Spec.ClusterIP,
		"spec.type":      string(svc.Spec.Type),
	})
}

// serviceRow is printService: Name, Type, Cluster-IP, External-IP,
// Port(s), Age | Selector.
func serviceRow(svc *corev1.Service, now time.Time) []interface{} {
	internalIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		internalIP = svc.Spec.ClusterIPs[0]
	} else if svc.Spec.ClusterIP != "" {
		internalIP = svc.Spec.ClusterIP
	}
	ports := makePortString(svc.Spec.Ports)
	if ports == "" {
		ports = "<none>"
	}
	return []interface{}{
		svc.Name,
		string(svc.Spec.Type),
		internalIP,
		serviceExternalIP(svc),
		ports,
		translateTimestampSince(svc.CreationTimestamp, now),
		labels.FormatLabels(svc.Spec.Selector),
	}
}

// serviceExternalIP is getServiceExternalIP for the wide (server) output.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		lb := loadBalancerIPs(svc.Status.LoadBalancer)
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(append(lb, svc.Spec.ExternalIPs...), ",")
		}
		if len(lb) > 0 {
			return strings.Join(lb, ",")
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// loadBalancerIPs lists the ingress IPs (or hostnames), sorted and unique.
func loadBalancerIPs(s corev1.LoadBalancerStatus) []string {
	set := sets.New[string]()
	for _, in := range s.Ingress {
		if in.IP != "" {
			set.Insert(in.IP)
		} else if in.Hostname != "" {
			set.Insert(in.Hostname)
		}
	}
	return sets.List(set)
}

// makePortString renders ports as "80/TCP" or "8080:30797/TCP", comma
// separated.
func makePortString(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}
