package consensus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

const testTime = "2024-05-01T10:00:00Z"

// podJSON builds a pod-like object.
func podJSON(t testing.TB, labels map[string]string, finalizers []string, spec, status any) json.RawMessage {
	t.Helper()
	meta := map[string]any{"name": "ignored", "namespace": "ignored"}
	if labels != nil {
		meta["labels"] = labels
	}
	if finalizers != nil {
		meta["finalizers"] = finalizers
	}
	o := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta}
	if spec != nil {
		o["spec"] = spec
	}
	if status != nil {
		o["status"] = status
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type metaView struct {
	Metadata struct {
		Name                       string            `json:"name"`
		Namespace                  string            `json:"namespace"`
		UID                        string            `json:"uid"`
		ResourceVersion            string            `json:"resourceVersion"`
		Generation                 int64             `json:"generation"`
		CreationTimestamp          *string           `json:"creationTimestamp"`
		DeletionTimestamp          *string           `json:"deletionTimestamp"`
		DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds"`
		Labels                     map[string]string `json:"labels"`
		Finalizers                 []string          `json:"finalizers"`
	} `json:"metadata"`
	Spec   json.RawMessage `json:"spec"`
	Status json.RawMessage `json:"status"`
}

func view(t testing.TB, o *Object) metaView {
	t.Helper()
	var v metaView
	if err := json.Unmarshal(o.Raw, &v); err != nil {
		t.Fatalf("decode %s: %v", o.Raw, err)
	}
	return v
}

// applier applies commands at increasing indexes.
type applier struct {
	t   testing.TB
	s   *Store
	idx uint64
}

func newApplier(t testing.TB, opts ...StoreOption) *applier {
	return &applier{t: t, s: NewStore(opts...)}
}

func (a *applier) apply(cmd *Command) (*Object, error) {
	a.idx++
	return a.s.Apply(a.idx, cmd)
}

func (a *applier) must(cmd *Command) *Object {
	a.t.Helper()
	o, err := a.apply(cmd)
	if err != nil {
		a.t.Fatalf("apply %+v: %v", cmd, err)
	}
	return o
}

func (a *applier) create(ns, name string, obj json.RawMessage) *Object {
	a.t.Helper()
	return a.must(&Command{Op: OpCreate, Resource: "pods", Namespace: ns, Name: name, Object: obj, UID: "uid-" + name, Time: testTime})
}

func TestStoreApplyErrors(t *testing.T) {
	a := newApplier(t)
	base := podJSON(t, nil, nil, map[string]any{"x": 1}, nil)
	created := a.create("default", "p", base)

	cases := []struct {
		name string
		cmd  *Command
		want error
	}{
		{"create duplicate", &Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "p", Object: base}, ErrAlreadyExists},
		{"update missing", &Command{Op: OpUpdate, Resource: "pods", Namespace: "default", Name: "q", Object: base}, ErrNotFound},
		{"update other namespace", &Command{Op: OpUpdate, Resource: "pods", Namespace: "other", Name: "p", Object: base}, ErrNotFound},
		{"update stale rv", &Command{Op: OpUpdate, Resource: "pods", Namespace: "default", Name: "p", Object: base, ResourceVersion: created.ResourceVersion + 100}, ErrConflict},
		{"update wrong uid", &Command{Op: OpUpdate, Resource: "pods", Namespace: "default", Name: "p", Object: base, UID: "nope"}, ErrConflict},
		{"delete missing", &Command{Op: OpDelete, Resource: "pods", Namespace: "default", Name: "q"}, ErrNotFound},
		{"delete stale rv", &Command{Op: OpDelete, Resource: "pods", Namespace: "default", Name: "p", ResourceVersion: 99}, ErrConflict},
		{"delete wrong uid", &Command{Op: OpDelete, Resource: "pods", Namespace: "default", Name: "p", UID: "nope"}, ErrConflict},
		{"nil command", nil, ErrInvalid},
		{"no name", &Command{Op: OpCreate, Resource: "pods", Object: base}, ErrInvalid},
		{"no resource", &Command{Op: OpCreate, Name: "x", Object: base}, ErrInvalid},
		{"bad op", &Command{Op: 9, Resource: "pods", Name: "x"}, ErrInvalid},
		{"no object", &Command{Op: OpCreate, Resource: "pods", Name: "x"}, ErrInvalid},
		{"bad json", &Command{Op: OpCreate, Resource: "pods", Name: "x", Object: json.RawMessage(`[1,2]`)}, ErrInvalid},
		{"null object", &Command{Op: OpCreate, Resource: "pods", Name: "x", Object: json.RawMessage(`null`)}, ErrInvalid},
		{"bad metadata", &Command{Op: OpCreate, Resource: "pods", Name: "x", Object: json.RawMessage(`{"metadata":{"labels":5}}`)}, ErrInvalid},
		{"bad time", &Command{Op: OpCreate, Resource: "pods", Name: "x", Object: base, Time: "yesterday"}, ErrInvalid},
		{"bad subresource", &Command{Op: OpUpdate, Resource: "pods", Namespace: "default", Name: "p", Object: base, Subresource: "scale"}, ErrInvalid},
		{"graceful delete without time", &Command{Op: OpDelete, Resource: "pods", Namespace: "default", Name: "p", Graceful: true}, ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := a.s.Index()
			o, err := a.apply(tc.cmd)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if o != nil {
				t.Fatalf("object returned with error: %+v", o)
			}
			if a.s.Index() != before+1 {
				t.Fatalf("index %d, want %d: a failed command still counts", a.s.Index(), before+1)
			}
			got, err := a.s.Get("pods", "default", "p")
			if err != nil || got != created {
				t.Fatalf("stored object changed: %v %+v", err, got)
			}
		})
	}
}

