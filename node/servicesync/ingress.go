package servicesync

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/ingress"
)

// Store resources the Ingress data plane follows.
const (
	resIngresses      = "ingresses.networking.k8s.io"
	resIngressClasses = "ingressclasses.networking.k8s.io"
)

// Ingress keeps a node's Ingress proxy in step with the store: on any
// change of IngressClasses, Ingresses, Services, Endpoints or Secrets it
// rebuilds the routing table (within about Debounce) and swaps it in, and
// it rebuilds every Resync so a missed event heals.
type Ingress struct {
	Store    *consensus.Store
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

// Run syncs until ctx is cancelled. Its watch goroutines end with it.
func (s *Ingress) Run(ctx context.Context) error {
	resync, debounce := s.Resync, s.Debounce
	if resync == 0 {
		resync = 10 * time.Second
	}
	if debounce == 0 {
		debounce = 100 * time.Millisecond
	}
	changed := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, r := range []string{resIngressClasses, resIngresses, "services", "endpoints", "secrets"} {
		// Watch before the first Sync, so that no change between its List
		// and the watch's start is missed.
		w, err := s.Store.Watch(r, "", 0)
		if err != nil {
			s.Logger.Warn("ingress: watch", "resource", r, "error", err)
			w = nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.follow(ctx, r, w, changed)
		}()
	}
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		s.Sync()
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

// follow signals changed on every event of w (nil: none yet), watching
// resource anew when the store closes the watch (a slow reader or a
// snapshot restore) and signalling then too, as events may have been lost.
func (s *Ingress) follow(ctx context.Context, resource string, w *consensus.Watcher, changed chan<- struct{}) {
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		if w == nil {
			var err error
			if w, err = s.Store.Watch(resource, "", 0); err != nil {
				s.Logger.Warn("ingress: watch", "resource", resource, "error", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
					continue
				}
			}
			signal()
		}
		for open := true; open; {
			select {
			case <-ctx.Done():
				w.Stop()
				return
			case _, open = <-w.Events():
				signal()
			}
		}
		w = nil
	}
}

// Sync rebuilds the routing table from the store once. Ingresses that
// cannot be served whole are logged once per change of their problems.
func (s *Ingress) Sync() {
	var classes []networkingv1.IngressClass
	objs, _, _ := s.Store.List(resIngressClasses, "", "", 0)
	for _, o := range objs {
		var c networkingv1.IngressClass
		if json.Unmarshal(o.Raw, &c) == nil {
			classes = append(classes, c)
		}
	}
	var ings []networkingv1.Ingress
	objs, _, _ = s.Store.List(resIngresses, "", "", 0)
	for _, o := range objs {
		var ing networkingv1.Ingress
		if err := json.Unmarshal(o.Raw, &ing); err != nil {
			s.Logger.Warn("ingress: undecodable object", "namespace", o.Namespace, "name", o.Name, "error", err)
			continue
		}
		ings = append(ings, ing)
	}
	b := s.Builder
	if b == nil {
		b = &s.own
	}
	t, errs := b.Build(classes, ings, storeLookup{s.Store})
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

// storeLookup reads the objects Ingresses refer to from the replica.
type storeLookup struct{ st *consensus.Store }

var _ ingress.Lookup = storeLookup{}

func (l storeLookup) Service(ns, name string) *corev1.Service {
	return getAs[corev1.Service](l.st, "services", ns, name)
}

func (l storeLookup) Endpoints(ns, name string) *corev1.Endpoints {
	return getAs[corev1.Endpoints](l.st, "endpoints", ns, name)
}

func (l storeLookup) Secret(ns, name string) *corev1.Secret {
	return getAs[corev1.Secret](l.st, "secrets", ns, name)
}

// getAs decodes one stored object, nil when it is missing or undecodable.
func getAs[T any](st *consensus.Store, resource, ns, name string) *T {
	o, err := st.Get(resource, ns, name)
	if err != nil {
		return nil
	}
	v := new(T)
	if err := json.Unmarshal(o.Raw, v); err != nil {
		return nil
	}
	return v
}
