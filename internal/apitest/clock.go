package apitest

import (
	"sync"
	"time"
)

// T0 is a fixed time tests set their clock to.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is a settable clock; the zero value reads the real time.
type Clock struct {
	mu  sync.Mutex
	t   time.Time
	set bool
}

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.set {
		return time.Now()
	}
	return c.t
}

// Set stops the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t, c.set = t, true
	c.mu.Unlock()
}

// Advance moves a set clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
