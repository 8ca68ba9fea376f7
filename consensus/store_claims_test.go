package consensus

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func (a *applier) claims(ns, name string) []string {
	return a.s.ObjectClaims("pods", ns, name)
}

func wantClaims(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("claims = %q, want %q", got, want)
	}
}

func TestClaimsCreate(t *testing.T) {
	a := newApplier(t)
	obj := podJSON(t, nil, nil, nil, nil)
	a.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "a", Object: obj, UID: "uid-a",
		Claims: []string{"ip/1", "port/1"}})
	wantClaims(t, a.claims("default", "a"), "ip/1", "port/1")
	if owner, ok := a.s.ClaimOwner("ip/1"); !ok || owner != "pods/default/a" {
		t.Fatalf("ClaimOwner = %q, %v", owner, ok)
	}
	if _, ok := a.s.ClaimOwner("ip/2"); ok {
		t.Fatal("ip/2 is held")
	}

	// A second object may not take a held name; nothing is written.
	before := a.s.Index()
	_, err := a.apply(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "b", Object: obj, UID: "uid-b",
		Claims: []string{"ip/2", "port/1"}})
	if !errors.Is(err, ErrClaimed) || !strings.Contains(err.Error(), `"port/1"`) || !strings.Contains(err.Error(), "pods/default/a") {
		t.Fatalf("create with a held claim: %v", err)
	}
	if _, err := a.s.Get("pods", "default", "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed create stored the object: %v", err)
	}
	if _, ok := a.s.ClaimOwner("ip/2"); ok {
		t.Fatal("failed create kept its other claim")
	}
	if a.s.Index() != before+1 {
		t.Fatalf("index %d, want %d: a failed command still counts", a.s.Index(), before+1)
	}

	// The same names in other namespaces or kinds are still the same names.
	_, err = a.apply(&Command{Op: OpCreate, Resource: "services", Namespace: "other", Name: "a", Object: obj, UID: "uid-s",
		Claims: []string{"ip/1"}})
	if !errors.Is(err, ErrClaimed) {
		t.Fatalf("claim across kinds: %v", err)
	}

	// Duplicates within one command are harmless.
	a.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "c", Object: obj, UID: "uid-c",
		Claims: []string{"ip/3", "ip/3"}})
	wantClaims(t, a.claims("default", "c"), "ip/3")

	if _, err := a.apply(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "d", Object: obj, UID: "uid-d",
		Claims: []string{""}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty claim: %v", err)
	}
	got := a.s.Claims("ip/")
	if len(got) != 2 || got["ip/1"] != "pods/default/a" || got["ip/3"] != "pods/default/c" {
		t.Fatalf("Claims(ip/) = %v", got)
	}
	if all := a.s.Claims(""); len(all) != 3 {
		t.Fatalf("Claims() = %v", all)
	}
}

func TestClaimsUpdate(t *testing.T) {
	a := newApplier(t)
	obj := podJSON(t, nil, nil, nil, nil)
	up := func(name string, mod func(*Command)) (*Object, error) {
		cmd := &Command{Op: OpUpdate, Resource: "pods", Namespace: "default", Name: name, Object: obj}
		mod(cmd)
		return a.apply(cmd)
	}
	a.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "a", Object: obj, UID: "uid-a",
		Claims: []string{"ip/1", "port/1"}})
	a.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "b", Object: obj, UID: "uid-b",
		Claims: []string{"ip/2"}})

	// Commands that do not care about claims leave them alone.
	if _, err := up("a", func(*Command) {}); err != nil {
		t.Fatal(err)
	}
	wantClaims(t, a.claims("default", "a"), "ip/1", "port/1")

	// SetClaims: exactly the listed claims; kept ones stay, others go.
	if _, err := up("a", func(c *Command) { c.SetClaims, c.Claims = true, []string{"ip/1", "port/2"} }); err != nil {
		t.Fatal(err)
	}
	wantClaims(t, a.claims("default", "a"), "ip/1", "port/2")
	if _, ok := a.s.ClaimOwner("port/1"); ok {
		t.Fatal("port/1 not released")
	}

	// A held name fails the whole update: object and claims unchanged.
	prev, _ := a.s.Get("pods", "default", "a")
	_, err := up("a", func(c *Command) { c.SetClaims, c.Claims = true, []string{"ip/1", "ip/2"} })
	if !errors.Is(err, ErrClaimed) {
		t.Fatalf("update with a held claim: %v", err)
	}
	if cur, _ := a.s.Get("pods", "default", "a"); cur.ResourceVersion != prev.ResourceVersion {
		t.Fatal("failed update was written")
	}
	wantClaims(t, a.claims("default", "a"), "ip/1", "port/2")

	// Without SetClaims: add and release.
	if _, err := up("a", func(c *Command) { c.Claims, c.Releases = []string{"port/3"}, []string{"port/2", "ip/2"} }); err != nil {
		t.Fatal(err)
	}
	wantClaims(t, a.claims("default", "a"), "ip/1", "port/3")
	if owner, _ := a.s.ClaimOwner("ip/2"); owner != "pods/default/b" {
		t.Fatalf("releasing another object's claim took it: owner %q", owner)
	}

	// SetClaims with nothing releases everything.
	if _, err := up("a", func(c *Command) { c.SetClaims = true }); err != nil {
		t.Fatal(err)
	}
	wantClaims(t, a.claims("default", "a"))

	// The freed names can be taken by others.
	if _, err := up("b", func(c *Command) { c.Claims = []string{"ip/1"} }); err != nil {
		t.Fatal(err)
	}
	wantClaims(t, a.claims("default", "b"), "ip/1", "ip/2")
}

