package servicesync

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/shoal-project/shoal/node/follow"
	"github.com/shoal-project/shoal/node/ingress"
)

// Store resources the Ingress data plane follows.
const (
	resIngresses      = "ingresses.networking.k8s.io"
	resIngressClasses = "ingressclasses.networking.k8s.io"
)

// Ingress keeps a node's Ingress proxy in step with the node's shared
// cache: on any change of IngressClasses, Ingresses, Services, Endpoints
// or Secrets it rebuilds the routing table (within about Debounce) and
// swaps it in, and it rebuilds every Resync as a safety net.
type Ingress struct {
	Cache    *follow.Shared
	Server   *ingress.Server
	Logger   *slog.Logger
	Resync   time.Duration // 0: 10s
	Debounce time.Duration // 0: 100ms
	// Builder makes the tables and keeps the parsed certificates between
	// rebuilds; nil uses one of its own.
	Builder *ingress.Builder

	own      ingress.Builder
	lastErrs string // the problems logged last, so each is logged once
}

// ingressCaches are the followers the Ingress sync reads.
type ingressCaches struct {
	classes   *follow.Follower[networkingv1.IngressClass]
	ingresses *follow.Follower[networkingv1.Ingress]
	services  *follow.Follower[corev1.Service]
	endpoints *follow.Follower[corev1.Endpoints]
	secrets   *follow.Follower[corev1.Secret]
}

// Run syncs until ctx is cancelled, first once the caches hold their
// first list (an empty cache would drop every route).
func (s *Ingress) Run(ctx context.Context) error {
	resync, debounce := s.Resync, s.Debounce
	if resync == 0 {
		resync = 10 * time.Second
	}
	if debounce == 0 {
		debounce = 100 * time.Millisecond
	}
	c := ingressCaches{
		classes:   follow.For[networkingv1.IngressClass](s.Cache, resIngressClasses),
		ingresses: follow.For[networkingv1.Ingress](s.Cache, resIngresses),
		services:  follow.For[corev1.Service](s.Cache, "services"),
		endpoints: follow.For[corev1.Endpoints](s.Cache, "endpoints"),
		secrets:   follow.For[corev1.Secret](s.Cache, "secrets"),
	}
	changed := make(chan struct{}, 1)
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	defer c.classes.AddHandler(follow.OnAny[networkingv1.IngressClass](signal))()
	defer c.ingresses.AddHandler(follow.OnAny[networkingv1.Ingress](signal))()
	defer c.services.AddHandler(follow.OnAny[corev1.Service](signal))()
	defer c.endpoints.AddHandler(follow.OnAny[corev1.Endpoints](signal))()
	defer c.secrets.AddHandler(follow.OnAny[corev1.Secret](signal))()
	if !follow.WaitReady(ctx, c.classes, c.ingresses, c.services, c.endpoints, c.secrets) {
		return nil
	}
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		s.sync(c)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-changed:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(debounce):
			}
		}
	}
}

// sync rebuilds the routing table from the caches once. Ingresses that
// cannot be served whole are logged once per change of their problems.
func (s *Ingress) sync(c ingressCaches) {
	// Build takes values; these shallow copies share the cached objects'
	// insides, which Build only reads.
	var classes []networkingv1.IngressClass
	for _, ic := range c.classes.List() {
		classes = append(classes, *ic)
	}
	var ings []networkingv1.Ingress
	for _, ing := range c.ingresses.List() {
		ings = append(ings, *ing)
	}
	b := s.Builder
	if b == nil {
		b = &s.own
	}
	t, errs := b.Build(classes, ings, cacheLookup{c})
	s.Server.Update(t)
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	slices.Sort(msgs)
	if joined := strings.Join(msgs, "\n"); joined != s.lastErrs {
		s.lastErrs = joined
		for _, m := range msgs {
			s.Logger.Warn("ingress: serving without part of an Ingress", "problem", m)
		}
	}
	s.Logger.Debug("ingress table rebuilt", "ingresses", t.Ingresses)
}

// cacheLookup reads the objects Ingresses refer to from the caches. The
// objects are shared: the ingress package only reads them.
type cacheLookup struct{ c ingressCaches }

var _ ingress.Lookup = cacheLookup{}

func (l cacheLookup) Service(ns, name string) *corev1.Service {
	svc, _ := l.c.services.Get(ns, name)
	return svc
}

func (l cacheLookup) Endpoints(ns, name string) *corev1.Endpoints {
	eps, _ := l.c.endpoints.Get(ns, name)
	return eps
}

func (l cacheLookup) Secret(ns, name string) *corev1.Secret {
	sec, _ := l.c.secrets.Get(ns, name)
	return sec
}
