package consensus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashRaftTuning is a single node's tuning for the snapshot crash test:
// quick elections, snapshots only when the test asks, and a short log
// after each (so every snapshot compacts the log's head, deleting whole
// segment files).
var crashRaftTuning = RaftTuning{
	HeartbeatTimeout:   20 * time.Millisecond,
	ElectionTimeout:    20 * time.Millisecond,
	LeaderLeaseTimeout: 10 * time.Millisecond,
	CommitTimeout:      time.Millisecond,
	SnapshotThreshold:  1 << 30,
	SnapshotInterval:   time.Hour,
	TrailingLogs:       8,
	WALSegmentSize:     crashSegmentSize,
}

const crashNamespace = "crash"

func crashRaftConfig(dataDir, addr string, logger *slog.Logger) RaftConfig {
	return RaftConfig{NodeID: "solo", DataDir: dataDir, BindAddr: addr, Bootstrap: true, Logger: logger, Tuning: crashRaftTuning}
}

// crashObject is a ConfigMap of about 300 bytes, so that the snapshots
// grow to hundreds of kilobytes and take a while to write.
func crashObject(name string) *Command {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"data": map[string]string{"name": name, "pad": strings.Repeat("p", 256)},
	})
	return &Command{Op: OpCreate, Resource: "configmaps", Namespace: crashNamespace, Name: name, Object: b, UID: "uid-" + name, Time: testTime}
}

// startCrashRaft starts a node, retrying while the port of the previous
// (killed) process is still taken, and waits until it leads.
func startCrashRaft(cfg RaftConfig, store *Store) (*Raft, error) {
	var r *Raft
	var err error
	for range 100 {
		r, err = NewRaft(cfg, store)
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(20 * time.Second); !r.IsLeader(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			_ = r.Shutdown()
			return nil, fmt.Errorf("no leadership within 20s")
		}
	}
	return r, nil
}

// snapshotCrashChild runs a single-node Raft with a Store, as the agent
// does, and until it is killed creates objects and forces snapshots.
//
//	leader                          raft started and leads
//	propose NAME / ack NAME RV      a create, acknowledged at RV
//	snapshot / snapshotted          a forced snapshot
func snapshotCrashChild(dataDir, addr, run string, seed uint64, logger *slog.Logger) error {
	r, err := startCrashRaft(crashRaftConfig(dataDir, addr, logger), NewStore())
	if err != nil {
		return err
	}
	say("leader")
	rng := rand.New(rand.NewPCG(seed, 1))
	ctx := context.Background()
	for i := 0; ; i++ {
		if rng.IntN(4) == 0 {
			say("snapshot")
			if err := r.Snapshot(); err != nil && !strings.Contains(err.Error(), "nothing new to snapshot") {
				return fmt.Errorf("snapshot: %w", err)
			}
			say("snapshotted")
			continue
		}
		name := fmt.Sprintf("r%s-%d", run, i)
		say("propose %s", name)
		obj, err := r.Propose(ctx, crashObject(name))
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		say("ack %s %d", name, obj.ResourceVersion)
	}
}

