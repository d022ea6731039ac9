package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// App is one running configuration of the sidecar.
type App struct {
	cfg       *Config
	log       *zap.Logger
	reg       *prometheus.Registry
	validator *rs.Validator
	handler   http.Handler
	admin     http.Handler
}

// NewLogger returns the JSON zap logger for a level name.
func NewLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.DisableStacktrace = true
	zc.EncoderConfig.TimeKey = "ts"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return zc.Build()
}

// New wires a normalized config. client (may be nil) fetches keys.
func New(cfg *Config, log *zap.Logger, client *http.Client) (*App, error) {
	if log == nil {
		log = zap.NewNop()
	}
	a := &App{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := rs.NewMetrics(a.reg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	a.validator, err = rs.NewValidator(cfg.RS, rs.Options{Client: client, Logger: log.Named("rs"), Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("validator: %w", err)
	}
	a.handler, err = mcpproxy.New(&cfg.RS, &cfg.Proxy, a.validator, cfg.Injector, mcpproxy.Options{Logger: log.Named("proxy"), Registerer: a.reg})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	a.admin = a.adminMux()
	return a, nil
}

// Handler is the front door.
func (a *App) Handler() http.Handler { return a.handler }

// AdminHandler serves /healthz, /readyz and /metrics.
func (a *App) AdminHandler() http.Handler { return a.admin }

// Validator is the app's token validator.
func (a *App) Validator() *rs.Validator { return a.validator }

func (a *App) adminMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ready := a.validator.Ready()
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "issuers": a.validator.Status()})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	return mux
}

// Serve starts key loading and serves on ln (and adminLn when not nil)
// until ctx is done, then drains gracefully for at most the configured
// shutdown timeout.
func (a *App) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	a.validator.Start()
	defer a.validator.Close()
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// No WriteTimeout: SSE streams are long-lived.
		ErrorLog: zap.NewStdLog(a.log.Named("http")),
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if adminLn != nil {
		adm := &http.Server{Handler: a.admin, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, adm)
		go func() { errc <- adm.Serve(adminLn) }()
	}
	a.log.Info("mcp-sidecar serving", zap.String("listen", ln.Addr().String()),
		zap.String("upstream", a.cfg.Proxy.Upstream), zap.String("resource", a.cfg.RS.Resource))
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	a.log.Info("mcp-sidecar shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(a.cfg.ShutdownTimeout))
	defer cancel()
	for _, s := range servers {
		if serr := s.Shutdown(sctx); serr != nil {
			_ = s.Close()
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Run listens on the configured addresses and serves until ctx is done.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.cfg.Listen, err)
	}
	var adminLn net.Listener
	if a.cfg.AdminListen != "off" {
		adminLn, err = net.Listen("tcp", a.cfg.AdminListen)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("admin_listen %s: %w", a.cfg.AdminListen, err)
		}
	}
	return a.Serve(ctx, ln, adminLn)
}
