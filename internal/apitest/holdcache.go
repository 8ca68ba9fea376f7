package apitest

import (
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/node/follow"
)

// HoldCache makes the shared follower f stop taking changes once it has
// added the object named name: its handlers block there until release is
// called (at the latest when the test ends), so changes made meanwhile
// wait in its watch. held is closed once f is stopped. Tests use it to put
// one cache behind another, as a busy node can.
func HoldCache[T any, P interface {
	*T
	metav1.Object
}](tb testing.TB, f *follow.Follower[T], name string) (held <-chan struct{}, release func()) {
	gate, stopped := make(chan struct{}), make(chan struct{})
	var holdOnce, releaseOnce sync.Once
	release = func() { releaseOnce.Do(func() { close(gate) }) }
	tb.Cleanup(release)
	f.AddHandler(follow.Handler[T]{Add: func(obj *T) {
		if P(obj).GetName() != name {
			return
		}
		holdOnce.Do(func() {
			close(stopped)
			<-gate
		})
	}})
	return stopped, release
}
