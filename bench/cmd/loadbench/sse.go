package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// sseResult is the SSE check of one target: how long after the upstream
// wrote and flushed its first event the client had it, while the upstream
// still held the stream open (it sends the second event gap later).
type sseResult struct {
	Target   string          `json:"target"`
	Trials   []time.Duration `json:"first_event_ns"`
	Median   time.Duration   `json:"median_ns"`
	Max      time.Duration   `json:"max_ns"`
	Gap      time.Duration   `json:"gap_ns"`
	Streamed bool            `json:"streamed"` // every first event arrived well before the second was sent
	Error    string          `json:"error,omitempty"`
}

// sseCheck runs trials SSE requests against base. The upstream stamps the
// first event with its wall clock (every process here shares the host's
// clock) just before writing and flushing it.
func sseCheck(ctx context.Context, base, token string, trials int, gap time.Duration) sseResult {
	res := sseResult{Gap: gap, Streamed: true}
	client := newClient(1)
	defer client.CloseIdleConnections()
	for range trials {
		d, err := sseOnce(ctx, client, base, token, gap)
		if err != nil {
			res.Error = err.Error()
			res.Streamed = false
			return res
		}
		res.Trials = append(res.Trials, d)
		if d >= gap/2 {
			res.Streamed = false
		}
	}
	s := slices.Clone(res.Trials)
	slices.Sort(s)
	res.Median = s[len(s)/2]
	res.Max = s[len(s)-1]
	return res
}

func sseOnce(ctx context.Context, client *http.Client, base, token string, gap time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, gap+requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/sse?gap=%s", base, gap), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return 0, fmt.Errorf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	var first time.Duration
	events := 0
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		now := time.Now().UnixNano()
		var ev struct {
			T int64 `json:"t"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return 0, fmt.Errorf("event %q: %w", data, err)
		}
		events++
		if events == 1 {
			first = time.Duration(now - ev.T)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if events != 2 {
		return 0, errors.New("stream did not carry both events")
	}
	return first, nil
}
