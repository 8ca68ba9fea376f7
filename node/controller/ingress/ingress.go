package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
	ingressproxy "github.com/shoal-project/shoal/node/ingress"
)

// Store resources of networking.k8s.io.
const (
	resIngresses      = "ingresses.networking.k8s.io"
	resIngressClasses = "ingressclasses.networking.k8s.io"
)

// AnnotationIngressClassCreated, on the kube-system namespace, records
// that the cluster made its IngressClass once; from then on a user's
// deletion of the class is final.
const AnnotationIngressClassCreated = "shoal.io/ingress-class-created"

// EnsureClass creates shoal's IngressClass ("shoal", controller
// shoal.io/ingress), annotated as the cluster's default, once in the
// cluster's life, retrying until ctx ends. The kube-system namespace's
// annotation AnnotationIngressClassCreated records it, so a later leader
// never makes the class again after a user deleted it. A cluster from
// before the annotation that already holds a class of shoal's controller
// only gets the annotation. An existing class is never changed: the user
// may have edited it.
func EnsureClass(ctx context.Context, d controller.Deps) error {
	for {
		err := ensureClassOnce(ctx, d)
		if err == nil {
			return nil
		}
		d.Logger.Debug("ensure ingress class", "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func ensureClassOnce(ctx context.Context, d controller.Deps) error {
	// kube-system is made by the namespaces bootstrap, which may still run.
	ns, err := d.Client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("namespace %s: %w", metav1.NamespaceSystem, err)
	}
	if _, done := ns.Annotations[AnnotationIngressClassCreated]; done {
		return nil
	}
	classes, err := d.Client.NetworkingV1().IngressClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list ingress classes: %w", err)
	}
	if !slices.ContainsFunc(classes.Items, func(c networkingv1.IngressClass) bool { return c.Spec.Controller == ingressproxy.ControllerName }) {
		class := &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{
				Name:        ingressproxy.ClassName,
				Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"},
			},
			Spec: networkingv1.IngressClassSpec{Controller: ingressproxy.ControllerName},
		}
		_, err := d.Client.NetworkingV1().IngressClasses().Create(ctx, class, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create ingress class: %w", err)
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationIngressClassCreated: ingressproxy.ClassName}}})
	if err != nil {
		return err
	}
	if _, err := d.Client.CoreV1().Namespaces().Patch(ctx, metav1.NamespaceSystem, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("record ingress class creation: %w", err)
	}
	return nil
}

// Status publishes where shoal's Ingresses answer: the Ready nodes
// whose Ingress proxy listens (controller.IngressLabel) serve them on their own
// addresses, so the status.loadBalancer.ingress of each Ingress of shoal's
// class lists those addresses, as for LoadBalancer Services. Other
// classes' Ingresses are left to their controllers, except that an Ingress
// moved to another class loses the status shoal gave it.
type Status struct {
	controller.Deps
	// Resync is how often a full pass runs (0: 2s); a change of an
	// Ingress or IngressClass also starts one.
	Resync time.Duration

	// wrote is the status shoal gave (or found on) each of its Ingresses
	// in this leader term, by UID; cleared holds the Ingresses whose status
	// it cleared after they left its class, so it clears each once.
	wrote   map[types.UID][]networkingv1.IngressLoadBalancerIngress
	cleared map[types.UID]bool
}

// Run reconciles until ctx is cancelled.
func (c *Status) Run(ctx context.Context) error {
	resync := c.Resync
	if resync == 0 {
		resync = 2 * time.Second
	}
	trig := controller.NewTrigger()
	defer trig.PokeOn(
		controller.Changes(follow.For[networkingv1.Ingress](c.Cache, resIngresses)),
		controller.Changes(follow.For[networkingv1.IngressClass](c.Cache, resIngressClasses)),
	)()
	return controller.Loop(ctx, controller.LoopConfig{
		Name:      "ingress status",
		Logger:    c.Logger,
		Wake:      trig.C(),
		Resync:    resync,
		Reconcile: c.Reconcile,
	})
}

// servesIngress: the node's Ingress proxy listens (controller.IngressLabel). Nodes
// that run no pods (--run-pods=false), have both Ingress ports disabled or
// could bind neither never get the label.
func servesIngress(n *corev1.Node) bool {
	return n.Labels[controller.IngressLabel] == controller.IngressServing
}

// Reconcile makes one pass. It is not safe for concurrent use.
func (c *Status) Reconcile(ctx context.Context) error {
	if c.wrote == nil {
		c.wrote, c.cleared = map[types.UID][]networkingv1.IngressLoadBalancerIngress{}, map[types.UID]bool{}
	}
	ings := follow.For[networkingv1.Ingress](c.Cache, resIngresses)
	cls := follow.For[networkingv1.IngressClass](c.Cache, resIngressClasses)
	if !follow.WaitReady(ctx, ings, cls) {
		return ctx.Err()
	}
	ips, err := readyNodeIPs(ctx, c.Deps, servesIngress)
	if err != nil {
		return err
	}
	var want []networkingv1.IngressLoadBalancerIngress
	for _, ip := range ips {
		want = append(want, networkingv1.IngressLoadBalancerIngress{IP: ip})
	}
	var classes []networkingv1.IngressClass
	for _, cl := range cls.List() {
		classes = append(classes, *cl) // shallow: ingressproxy.Serves only reads
	}
	var errs []error
	seen := map[types.UID]bool{}
	for _, cached := range ings.List() {
		if cached.DeletionTimestamp != nil {
			continue
		}
		seen[cached.UID] = true
		next, ok := c.desired(classes, cached, want)
		if !ok {
			continue
		}
		ing := cached.DeepCopy()
		ing.Status.LoadBalancer.Ingress = next
		_, err := c.Client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, ing, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("ingress %s/%s: %w", ing.Namespace, ing.Name, err))
		}
	}
	for uid := range c.wrote {
		if !seen[uid] {
			delete(c.wrote, uid)
		}
	}
	for uid := range c.cleared {
		if !seen[uid] {
			delete(c.cleared, uid)
		}
	}
	return errors.Join(errs...)
}

// desired returns the status ing should get and whether that is a change:
// want for shoal's Ingresses; none for one that left shoal's class while
// its status is still what shoal wrote (in this term, or the node list it
// would write now), once, so that it never fights the new class's
// controller.
func (c *Status) desired(classes []networkingv1.IngressClass, ing *networkingv1.Ingress, want []networkingv1.IngressLoadBalancerIngress) ([]networkingv1.IngressLoadBalancerIngress, bool) {
	cur := ing.Status.LoadBalancer.Ingress
	if ingressproxy.Serves(classes, ing) {
		c.wrote[ing.UID] = want
		delete(c.cleared, ing.UID)
		return want, !equality.Semantic.DeepEqual(cur, want)
	}
	if len(cur) == 0 || c.cleared[ing.UID] {
		return nil, false
	}
	prev, known := c.wrote[ing.UID]
	if !(known && equality.Semantic.DeepEqual(cur, prev)) && !equality.Semantic.DeepEqual(cur, want) {
		return nil, false // another controller's status
	}
	delete(c.wrote, ing.UID)
	c.cleared[ing.UID] = true
	return nil, true
}
