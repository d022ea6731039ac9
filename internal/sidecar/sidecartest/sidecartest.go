// Package sidecartest runs the sidecar in-process for tests.
package sidecartest

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Serve builds the sidecar from a normalized config and serves it on ln
// (and adminLn when not nil) until the test ends; cleanup waits (bounded)
// for the graceful stop. log and client may be nil. drain_delay, unless
// set, is 0.
func Serve(t testing.TB, cfg *sidecar.Config, log *zap.Logger, client *http.Client, ln, adminLn net.Listener) *sidecar.App {
	t.Helper()
	if cfg.DrainDelay == nil {
		// Tests stop at once: no drain_delay unless the config asks.
		c := *cfg
		c.DrainDelay = new(rs.Duration)
		cfg = &c
	}
	app, err := sidecar.New(cfg, log, client)
	if err != nil {
		t.Fatalf("sidecartest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln, adminLn) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sidecartest: Serve: %v", err)
			}
		case <-time.After(time.Duration(cfg.ShutdownTimeout) + 10*time.Second):
			t.Error("sidecartest: the sidecar did not stop")
		}
	})
	return app
}

// StartDev runs the dev demo (sidecar.Dev) in-process until stop is
// called or the test ends, and returns what it reported once serving and
// the buffer it prints into. stop waits (bounded) for it to return and
// reports an error it returned; calling it again does nothing.
func StartDev(t testing.TB, o sidecar.DevOptions) (info sidecar.DevInfo, out *bytes.Buffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	infoc := make(chan sidecar.DevInfo, 1)
	done := make(chan error, 1)
	out = &bytes.Buffer{}
	go func() { done <- sidecar.Dev(ctx, o, out, func(i sidecar.DevInfo) { infoc <- i }) }()
	select {
	case info = <-infoc:
	case err := <-done:
		cancel()
		t.Fatalf("sidecartest: dev exited: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("sidecartest: dev did not start")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("sidecartest: dev returned %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("sidecartest: dev did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return info, out, stop
}
