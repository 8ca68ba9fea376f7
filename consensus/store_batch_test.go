package consensus

import (
	"log/slog"

	"bytes"
	"encoding/json"
	"fmt"
	"github.com/hashicorp/raft"
	"math/rand/v2"
	"testing"
	"time"
)

// randomOps is a random run of commands over a few keys, many of which
// fail (taken names, stale resourceVersions, claims another object
// holds), with entries the store does not see among them.
func randomOps(r *rand.Rand, n int) []BatchOp {
	names := []string{"a", "b", "c"}
	ops := make([]BatchOp, 0, n)
	for i := range n {
		index := uint64(i + 1)
		name := names[r.IntN(len(names))]
		obj := func(extra map[string]any) []byte {
			m := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"labels": map[string]string{"n": fmt.Sprint(i)}},
				"data":     map[string]string{"k": fmt.Sprint(i)}}
			for k, v := range extra {
				m[k] = v
			}
			b, _ := json.Marshal(m)
			return b
		}
		var cmd *Command
		switch r.IntN(8) {
		case 0:
			// an entry the store does not see
		case 1, 2:
			cmd = &Command{Op: OpCreate, Resource: "configmaps", Namespace: "ns", Name: name, Object: obj(nil),
				UID: fmt.Sprint("uid-", i), Time: testTime}
		case 3:
			cmd = &Command{Op: OpUpdate, Resource: "configmaps", Namespace: "ns", Name: name, Object: obj(nil),
				ResourceVersion: uint64(r.IntN(i + 1))}
		case 4:
			st := map[string]any{"status": map[string]any{"i": i}}
			cmd = &Command{Op: OpUpdate, Resource: "configmaps", Namespace: "ns", Name: name, Object: obj(st),
				Subresource: SubresourceStatus}
		case 5:
			cmd = &Command{Op: OpDelete, Resource: "configmaps", Namespace: "ns", Name: name, Time: testTime,
				Graceful: r.IntN(2) == 0}
		case 6:
			cmd = &Command{Op: OpCreate, Resource: "services", Namespace: "ns", Name: name, Object: obj(nil),
				UID: fmt.Sprint("uid-", i), Time: testTime,
				Claims: []string{fmt.Sprintf("service-ip/10.43.0.%d", r.IntN(3))}}
		case 7:
			cmd = &Command{Op: OpDelete, Resource: "services", Namespace: "ns", Name: name, Time: testTime}
		}
		if cmd != nil {
			cmd.stampInPlace = r.IntN(2) == 0
		}
		ops = append(ops, BatchOp{Index: index, Cmd: cmd})
	}
	return ops
}

// events drains what a watch of resource from the start replays.
func events(t *testing.T, s *Store, resource string) []string {
	t.Helper()
	w, err := s.Watch(resource, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var out []string
	for {
		select {
		case ev := <-w.Events():
			out = append(out, fmt.Sprintf("%s %s %d %s", ev.Type, ev.Object.Key(), ev.Object.ResourceVersion, ev.Object.Raw))
		case <-time.After(50 * time.Millisecond):
			return out
		}
	}
}

// ApplyBatch decides, stores and publishes exactly what Apply does one
// entry at a time, whatever the batches and however many entries fail.
func TestApplyBatchMatchesApply(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		ops := randomOps(r, 60)
		one, batched := NewStore(), NewStore()
		var want []BatchResult
		for _, op := range ops {
			if op.Cmd == nil {
				one.SetIndex(op.Index)
				want = append(want, BatchResult{})
				continue
			}
			obj, err := one.Apply(op.Index, op.Cmd)
			want = append(want, BatchResult{obj, err})
		}
		var got []BatchResult
		for rest := ops; len(rest) > 0; {
			n := min(1+r.IntN(12), len(rest))
			got = append(got, batched.ApplyBatch(rest[:n])...)
			rest = rest[n:]
		}
		for i := range ops {
			w, g := want[i], got[i]
			if fmt.Sprint(w.Err) != fmt.Sprint(g.Err) || (w.Object == nil) != (g.Object == nil) ||
				(w.Object != nil && (!bytes.Equal(w.Object.Raw, g.Object.Raw) || w.Object.ResourceVersion != g.Object.ResourceVersion)) {
				t.Fatalf("seed %d, op %d (%+v): batched gave %+v, one by one %+v", seed, i, ops[i].Cmd, g, w)
			}
		}
		if one.Index() != batched.Index() {
			t.Fatalf("seed %d: index %d batched, %d one by one", seed, batched.Index(), one.Index())
		}
		var a, b bytes.Buffer
		if _, err := one.Snapshot().WriteTo(&a); err != nil {
			t.Fatal(err)
		}
		if _, err := batched.Snapshot().WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("seed %d: the stores differ:\nbatched\n%s\none by one\n%s", seed, b.Bytes(), a.Bytes())
		}
		for _, res := range []string{"configmaps", "services"} {
			we, ge := events(t, one, res), events(t, batched, res)
			if fmt.Sprint(we) != fmt.Sprint(ge) {
				t.Fatalf("seed %d: %s events batched\n%q\none by one\n%q", seed, res, ge, we)
			}
		}
	}
}

// BenchmarkFSMApplyBatch applies framed creates of a 1 KiB ConfigMap into
// a store that already holds 10,000, one entry at a time or in raft's
// batches of 8 (about what 64 writers give).
func BenchmarkFSMApplyBatch(b *testing.B) {
	cm := fmt.Appendf(nil, `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"labels":{"app":"web"}},"data":{"k":%q}}`,
		bytes.Repeat([]byte("0123456789abcdef"), 64))
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			f := &fsm{store: NewStore(), logger: slog.New(slog.DiscardHandler)}
			var index uint64
			entry := func() *raft.Log {
				index++
				name := fmt.Sprintf("cm-%07d", index)
				data, err := encodeFramed(&Command{Op: OpCreate, Resource: "configmaps", Namespace: "ns", Name: name,
					Object: cm, UID: "uid-" + name, Time: testTime})
				if err != nil {
					b.Fatal(err)
				}
				return &raft.Log{Index: index, Type: raft.LogCommand, Data: data}
			}
			for range 10000 {
				f.Apply(entry())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				logs := make([]*raft.Log, batch)
				for j := range logs {
					logs[j] = entry()
				}
				b.StartTimer()
				if batch == 1 {
					f.Apply(logs[0])
				} else {
					f.ApplyBatch(logs)
				}
				b.StopTimer()
			}
		})
	}
}
