package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/apitest"
)

// env is apitest's environment (the real API server over a store, a
// client-go client, the node's shared cache) with the scheduler's Deps
// over it.
type env struct {
	*apitest.Env
	deps Deps
}

func newEnv(tb testing.TB, opts ...apitest.Option) *env {
	tb.Helper()
	e := apitest.New(tb, opts...)
	return &env{Env: e, deps: Deps{Cache: e.Cache, Client: e.CS, Logger: apitest.Logger(tb)}}
}

// start runs a scheduler until the test ends.
func (e *env) start(opts ...Option) *Scheduler {
	e.TB.Helper()
	s := New(e.deps, opts...)
	e.RunLoop("scheduler", s.Run, s.Ready())
	return s
}

// readyNode creates a Ready node with the given allocatable cpu and memory.
func (e *env) readyNode(name, cpu, mem string) {
	e.TB.Helper()
	n := testNode(name, cpu, mem, 110)
	if _, err := e.CS.CoreV1().Nodes().Create(e.Ctx, n, metav1.CreateOptions{}); err != nil {
		e.TB.Fatalf("create node %s: %v", name, err)
	}
}

// pod creates a pending pod in "default".
func (e *env) pod(name, cpu, mem string, opts ...func(*corev1.Pod)) *corev1.Pod {
	e.TB.Helper()
	p := testPod(name, cpu, mem, opts...)
	p.UID = ""
	got, err := e.CS.CoreV1().Pods("default").Create(e.Ctx, p, metav1.CreateOptions{})
	if err != nil {
		e.TB.Fatalf("create pod %s: %v", name, err)
	}
	return got
}

func podScheduled(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// bound returns an error until pod name is bound with PodScheduled=True.
func (e *env) bound(name string) error {
	p := e.GetPod(name)
	if p.Spec.NodeName == "" {
		return fmt.Errorf("pod %s not bound", name)
	}
	if c := podScheduled(p); c == nil || c.Status != corev1.ConditionTrue {
		return fmt.Errorf("pod %s bound to %s without PodScheduled=True: %+v", name, p.Spec.NodeName, c)
	}
	return nil
}
