// Package sidecartest runs the sidecar in-process for tests.
package sidecartest

import (
	"context"
	"net"
	"net/http"
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