func TestClaimsReleasedOnRemoval(t *testing.T) {
	a := newApplier(t)
	plain := podJSON(t, nil, nil, nil, nil)
	a.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "a", Object: plain, UID: "uid-a",
		Claims: []string{"ip/1"}})

	// A graceful delete only marks the object: it keeps its claims.
	a.must(&Command{Op: OpDelete, Resource: "pods", Namespace: "default", Name: "a", Time: testTime, Graceful: true})
	wantClaims(t, a.claims("default", "a"), "ip/1")
	// The final delete removes it and frees them.
	a.must(&Command{Op: OpDelete, Resource: "pods", Namespace: "default", Name: "a", Time: testTime})
	if _, ok := a.s.ClaimOwner("ip/1"); ok {
		t.Fatal("delete kept the claim")
	}
	// A new object of the same name starts without claims.
	a.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "a", Object: plain, UID: "uid-a2"})
	wantClaims(t, a.claims("default", "a"))
	a.must(&Command{Op: OpDelete, Resource: "pods", Namespace: "default", Name: "a", Time: testTime})

	// Releasing the last finalizer of an object being deleted frees them too.
	fin := podJSON(t, nil, []string{"x"}, nil, nil)
	a.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "f", Object: fin, UID: "uid-f",
		Claims: []string{"ip/2"}})
	a.must(&Command{Op: OpDelete, Resource: "pods", Namespace: "default", Name: "f", Time: testTime})
	wantClaims(t, a.claims("default", "f"), "ip/2")
	a.must(&Command{Op: OpUpdate, Resource: "pods", Namespace: "default", Name: "f", Object: plain})
	if _, err := a.s.Get("pods", "default", "f"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("object not removed: %v", err)
	}
	if len(a.s.Claims("")) != 0 {
		t.Fatalf("claims left: %v", a.s.Claims(""))
	}
}

func TestClaimsSnapshotRestore(t *testing.T) {
	a := newApplier(t)
	obj := podJSON(t, nil, nil, nil, nil)
	a.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "a", Object: obj, UID: "uid-a",
		Claims: []string{"ip/1", "port/1"}})
	a.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "kube-system", Name: "b", Object: obj, UID: "uid-b",
		Claims: []string{"ip/2"}})
	var buf bytes.Buffer
	if _, err := a.s.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	dst := newApplier(t)
	dst.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "stale", Object: obj, UID: "uid-s",
		Claims: []string{"ip/9"}})
	if err := dst.s.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	dst.idx = dst.s.Index()
	want := map[string]string{"ip/1": "pods/default/a", "port/1": "pods/default/a", "ip/2": "pods/kube-system/b"}
	if got := dst.s.Claims(""); len(got) != len(want) || got["ip/1"] != want["ip/1"] || got["port/1"] != want["port/1"] || got["ip/2"] != want["ip/2"] {
		t.Fatalf("restored claims = %v, want %v", got, want)
	}
	// The restored claims are enforced and released as before.
	if _, err := dst.apply(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "c", Object: obj, UID: "uid-c",
		Claims: []string{"ip/2"}}); !errors.Is(err, ErrClaimed) {
		t.Fatalf("restored claim not enforced: %v", err)
	}
	dst.must(&Command{Op: OpDelete, Resource: "pods", Namespace: "kube-system", Name: "b", Time: testTime})
	dst.must(&Command{Op: OpCreate, Resource: "pods", Namespace: "default", Name: "c", Object: obj, UID: "uid-c",
		Claims: []string{"ip/2"}})

	// A version 1 snapshot (objects only) still restores, without claims.
	v1 := `{"version":1,"index":7}` + "\n" +
		`{"resource":"pods","namespace":"default","name":"old","rv":5,"uid":"u","raw":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"old","namespace":"default","resourceVersion":"5"}}}` + "\n"
	if err := dst.s.Restore(strings.NewReader(v1)); err != nil {
		t.Fatalf("restore v1: %v", err)
	}
	if _, err := dst.s.Get("pods", "default", "old"); err != nil {
		t.Fatal(err)
	}
	if len(dst.s.Claims("")) != 0 {
		t.Fatalf("v1 restore has claims: %v", dst.s.Claims(""))
	}
}

func TestClaimedErrorKindCrossesTheWire(t *testing.T) {
	err := errorFromKind(errorKind(errors.New("x: "+ErrClaimed.Error())), "m")
	if errors.Is(err, ErrClaimed) {
		t.Fatal("an unrelated error became ErrClaimed")
	}
	wrapped := errors.Join(errors.New("ctx"), ErrClaimed)
	if err := errorFromKind(errorKind(wrapped), wrapped.Error()); !errors.Is(err, ErrClaimed) {
		t.Fatalf("ErrClaimed lost over the wire: %v", err)
	}
}
