package apitest

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GetNode gets the node name.
func (e *Env) GetNode(name string) *corev1.Node {
	e.TB.Helper()
	n, err := e.CS.CoreV1().Nodes().Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.TB.Fatalf("get node %s: %v", name, err)
	}
	return n
}

// ReadyNode creates a Node with an InternalIP and the given readiness,
// and labels (the Ingress label, say).
func (e *Env) ReadyNode(name, ip string, ready bool, labels ...string) {
	e.TB.Helper()
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	n, err := e.CS.CoreV1().Nodes().Create(e.Ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, metav1.CreateOptions{})
	if err != nil {
		e.TB.Fatal(err)
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}
	if _, err := e.CS.CoreV1().Nodes().UpdateStatus(e.Ctx, n, metav1.UpdateOptions{}); err != nil {
		e.TB.Fatal(err)
	}
}
