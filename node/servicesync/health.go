package servicesync

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	"github.com/shoal-project/shoal/node/events"
	"github.com/shoal-project/shoal/node/follow"
)

// The Node condition the Service proxy keeps, and its reasons. True: the
// node's Service rules are what the store says; False: the last sync
// failed and is being retried (the message says why). kube-proxy has no
// condition; node-problem-detector's custom conditions are the model.
const (
	ConditionServiceProxyReady corev1.NodeConditionType = "ServiceProxyReady"

	ReasonProxySynced     = "ServiceProxySynced"
	ReasonProxySyncFailed = "ServiceProxySyncFailed"
)

// proxyHealth reports the proxy's transitions between working and failing:
// once per outage and once per recovery, never once per retry.
type proxyHealth struct {
	p        *Proxy
	nodes    *follow.Follower[corev1.Node]
	rec      record.EventRecorder
	stopRec  func()
	failing  bool
	reported bool // the condition says what failing says
}

func newProxyHealth(p *Proxy) *proxyHealth {
	h := &proxyHealth{p: p, nodes: follow.For[corev1.Node](p.Cache, "nodes"), stopRec: func() {}}
	if p.Client != nil {
		h.rec, h.stopRec = events.NewRecorder(p.Client, events.Source{Component: "kube-proxy", Host: p.NodeName})
	}
	return h
}

func (h *proxyHealth) stop() { h.stopRec() }

func (h *proxyHealth) failed(ctx context.Context, err error) {
	if h.failing && h.reported {
		return
	}
	if !h.failing {
		h.event(corev1.EventTypeWarning, ReasonProxySyncFailed, "Service proxy rules could not be programmed: %v", err)
	}
	h.failing = true
	h.reported = h.setCondition(ctx, corev1.ConditionFalse, ReasonProxySyncFailed, err.Error())
}

func (h *proxyHealth) synced(ctx context.Context) {
	if !h.failing && h.reported {
		return
	}
	if h.failing {
		h.event(corev1.EventTypeNormal, ReasonProxySynced, "Service proxy rules are programmed again")
	}
	h.failing = false
	h.reported = h.setCondition(ctx, corev1.ConditionTrue, ReasonProxySynced, "Service proxy rules are programmed")
}

func (h *proxyHealth) event(typ, reason, format string, args ...any) {
	if h.rec == nil {
		return
	}
	// Node events name the node by its name as UID, as the kubelet's do.
	ref := &corev1.ObjectReference{Kind: "Node", Name: h.p.NodeName, UID: types.UID(h.p.NodeName)}
	h.rec.Eventf(ref, typ, reason, format, args...)
}

// setCondition writes the condition when the Node does not already say
// it; it reports whether the Node says it now.
func (h *proxyHealth) setCondition(ctx context.Context, status corev1.ConditionStatus, reason, message string) bool {
	if h.p.Client == nil {
		return true
	}
	if n, ok := h.nodes.Get("", h.p.NodeName); ok {
		for _, c := range n.Status.Conditions {
			if c.Type == ConditionServiceProxyReady && c.Status == status && c.Reason == reason && c.Message == message {
				return true
			}
		}
	} else {
		return false // not registered yet: the next sync tries again
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	body, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{{
		Type: ConditionServiceProxyReady, Status: status, Reason: reason, Message: message,
		LastHeartbeatTime: now, LastTransitionTime: now,
	}}}})
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := h.p.Client.CoreV1().Nodes().Patch(ctx, h.p.NodeName, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status"); err != nil {
		h.p.Logger.Warn("service proxy: write node condition", "condition", fmt.Sprintf("%s=%s", ConditionServiceProxyReady, status), "error", err)
		return false
	}
	return true
}
