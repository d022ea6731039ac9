package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// requestTimeout bounds every single request of the generator.
const requestTimeout = 10 * time.Second

// newClient returns a client with its own connection pool, tuned for
// keep-alive load on loopback: enough idle connections for every worker,
// no proxy from the environment, no compression, bounded timeouts.
func newClient(conc int) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   conc + 8,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: requestTimeout,
		ForceAttemptHTTP2:     false,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// shape is the request every worker sends.
type shape struct {
	method string
	path   string
	body   []byte
	token  string // "" sends no Authorization
}

func (s shape) newRequest(ctx context.Context, base string) (*http.Request, error) {
	var body io.Reader
	if s.body != nil {
		body = bytes.NewReader(s.body)
	}
	req, err := http.NewRequestWithContext(ctx, s.method, base+s.path, body)
	if err != nil {
		return nil, err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if s.body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	return req, nil
}

// loadResult is one measured run against one target.
type loadResult struct {
	Target   string        `json:"target"`
	Round    int           `json:"round"`
	Conc     int           `json:"concurrency"`
	Requests int           `json:"requests"` // completed (any status)
	Non2xx   int           `json:"non_2xx"`
	Errors   int           `json:"errors"` // transport errors
	FirstErr string        `json:"first_error,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	RPS      float64       `json:"rps"`
	Mean     time.Duration `json:"mean_ns"`
	P50      time.Duration `json:"p50_ns"`
	P90      time.Duration `json:"p90_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
	// CPU time (user+system) of the process serving the target and of the
	// load generator during the run; zero with -inproc or without /proc.
	ServerCPU       time.Duration `json:"server_cpu_ns,omitempty"`
	ServerCPUPerReq time.Duration `json:"server_cpu_per_request_ns,omitempty"`
	LoadgenCPU      time.Duration `json:"loadgen_cpu_ns,omitempty"`
	UpstreamCPU     time.Duration `json:"upstream_cpu_ns,omitempty"` // (b)–(f): the upstream's process
	// Host-wide CPU time during the run (all cores): busy, idle (+iowait)
	// and steal (other guests on the hypervisor).
	HostBusy  time.Duration `json:"host_busy_ns,omitempty"`
	HostIdle  time.Duration `json:"host_idle_ns,omitempty"`
	HostSteal time.Duration `json:"host_steal_ns,omitempty"`
}

// runLoad drives conc workers against base until dur has passed or maxReq
// requests have been started, whichever comes first, and measures
// throughput and latency (time from sending to the last body byte).
func runLoad(ctx context.Context, client *http.Client, base string, sh shape, conc int, dur time.Duration, maxReq int) loadResult {
	ctx, cancel := context.WithTimeout(ctx, dur+requestTimeout+time.Second)
	defer cancel()
	var (
		started  atomic.Int64
		non2xx   atomic.Int64
		errs     atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	lat := make([][]time.Duration, conc)
	perWorker := min(maxReq/conc+1, 1<<16)
	begin := time.Now()
	deadline := begin.Add(dur)
	for w := range conc {
		lat[w] = make([]time.Duration, 0, perWorker)
		wg.Go(func() {
			buf := make([]byte, 4<<10)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if started.Add(1) > int64(maxReq) {
					return
				}
				req, err := sh.newRequest(ctx, base)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				_, cerr := io.CopyBuffer(io.Discard, resp.Body, buf)
				_ = resp.Body.Close()
				d := time.Since(t0)
				if cerr != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, "body: "+cerr.Error())
					continue
				}
				if resp.StatusCode < 200 || resp.StatusCode > 299 {
					non2xx.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d", resp.StatusCode))
				}
				lat[w] = append(lat[w], d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	client.CloseIdleConnections()
	all := slices.Concat(lat...)
	r := loadResult{Conc: conc, Requests: len(all), Non2xx: int(non2xx.Load()), Errors: int(errs.Load()), Elapsed: elapsed}
	if s, ok := firstErr.Load().(string); ok {
		r.FirstErr = s
	}
	if elapsed > 0 {
		r.RPS = float64(len(all)) / elapsed.Seconds()
	}
	if len(all) > 0 {
		slices.Sort(all)
		var sum time.Duration
		for _, d := range all {
			sum += d
		}
		r.Mean = sum / time.Duration(len(all))
		r.P50 = quantile(all, 0.50)
		r.P90 = quantile(all, 0.90)
		r.P99 = quantile(all, 0.99)
		r.Max = all[len(all)-1]
	}
	return r
}

// quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return sorted[i]
}

// waitReady polls base with the request shape until it answers 2xx (at
// most timeout): key sets load in the background after start.
func waitReady(ctx context.Context, client *http.Client, base string, sh shape, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		req, err := sh.newRequest(ctx, base)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("not ready: " + last)
}
