package e2e

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubectl/pkg/util/openapi"

	"github.com/shoal-project/shoal/internal/openapicheck"
)

// TestOpenAPIEveryDiscoveredKind asks a real agent, as a client does:
// every kind discovery lists (the stored kinds, events.k8s.io, the self
// reviews, metrics.k8s.io) has the same model in /openapi/v2 and
// /openapi/v3, and kubectl's parser of the protobuf v2 document (what
// kubectl and Helm validate with) finds it.
func TestOpenAPIEveryDiscoveredKind(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	c := startCluster(t, 1)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	_, lists, err := cs.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var kinds []schema.GroupVersionKind
	groups := map[string]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") {
				kinds = append(kinds, gv.WithKind(r.Kind))
				groups[gv.Group] = true
			}
		}
	}
	for _, g := range []string{"", "apps", "events.k8s.io", "metrics.k8s.io", "authorization.k8s.io"} {
		if !groups[g] {
			t.Errorf("discovery lacks the group %q", g)
		}
	}
	v2, v3, err := openapicheck.Fetch(func(path, accept string) ([]byte, error) {
		return cs.Discovery().RESTClient().Get().RequestURI(path).SetHeader("Accept", accept).Do(context.Background()).Raw()
	})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cs.Discovery().OpenAPISchema() // protobuf, as kubectl asks
	if err != nil {
		t.Fatalf("/openapi/v2 as protobuf: %v", err)
	}
	resources, err := openapi.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("kubectl's OpenAPI parser: %v", err)
	}
	for _, gvk := range kinds {
		for _, d := range openapicheck.Compare(gvk, v2, v3) {
			t.Error(d)
		}
		if resources.LookupResource(gvk) == nil {
			t.Errorf("kubectl's v2 parser finds no model for %s", gvk)
		}
	}
	t.Logf("%d kinds compared", len(kinds))
}
