package consensus

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Concurrent writes on a follower all reach the leader over one
// forwarding stream, and each answer is its own write's.
func TestForwardStreamCarriesFollowerWrites(t *testing.T) {
	nodes := newTestCluster(t, 3, nil)
	leader := waitLeader(t, nodes)
	f := followers(nodes)[0]
	ctx := testCtx(t)
	const writes = 64
	var wg sync.WaitGroup
	errs := make(chan error, writes)
	for i := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("s-%02d", i)
			obj, err := f.raft.Propose(ctx, createCmd("ns", name, map[string]string{"i": name}))
			switch {
			case err != nil:
				errs <- fmt.Errorf("propose %s: %w", name, err)
			case obj.Name != name || obj.Labels["i"] != name:
				errs <- fmt.Errorf("propose %s: answered with %s (labels %v)", name, obj.Name, obj.Labels)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f.raft.fwd.streamMu.Lock()
	streams, toLeader := len(f.raft.fwd.streams), f.raft.fwd.streams[leader.addr] != nil
	f.raft.fwd.streamMu.Unlock()
	if streams != 1 || !toLeader {
		t.Fatalf("follower holds %d streams (one to the leader: %v); want exactly one, to the leader", streams, toLeader)
	}
	for i := range writes {
		if _, err := leader.store.Get("configmaps", "ns", fmt.Sprintf("s-%02d", i)); err != nil {
			t.Errorf("leader lacks s-%02d: %v", i, err)
		}
	}
}

// fakeLeader listens on loopback and runs serve for each connection.
func fakeLeader(t *testing.T, serve func(net.Conn)) (addr string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = &atomic.Int32{}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String(), accepted
}

// A leader from before the stream (it takes the first byte for raft's and
// drops the connection) makes the follower forward over HTTP, without
// dialing again for each write.
func TestForwardStreamOldLeaderFallsBack(t *testing.T) {
	nodes := newTestCluster(t, 1, nil)
	fwd := nodes[0].raft.fwd
	addr, accepted := fakeLeader(t, func(c net.Conn) {
		var b [1]byte
		_, _ = io.ReadFull(c, b[:])
	})
	entry, err := encodeFramed(createCmd("ns", "a", nil))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := fwd.callStream(testCtx(t), addr, entry); !errors.Is(err, errNoStream) {
			t.Fatalf("call %d to an old leader: %v; want errNoStream", i, err)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("the old leader was dialed %d times; want once, then HTTP for a while", n)
	}
}

// A write the stream sent before it broke has an unknown outcome, not a
// retryable one: the leader may have applied it.
func TestForwardStreamBrokenAfterSend(t *testing.T) {
	nodes := newTestCluster(t, 1, nil)
	fwd := nodes[0].raft.fwd
	got := make(chan []byte, 1)
	addr, _ := fakeLeader(t, func(c net.Conn) {
		hello := make([]byte, 1+len(streamHello))
		if _, err := io.ReadFull(c, hello); err != nil {
			return
		}
		if _, err := c.Write(hello[1:]); err != nil {
			return
		}
		buf := make([]byte, 64)
		n, _ := c.Read(buf) // the call arrives; the leader dies
		got <- buf[:n]
	})
	entry, err := encodeFramed(createCmd("ns", "a", nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fwd.callStream(testCtx(t), addr, entry)
	var de *dialError
	if !errors.Is(err, errStreamClosed) || errors.As(err, &de) {
		t.Fatalf("call on a stream that broke after sending: %v; want errStreamClosed, not a dial error", err)
	}
	if b := <-got; len(b) == 0 {
		t.Fatal("the fake leader read nothing: the call was never sent")
	}
	fwd.streamMu.Lock()
	defer fwd.streamMu.Unlock()
	if len(fwd.streams) != 0 {
		t.Fatalf("a broken stream is still held: %v", fwd.streams)
	}
}
