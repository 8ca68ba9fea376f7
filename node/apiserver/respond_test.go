package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// A client that prefers protobuf gets the object in protobuf, as from
// kube-apiserver, and one that prefers JSON gets JSON; both hold the same
// object.
func TestObjectAnswersFollowAccept(t *testing.T) {
	e := newTestEnv(t)
	// client-go's typed clients ask for protobuf first.
	cm, err := e.cs.CoreV1().ConfigMaps("default").Create(e.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}},
		Data:       map[string]string{"k": "v<&>"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["k"] != "v<&>" || cm.Labels["a"] != "b" || cm.UID == "" || cm.ResourceVersion == "" {
		t.Fatalf("created through protobuf: %+v", cm)
	}
	path := "/api/v1/namespaces/default/configmaps/p"
	for _, c := range []struct {
		accept, wantType string
	}{
		{"application/vnd.kubernetes.protobuf,application/json", protobufMediaType},
		{"application/vnd.kubernetes.protobuf", protobufMediaType},
		{"application/json,application/vnd.kubernetes.protobuf", "application/json"},
		{"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json", "application/json"},
		{"", "application/json"},
	} {
		rep := e.do(http.MethodGet, path, "", nil, "Accept", c.accept)
		if rep.code != http.StatusOK || rep.header.Get("Content-Type") != c.wantType {
			t.Errorf("GET with Accept %q: %d %s; want 200 %s", c.accept, rep.code, rep.header.Get("Content-Type"), c.wantType)
			continue
		}
		var got corev1.ConfigMap
		if c.wantType == protobufMediaType {
			if !bytes.HasPrefix(rep.body, []byte("k8s\x00")) {
				t.Errorf("Accept %q: body does not start with protobuf's magic: %q", c.accept, rep.body[:min(8, len(rep.body))])
				continue
			}
			if _, _, err := protobufDecoder(t).Decode(rep.body, nil, &got); err != nil {
				t.Errorf("Accept %q: decode protobuf: %v", c.accept, err)
				continue
			}
		} else if err := json.Unmarshal(rep.body, &got); err != nil {
			t.Errorf("Accept %q: decode JSON: %v", c.accept, err)
			continue
		}
		if got.Kind != "ConfigMap" {
			t.Errorf("Accept %q: kind %q, want ConfigMap", c.accept, got.Kind)
		}
		// The create's protobuf answer, built from the request's object
		// and the stored metadata, is the stored object.
		got.TypeMeta = metav1.TypeMeta{}
		created := cm.DeepCopy()
		created.TypeMeta = metav1.TypeMeta{}
		if !reflect.DeepEqual(&got, created) {
			t.Errorf("Accept %q: got\n%+v\nwant what the create answered\n%+v", c.accept, got, created)
		}
	}
}

func protobufDecoder(t *testing.T) runtime.Decoder {
	info, ok := runtime.SerializerInfoForMediaType(laxCodecs.SupportedMediaTypes(), protobufMediaType)
	if !ok {
		t.Fatal("no protobuf serializer")
	}
	return info.Serializer
}
