package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoal-project/shoal/consensus"
)

// Endpoints keeps an Endpoints object for every Service with a selector:
// the addresses of the pods it selects, ready ones apart from the others,
// with each service port's targetPort resolved against the pod (a named
// targetPort may map to different numbers on different pods), as
// Kubernetes' endpoints controller does.
type Endpoints struct {
	Deps
	// Resync is how often a full pass runs without events (0: 5s).
	Resync time.Duration
}

// Run reconciles until ctx is cancelled: a full pass on every change to
// services, pods or endpoints, and on a timer.
func (c *Endpoints) Run(ctx context.Context) error {
	resync := c.Resync
	if resync == 0 {
		resync = 5 * time.Second
	}
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		ws, err := c.watch()
		if err != nil {
			return err
		}
		if err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
			c.Logger.Warn("endpoints controller", "error", err)
		}
		if !c.follow(ctx, ws, t.C) {
			return nil
		}
	}
}

func (c *Endpoints) watch() ([]*consensus.Watcher, error) {
	var ws []*consensus.Watcher
	for _, r := range []string{"services", "pods", "endpoints"} { // slices follow the endpoints
		w, err := c.Store.Watch(r, "", 0)
		if err != nil {
			for _, o := range ws {
				o.Stop()
			}
			return nil, fmt.Errorf("watch %s: %w", r, err)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// follow reconciles on events (coalescing bursts) until ctx ends (false)
// or a watch closes (true: the caller re-subscribes).
func (c *Endpoints) follow(ctx context.Context, ws []*consensus.Watcher, tick <-chan time.Time) bool {
	defer func() {
		for _, w := range ws {
			w.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
		case _, ok := <-ws[0].Events():
			if !ok {
				return true
			}
		case _, ok := <-ws[1].Events():
			if !ok {
				return true
			}
		case _, ok := <-ws[2].Events():
			if !ok {
				return true
			}
		}
		// Let a burst of changes (a rollout) land before the pass.
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
		if err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
			c.Logger.Warn("endpoints controller", "error", err)
		}
	}
}

// Reconcile makes one pass over every service.
func (c *Endpoints) Reconcile(ctx context.Context) error {
	svcs, _, _ := c.Store.List("services", "", "", 0)
	wanted := map[string]bool{}
	podsByNS := map[string][]corev1.Pod{}
	var errs []error
	for _, o := range svcs {
		var svc corev1.Service
		if err := json.Unmarshal(o.Raw, &svc); err != nil {
			continue
		}
		if svc.Spec.Selector == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue // endpoints of selector-less services are the user's
		}
		wanted[svc.Namespace+"/"+svc.Name] = true
		pods, ok := podsByNS[svc.Namespace]
		if !ok {
			pods = c.pods(svc.Namespace)
			podsByNS[svc.Namespace] = pods
		}
		subsets := EndpointsFor(&svc, pods)
		if err := c.sync(ctx, &svc, subsets); err != nil {
			errs = append(errs, fmt.Errorf("endpoints %s/%s: %w", svc.Namespace, svc.Name, err))
		}
		if err := c.syncSlice(ctx, sliceFor(&svc, subsets)); err != nil {
			errs = append(errs, fmt.Errorf("endpointslice %s/%s: %w", svc.Namespace, svc.Name, err))
		}
	}
	// Endpoints this controller made for services that are gone.
	eps, _, _ := c.Store.List("endpoints", "", "", 0)
	for _, o := range eps {
		if wanted[o.Namespace+"/"+o.Name] || o.Labels[managedByLabel] != managedBy {
			continue
		}
		err := c.Client.CoreV1().Endpoints(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if err := c.removeStaleSlices(ctx, wanted); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

const (
	managedByLabel = "endpoints.kubernetes.io/managed-by"
	managedBy      = "endpoint-controller"
)

func (c *Endpoints) pods(ns string) []corev1.Pod {
	objs, _, _ := c.Store.List("pods", ns, "", 0)
	out := make([]corev1.Pod, 0, len(objs))
	for _, o := range objs {
		var p corev1.Pod
		if json.Unmarshal(o.Raw, &p) == nil {
			out = append(out, p)
		}
	}
	return out
}

// sync writes want when the stored Endpoints differ.
func (c *Endpoints) sync(ctx context.Context, svc *corev1.Service, want []corev1.EndpointSubset) error {
	labelsWant := map[string]string{managedByLabel: managedBy}
	for k, v := range svc.Labels {
		labelsWant[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		labelsWant[corev1.IsHeadlessService] = ""
	}
	obj, err := c.Store.Get("endpoints", svc.Namespace, svc.Name)
	if errors.Is(err, consensus.ErrNotFound) {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: labelsWant}, Subsets: want}
		_, err := c.Client.CoreV1().Endpoints(svc.Namespace).Create(ctx, ep, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	var cur corev1.Endpoints
	if err := json.Unmarshal(obj.Raw, &cur); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(cur.Subsets, want) && equality.Semantic.DeepEqual(cur.Labels, labelsWant) {
		return nil
	}
	cur.Subsets, cur.Labels = want, labelsWant
	_, err = c.Client.CoreV1().Endpoints(svc.Namespace).Update(ctx, &cur, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil // the next pass sees the newer object
	}
	return err
}

// EndpointsFor computes a service's subsets from the pods: one subset per
// distinct set of resolved ports, addresses sorted by IP, ready pods in
// addresses and the others in notReadyAddresses. Pods without an IP, being
// deleted or finished are left out.
func EndpointsFor(svc *corev1.Service, pods []corev1.Pod) []corev1.EndpointSubset {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	var order []string
	for i := range pods {
		p := &pods[i]
		if p.Namespace != svc.Namespace || !sel.Matches(labels.Set(p.Labels)) || p.Status.PodIP == "" ||
			p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		ports, ok := resolvePorts(svc, p)
		if !ok {
			continue
		}
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &group{ports: ports}
			groups[key] = g
			order = append(order, key)
		}
		nodeName := p.Spec.NodeName
		addr := corev1.EndpointAddress{IP: p.Status.PodIP, NodeName: &nodeName, TargetRef: &corev1.ObjectReference{
			Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID,
		}}
		if podReady(p) || svc.Spec.PublishNotReadyAddresses {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	sort.Strings(order)
	var out []corev1.EndpointSubset
	for _, key := range order {
		g := groups[key]
		byIP := func(a []corev1.EndpointAddress) { sort.Slice(a, func(i, j int) bool { return a[i].IP < a[j].IP }) }
		byIP(g.ready)
		byIP(g.notReady)
		out = append(out, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}

// resolvePorts maps each service port to the pod's port; a named
// targetPort the pod lacks leaves the pod out, as in Kubernetes.
func resolvePorts(svc *corev1.Service, p *corev1.Pod) ([]corev1.EndpointPort, bool) {
	var out []corev1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		port := sp.TargetPort.IntVal
		if sp.TargetPort.StrVal != "" {
			port = 0
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal && (cp.Protocol == sp.Protocol || cp.Protocol == "" && sp.Protocol == corev1.ProtocolTCP) {
						port = cp.ContainerPort
					}
				}
			}
			if port == 0 {
				return nil, false
			}
		}
		if port == 0 {
			port = sp.Port
		}
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		out = append(out, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: proto, AppProtocol: sp.AppProtocol})
	}
	return out, true
}

func portsKey(ports []corev1.EndpointPort) string {
	s := ""
	for _, p := range ports {
		s += p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port)) + ","
	}
	return s
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