func TestStoreCreateMetadata(t *testing.T) {
	a := newApplier(t)
	a.idx = 41
	o := a.create("default", "web", podJSON(t, map[string]string{"app": "web"}, nil, map[string]any{"c": 1}, nil))
	if o.ResourceVersion != 42 || o.UID != "uid-web" || o.Labels["app"] != "web" || o.Key() != "pods/default/web" {
		t.Fatalf("object = %+v", o)
	}
	v := view(t, o)
	m := v.Metadata
	if m.Name != "web" || m.Namespace != "default" || m.UID != "uid-web" || m.ResourceVersion != "42" || m.Generation != 1 {
		t.Fatalf("metadata = %+v", m)
	}
	if m.CreationTimestamp == nil || *m.CreationTimestamp != testTime {
		t.Fatalf("creationTimestamp = %v", m.CreationTimestamp)
	}
	if a.s.Index() != 42 {
		t.Fatalf("index = %d", a.s.Index())
	}
	got, err := a.s.Get("pods", "default", "web")
	if err != nil || got != o {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if _, err := a.s.Get("pods", "other", "web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get other ns: %v", err)
	}
}

func TestStoreUpdateGenerationAndStatus(t *testing.T) {
	type step struct {
		name       string
		cmd        func(obj json.RawMessage) *Command
		obj        json.RawMessage
		wantGen    int64
		wantSpec   string
		wantStatus string
		wantLabels map[string]string
	}
	a := newApplier(t)
	a.create("ns", "p", podJSON(t, map[string]string{"v": "1"}, nil, map[string]any{"image": "a"}, map[string]any{"phase": "Pending"}))
	upd := func(sub string, preserve bool) func(json.RawMessage) *Command {
		return func(obj json.RawMessage) *Command {
			return &Command{Op: OpUpdate, Resource: "pods", Namespace: "ns", Name: "p", Object: obj, Subresource: sub, PreserveStatus: preserve}
		}
	}
	steps := []step{
		{"labels only keeps generation", upd("", false),
			podJSON(t, map[string]string{"v": "2"}, nil, map[string]any{"image": "a"}, map[string]any{"phase": "Pending"}),
			1, `{"image":"a"}`, `{"phase":"Pending"}`, map[string]string{"v": "2"}},
		{"spec change bumps", upd("", false),
			podJSON(t, map[string]string{"v": "2"}, nil, map[string]any{"image": "b"}, map[string]any{"phase": "Pending"}),
			2, `{"image":"b"}`, `{"phase":"Pending"}`, map[string]string{"v": "2"}},
		{"status subresource takes only status", upd(SubresourceStatus, false),
			podJSON(t, map[string]string{"v": "3"}, nil, map[string]any{"image": "c"}, map[string]any{"phase": "Running"}),
			2, `{"image":"b"}`, `{"phase":"Running"}`, map[string]string{"v": "2"}},
		{"preserve status keeps stored status", upd("", true),
			podJSON(t, map[string]string{"v": "4"}, nil, map[string]any{"image": "d"}, map[string]any{"phase": "Failed"}),
			3, `{"image":"d"}`, `{"phase":"Running"}`, map[string]string{"v": "4"}},
		{"main update replaces status", upd("", false),
			podJSON(t, nil, nil, map[string]any{"image": "d"}, nil),
			3, `{"image":"d"}`, ``, nil},
		{"spec removed bumps", upd("", false),
			podJSON(t, nil, nil, nil, nil),
			4, ``, ``, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before, _ := a.s.Get("pods", "ns", "p")
			o := a.must(st.cmd(st.obj))
			v := view(t, o)
			if v.Metadata.Generation != st.wantGen {
				t.Errorf("generation = %d, want %d", v.Metadata.Generation, st.wantGen)
			}
			if string(v.Spec) != st.wantSpec || string(v.Status) != st.wantStatus {
				t.Errorf("spec %s status %s, want %s %s", v.Spec, v.Status, st.wantSpec, st.wantStatus)
			}
			if fmt.Sprint(o.Labels) != fmt.Sprint(st.wantLabels) {
				t.Errorf("labels = %v, want %v", o.Labels, st.wantLabels)
			}
			if v.Metadata.UID != "uid-p" || v.Metadata.CreationTimestamp == nil || *v.Metadata.CreationTimestamp != testTime {
				t.Errorf("uid/creation not kept: %+v", v.Metadata)
			}
			if o.ResourceVersion != a.idx || v.Metadata.ResourceVersion != fmt.Sprint(a.idx) || o.ResourceVersion <= before.ResourceVersion {
				t.Errorf("resourceVersion %d / %s, index %d", o.ResourceVersion, v.Metadata.ResourceVersion, a.idx)
			}
		})
	}
	// Precondition on the current rv succeeds.
	cur, _ := a.s.Get("pods", "ns", "p")
	a.must(&Command{Op: OpUpdate, Resource: "pods", Namespace: "ns", Name: "p", Object: cur.Raw, ResourceVersion: cur.ResourceVersion, UID: "uid-p"})
}

