package controller

import (
	"context"
	"testing"
	"time"
)

func TestOwnWrites(t *testing.T) {
	var w OwnWrites
	if !w.SeenBy(0) {
		t.Fatal("no write noted: any cache holds it")
	}
	w.Note("12")
	w.Note("7") // an older answer arriving late
	w.Note("not a version")
	if w.SeenBy(11) || !w.SeenBy(12) || !w.SeenBy(13) {
		t.Fatalf("after writes at 12 and 7: SeenBy(11)=%v SeenBy(12)=%v", w.SeenBy(11), w.SeenBy(12))
	}
}

func TestAwaitCache(t *testing.T) {
	start := time.Now()
	n := 0
	AwaitCache(context.Background(), func() bool { n++; return n > 3 })
	if n != 4 {
		t.Fatalf("caught polled %d times, want until true (4)", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	AwaitCache(ctx, func() bool { return false })
	AwaitCache(context.Background(), func() bool { return false }) // bounded
	if d := time.Since(start); d > cacheWait+time.Second {
		t.Fatalf("AwaitCache took %v, want at most about %v", d, cacheWait)
	}
}
