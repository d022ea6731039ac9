package ratelimit

import (
	"context"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// memoryStore keeps each caller's buckets in one entry of a bounded LRU:
// at most maxCallers callers, each with at most one bucket per configured
// rule, so the memory used does not grow with the number of subjects.
//
// A bucket is kept as its theoretical arrival time (GCRA): tat is when
// the bucket will be full again, on a monotonic nanosecond clock. A
// request is allowed when max(tat, now) - now ≤ (burst-1) × interval and
// then moves tat by one interval; otherwise it has to wait
// max(tat, now) - now - (burst-1) × interval. This is a token bucket of
// size burst refilled one token per interval, in integer arithmetic.
type memoryStore struct {
	callers *lru.Cache[string, *callerEntry]
	clock   func() time.Time
	base    time.Time
}

type callerEntry struct {
	mu      sync.Mutex
	buckets []bucket // only those not full
}

type bucket struct {
	rule int
	tat  int64 // ns since memoryStore.base
}

func newMemoryStore(maxCallers int, clock func() time.Time) *memoryStore {
	c, err := lru.New[string, *callerEntry](maxCallers)
	if err != nil { // only for a size ≤ 0, which Normalized refuses
		panic("ratelimit: " + err.Error())
	}
	return &memoryStore{callers: c, clock: clock, base: clock()}
}

func (s *memoryStore) entry(caller string) *callerEntry {
	if e, ok := s.callers.Get(caller); ok {
		return e
	}
	e := &callerEntry{}
	if prev, found, _ := s.callers.PeekOrAdd(caller, e); found {
		return prev
	}
	return e
}

func (s *memoryStore) take(_ context.Context, caller string, rules []*rule) (bool, int, time.Duration, error) {
	e := s.entry(caller)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := int64(s.clock().Sub(s.base))
	// Full buckets are the same as absent ones: drop them.
	kept := e.buckets[:0]
	for _, b := range e.buckets {
		if b.tat > now {
			kept = append(kept, b)
		}
	}
	clear(e.buckets[len(kept):])
	e.buckets = kept

	var pos [3]int // index in e.buckets per rule, -1 when absent
	deny, worst := -1, int64(0)
	for i, r := range rules {
		pos[i] = -1
		tat := now
		for j, b := range e.buckets {
			if b.rule == r.idx {
				pos[i], tat = j, b.tat
				break
			}
		}
		if wait := tat - now - int64(r.tau); wait > worst {
			deny, worst = i, wait
		}
	}
	if deny >= 0 {
		return false, deny, time.Duration(worst), nil
	}
	for i, r := range rules {
		if pos[i] >= 0 {
			e.buckets[pos[i]].tat += int64(r.interval)
		} else {
			e.buckets = append(e.buckets, bucket{rule: r.idx, tat: now + int64(r.interval)})
		}
	}
	return true, 0, 0, nil
}

// len is the number of callers tracked.
func (s *memoryStore) len() int { return s.callers.Len() }

func (s *memoryStore) ping(context.Context) error { return nil }

func (s *memoryStore) close() error {
	s.callers.Purge()
	return nil
}
