package apiserver

import (
	"encoding/json"
	"net/http"
	"runtime"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver/registry"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// VersionInfo is the /version answer.
type VersionInfo struct {
	Major        string `json:"major"`
	Minor        string `json:"minor"`
	GitVersion   string `json:"gitVersion"`
	GitCommit    string `json:"gitCommit"`
	GitTreeState string `json:"gitTreeState"`
	BuildDate    string `json:"buildDate"`
	GoVersion    string `json:"goVersion"`
	Compiler     string `json:"compiler"`
	Platform     string `json:"platform"`
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	v := Version
	v.GoVersion = runtime.Version()
	v.Compiler = runtime.Compiler
	v.Platform = runtime.GOOS + "/" + runtime.GOARCH
	if v.GitTreeState == "" {
		v.GitTreeState = "clean"
	}
	if v.BuildDate == "" {
		v.BuildDate = "2026-11-26T00:00:00Z"
	}
	// kube-apiserver indents this one answer; `curl /version` shows it so.
	b, _ := json.MarshalIndent(v, "", "  ")
	wire.WriteRawJSON(w, http.StatusOK, append(b, '\n'))
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok"))
}

// serveReady is ok once the replica has a leader to talk to.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if err := s.prop.ConsistentRead(r.Context()); err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("[-]raft leader: " + err.Error() + "\nreadyz check failed\n"))
		return
	}
	s.serveHealth(w, r)
}

// groupVersions lists the API group versions shoal serves, core first.
func groupVersions() []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var out []schema.GroupVersion
	for _, k := range registry.All() {
		gv := k.GroupVersion()
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Group == "" && out[j].Group != "" })
	return out
}

func (s *Server) serveAPIVersions(w http.ResponseWriter, r *http.Request) {
	wire.WriteJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: s.cfg.ServerAddress},
		},
	})
}

func (s *Server) apiGroup(name string) (metav1.APIGroup, bool) {
	g := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: name}
	for _, gv := range s.allGroupVersions() {
		if gv.Group == name {
			gvd := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			g.Versions = append(g.Versions, gvd)
			if g.PreferredVersion.Version == "" {
				g.PreferredVersion = gvd
			}
		}
	}
	return g, len(g.Versions) > 0
}

func (s *Server) serveAPIGroups(w http.ResponseWriter, r *http.Request) {
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	seen := map[string]bool{}
	for _, gv := range s.allGroupVersions() {
		if gv.Group == "" || seen[gv.Group] {
			continue
		}
		seen[gv.Group] = true
		g, _ := s.apiGroup(gv.Group)
		g.TypeMeta = metav1.TypeMeta{}
		list.Groups = append(list.Groups, g)
	}
	wire.WriteJSON(w, http.StatusOK, list)
}

func (s *Server) serveAPIGroup(w http.ResponseWriter, r *http.Request, name string) {
	g, ok := s.apiGroup(name)
	if !ok {
		wire.WriteStatus(w, wire.NotFoundPath())
		return
	}
	wire.WriteJSON(w, http.StatusOK, &g)
}

// serveResourceList answers /api/v1 and /apis/GROUP/VERSION.
func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request, group, version string) {
	gv := schema.GroupVersion{Group: group, Version: version}
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, k := range registry.All() {
		if k.GroupVersion() != gv {
			continue
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: k.Resource, SingularName: k.Singular, Namespaced: k.Namespaced, Kind: k.Kind,
			Verbs: k.Verbs, ShortNames: k.ShortNames, Categories: k.Categories,
		})
		for _, sr := range k.Subresources {
			res := metav1.APIResource{Name: k.Resource + "/" + sr.Name, Namespaced: k.Namespaced, Kind: sr.Kind, Verbs: sr.Verbs, Group: sr.Group, Version: sr.Version}
			if res.Kind == "" {
				res.Kind = k.Kind
			}
			list.APIResources = append(list.APIResources, res)
		}
	}
	if svc := s.apiService(group, version); svc != nil {
		list.APIResources = append(list.APIResources, svc.Resources...)
	}
	if len(list.APIResources) == 0 {
		wire.WriteStatus(w, wire.NotFoundPath())
		return
	}
	wire.WriteJSON(w, http.StatusOK, list)
}