// TestRaftSurvivesKillsDuringSnapshots kills a process running a
// single-node Raft at random instants, most of them during a snapshot (the
// state written to a .tmp directory, renamed, old snapshots reaped, the
// log's head compacted), restarts the node in the test after each kill and
// checks that it starts, leads, and holds every acknowledged object.
func TestRaftSurvivesKillsDuringSnapshots(t *testing.T) {
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	dataDir := filepath.Join(t.TempDir(), "raft")
	addr := freeLoopbackAddr(t)
	acked := map[string]uint64{} // name -> resourceVersion
	inFlight := map[string]bool{}
	var pending string
	killedDuring := map[string]int{}
	unfinished := 0 // kills that left a snapshot .tmp directory
	previous := "none"
	runs := crashRuns()
	for run := range runs {
		plan := killPlan{at: uniformDuration(rng, 100*time.Millisecond)}
		if rng.IntN(10) < 7 {
			plan = killPlan{trigger: "snapshot", nth: 1 + rng.IntN(2), delay: uniformDuration(rng, 8*time.Millisecond)}
		}
		c := startCrashChild(t, "snapshot", crashDirEnv+"="+dataDir, crashAddrEnv+"="+addr,
			fmt.Sprintf("%s=%d", crashRunEnv, run), fmt.Sprintf("%s=%d", crashSeedEnv, rng.Uint64()))
		c.runUntilKilled(t, fmt.Sprintf("run %d (the previous kill: %s)", run, previous), plan, func(line string) {
			f := strings.Fields(line)
			switch f[0] {
			case "leader":
			case "propose":
				inFlight[f[1]], pending = true, "propose"
			case "ack":
				rv, _ := strconv.ParseUint(f[2], 10, 64)
				acked[f[1]], pending = rv, ""
				delete(inFlight, f[1])
			case "snapshot":
				pending = "snapshot"
			case "snapshotted":
				pending = ""
			default:
				t.Fatalf("unknown line from the child: %q", line)
			}
		})
		during := "between operations"
		if pending != "" {
			during = pending
		}
		killedDuring[during]++
		previous = fmt.Sprintf("%v, during %s", plan, during)
		if tmp, _ := filepath.Glob(filepath.Join(dataDir, snapshotDirName, "*.tmp")); len(tmp) > 0 {
			unfinished++ // the kill hit FileSnapshotStore's write
		}

		store := NewStore()
		r, err := startCrashRaft(crashRaftConfig(dataDir, addr, testLogger(t)), store)
		if err != nil {
			t.Fatalf("run %d (killed %v during %s): raft does not start: %v", run, plan, during, err)
		}
		checkCrashStore(t, r, store, acked, inFlight, fmt.Sprintf("run %d (killed %v during %s)", run, plan, during))
		// Checked once raft has stopped: a snapshot the restarted raft takes
		// reaps an older one, which is half deleted for a moment.
		if err := r.Shutdown(); err != nil {
			t.Fatal(err)
		}
		checkSnapshotDir(t, dataDir, fmt.Sprintf("run %d", run))
		pending = ""
	}
	t.Logf("%d kills: %v; %d left an unfinished snapshot; %d objects acknowledged", runs, killedDuring, unfinished, len(acked))
}

// checkCrashStore checks that the restarted node holds every acknowledged
// object at its resourceVersion, and nothing that was never proposed; an
// object that was in flight at the kill may be there, and is then expected
// from now on.
func checkCrashStore(t *testing.T, r *Raft, store *Store, acked map[string]uint64, inFlight map[string]bool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.ConsistentRead(ctx); err != nil {
		t.Fatalf("%s: consistent read after the restart: %v", what, err)
	}
	items, _, _ := store.List("configmaps", crashNamespace, "", 0)
	have := map[string]uint64{}
	for _, o := range items {
		have[o.Name] = o.ResourceVersion
	}
	for name, rv := range acked {
		if got, ok := have[name]; !ok || got != rv {
			t.Fatalf("%s: acknowledged object %s (resourceVersion %d) lost: the store has %d objects, %s at %d", what, name, rv, len(items), name, got)
		}
	}
	for name, rv := range have {
		if _, ok := acked[name]; ok {
			continue
		}
		if !inFlight[name] {
			t.Fatalf("%s: the store holds %s, which was never proposed", what, name)
		}
		acked[name] = rv // committed after all: durable from now on
	}
	for name := range inFlight {
		delete(inFlight, name)
	}
	// The node takes writes again.
	probe := fmt.Sprintf("probe-%d", len(acked))
	obj, err := r.Propose(ctx, crashObject(probe))
	if err != nil {
		t.Fatalf("%s: write after the restart: %v", what, err)
	}
	acked[probe] = obj.ResourceVersion
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port free now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