func TestStoreFinalizersAndGracefulDelete(t *testing.T) {
	grace := int64(30)
	cases := []struct {
		name       string
		finalizers []string
		graceful   bool
	}{
		{"finalizers", []string{"example.com/f"}, false},
		{"graceful", nil, true},
		{"both", []string{"example.com/f"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newApplier(t)
			a.create("ns", "p", podJSON(t, nil, tc.finalizers, map[string]any{"a": 1}, nil))
			w, err := a.s.Watch("pods", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()

			del := &Command{Op: OpDelete, Resource: "pods", Namespace: "ns", Name: "p", Time: "2024-05-01T11:00:00Z", Graceful: tc.graceful, GracePeriodSeconds: &grace}
			marked := a.must(del)
			m := view(t, marked).Metadata
			if m.DeletionTimestamp == nil || *m.DeletionTimestamp != "2024-05-01T11:00:00Z" || m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds != 30 {
				t.Fatalf("not marked: %+v", m)
			}
			if got, _ := a.s.Get("pods", "ns", "p"); got != marked {
				t.Fatal("marked object not stored")
			}
			ev := recv(t, w)
			if ev.Type != Modified || ev.Object != marked {
				t.Fatalf("event = %+v", ev)
			}

			// A second graceful delete is a no-op returning the object, with no event.
			again := a.must(&Command{Op: OpDelete, Resource: "pods", Namespace: "ns", Name: "p", Time: "2024-05-01T12:00:00Z", Graceful: true})
			if again != marked {
				t.Fatalf("second delete returned %+v", again)
			}

			if len(tc.finalizers) == 0 {
				// Without finalizers an update keeps the marked object (a
				// kubelet's status write); a plain delete then removes it.
				kept := a.must(&Command{Op: OpUpdate, Resource: "pods", Namespace: "ns", Name: "p", Object: podJSON(t, nil, nil, map[string]any{"a": 1}, nil), Subresource: SubresourceStatus})
				if ev := recv(t, w); ev.Type != Modified || ev.Object != kept {
					t.Fatalf("status update of a marked pod: event = %+v, want MODIFIED", ev)
				}
				a.must(&Command{Op: OpDelete, Resource: "pods", Namespace: "ns", Name: "p", Time: "2024-05-01T12:00:00Z"})
			} else {
				// Updates keep the deletion marks; dropping the finalizers removes it.
				final := a.must(&Command{Op: OpUpdate, Resource: "pods", Namespace: "ns", Name: "p", Object: podJSON(t, nil, nil, map[string]any{"a": 1}, nil)})
				fm := view(t, final).Metadata
				if fm.DeletionTimestamp == nil || *fm.DeletionTimestamp != "2024-05-01T11:00:00Z" || final.ResourceVersion != a.idx {
					t.Fatalf("final state = %+v", fm)
				}
			}
			if _, err := a.s.Get("pods", "ns", "p"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("still stored: %v", err)
			}
			ev = recv(t, w)
			if ev.Type != Deleted || ev.Object.ResourceVersion != a.idx {
				t.Fatalf("event = %+v, want DELETED at %d", ev, a.idx)
			}
			expectNoEvent(t, w)
		})
	}
}

func TestStoreDeleteEvent(t *testing.T) {
	a := newApplier(t)
	created := a.create("ns", "p", podJSON(t, nil, nil, nil, nil))
	w, err := a.s.Watch("pods", "ns", created.ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	deleted := a.must(&Command{Op: OpDelete, Resource: "pods", Namespace: "ns", Name: "p", ResourceVersion: created.ResourceVersion, UID: "uid-p"})
	if deleted.ResourceVersion != a.idx || view(t, deleted).Metadata.ResourceVersion != fmt.Sprint(a.idx) {
		t.Fatalf("deleted object = %+v", deleted)
	}
	ev := recv(t, w)
	if ev.Type != Deleted || ev.Object != deleted || ev.Prev != created {
		t.Fatalf("event = %+v", ev)
	}
	if _, err := a.s.Get("pods", "ns", "p"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

func TestStoreList(t *testing.T) {
	a := newApplier(t)
	// Created out of order; "a-b" sorts after "a" (namespace then name).
	for _, k := range [][2]string{{"b", "2"}, {"a-b", "1"}, {"a", "2"}, {"b", "1"}, {"a", "1"}, {"a", "10"}} {
		a.create(k[0], k[1], podJSON(t, nil, nil, nil, nil))
	}
	a.must(&Command{Op: OpCreate, Resource: "nodes", Name: "n1", Object: json.RawMessage(`{}`)})
	a.must(&Command{Op: OpCreate, Resource: "podsx", Namespace: "a", Name: "1", Object: json.RawMessage(`{}`)})

	keys := func(items []*Object) []string {
		var out []string
		for _, o := range items {
			out = append(out, o.Namespace+"/"+o.Name)
		}
		return out
	}
	cases := []struct {
		name, ns, after string
		limit           int
		want            []string
		more            bool
	}{
		{"all", "", "", 0, []string{"a/1", "a/10", "a/2", "a-b/1", "b/1", "b/2"}, false},
		{"namespace", "a", "", 0, []string{"a/1", "a/10", "a/2"}, false},
		{"limit", "", "", 2, []string{"a/1", "a/10"}, true},
		{"continue", "", "pods/a/10", 2, []string{"a/2", "a-b/1"}, true},
		{"continue to end", "", "pods/a-b/1", 2, []string{"b/1", "b/2"}, false},
		{"continue past end", "", "pods/b/2", 2, nil, false},
		{"namespace continue", "a", "pods/a/1", 0, []string{"a/10", "a/2"}, false},
		{"exact limit", "a", "", 3, []string{"a/1", "a/10", "a/2"}, false},
		{"after missing key", "", "pods/a/15", 0, []string{"a/2", "a-b/1", "b/1", "b/2"}, false},
		{"empty namespace", "zzz", "", 0, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, rv, more := a.s.List("pods", tc.ns, tc.after, tc.limit)
			if fmt.Sprint(keys(items)) != fmt.Sprint(tc.want) || more != tc.more {
				t.Fatalf("List = %v more=%v, want %v more=%v", keys(items), more, tc.want, tc.more)
			}
			if rv != a.s.Index() {
				t.Fatalf("rv = %d, want %d", rv, a.s.Index())
			}
		})
	}
	nodes, _, _ := a.s.List("nodes", "", "", 0)
	if len(nodes) != 1 || nodes[0].Key() != "nodes//n1" {
		t.Fatalf("nodes = %v", nodes)
	}
}

// TestStoreSnapshotList: the lists of one snapshot see one moment of the
// store, whatever is written between them.
func TestStoreSnapshotList(t *testing.T) {
	a := newApplier(t)
	a.create("a", "1", podJSON(t, nil, nil, nil, nil))
	snap := a.s.Snapshot()
	a.create("a", "2", podJSON(t, nil, nil, nil, nil))
	a.must(&Command{Op: OpCreate, Resource: "nodes", Name: "n1", Object: json.RawMessage(`{}`)})
	if got := snap.List("pods", ""); len(got) != 1 || got[0].Key() != "pods/a/1" {
		t.Errorf("snapshot pods = %v, want only pods/a/1 (the later create is not in it)", got)
	}
	if got := snap.List("nodes", ""); len(got) != 0 {
		t.Errorf("snapshot nodes = %v, want none", got)
	}
	if got := snap.List("pods", "b"); len(got) != 0 {
		t.Errorf("snapshot pods in namespace b = %v, want none", got)
	}
	if got, _, _ := a.s.List("pods", "a", "", 0); len(got) != 2 {
		t.Errorf("store pods = %v, want 2", got)
	}
}

func TestStoreWaitIndexAndSetIndex(t *testing.T) {
	s := NewStore()
	done := make(chan error, 1)
	go func() { done <- s.WaitIndex(context.Background(), 3) }()
	s.SetIndex(2)
	select {
	case err := <-done:
		t.Fatalf("returned early: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	s.SetIndex(3)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.SetIndex(1) // never goes back
	if s.Index() != 3 {
		t.Fatalf("index = %d", s.Index())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := s.WaitIndex(ctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestLocalProposer(t *testing.T) {
	s := NewStore()
	var p Proposer = NewLocalProposer(s)
	ctx := context.Background()
	o, err := p.Propose(ctx, &Command{Op: OpCreate, Resource: "pods", Namespace: "ns", Name: "a", Object: json.RawMessage(`{}`)})
	if err != nil || o.ResourceVersion != 1 {
		t.Fatalf("Propose = %+v, %v", o, err)
	}
	if _, err := p.Propose(ctx, &Command{Op: OpCreate, Resource: "pods", Namespace: "ns", Name: "a", Object: json.RawMessage(`{}`)}); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("err = %v", err)
	}
	if err := p.ConsistentRead(ctx); err != nil || s.Index() != 2 {
		t.Fatalf("ConsistentRead = %v, index %d", err, s.Index())
	}
}

// benchPod is a pod of realistic size (~1.5 KiB).
func benchPod(b *testing.B) json.RawMessage {
	spec := map[string]any{
		"nodeName": "node-1", "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
		"containers": []any{map[string]any{
			"name": "web", "image": "registry.example.com/team/web:1.2.3", "imagePullPolicy": "IfNotPresent",
			"ports":     []any{map[string]any{"containerPort": 8080, "protocol": "TCP"}},
			"env":       []any{map[string]any{"name": "A", "value": "1"}, map[string]any{"name": "B", "value": "2"}},
			"resources": map[string]any{"limits": map[string]any{"cpu": "500m", "memory": "256Mi"}},
			"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": 8080},
				"periodSeconds": 10},
		}},
	}
	status := map[string]any{"phase": "Pending", "conditions": []any{map[string]any{"type": "PodScheduled", "status": "True"}}}
	return podJSON(b, map[string]string{"app": "web", "tier": "frontend", "pod-template-hash": "5d8f7c9b6"},
		nil, spec, status)
}

func BenchmarkStoreApply(b *testing.B) {
	obj := benchPod(b)
	s := NewStore()
	b.ReportAllocs()
	b.SetBytes(int64(len(obj)))
	i := 0
	for b.Loop() {
		i++
		cmd := &Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: fmt.Sprintf("web-%d", i), Object: obj, UID: "u", Time: testTime}
		if _, err := s.Apply(uint64(i), cmd); err != nil {
			b.Fatal(err)
		}
	}
}
