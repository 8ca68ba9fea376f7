package apiserver

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// BenchmarkCreateConfigMap is one client-go create of a ConfigMap with
// 1 KiB of data through the API server over a local store, client and
// server in this process: the API's own cost per write, without raft, by
// the answer's encoding (client-go's typed clients prefer protobuf).
func BenchmarkCreateConfigMap(b *testing.B) {
	for _, accept := range []string{"application/json", "application/vnd.kubernetes.protobuf,application/json"} {
		b.Run("accept="+strings.SplitN(strings.TrimPrefix(accept, "application/"), ",", 2)[0], func(b *testing.B) {
			e := newTestEnv(b)
			cfg := &rest.Config{Host: e.hs.URL, BearerToken: testToken, QPS: -1,
				ContentConfig: rest.ContentConfig{AcceptContentTypes: accept}}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				b.Fatal(err)
			}
			payload := strings.Repeat("x", 1024)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c-%07d", i)}, Data: map[string]string{"v": payload}}
				if _, err := cs.CoreV1().ConfigMaps("default").Create(e.ctx, cm, metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
