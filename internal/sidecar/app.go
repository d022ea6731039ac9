package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/stdiobridge"
)

// App is the running sidecar. Its configuration can be replaced while it
// serves (Reload, on SIGHUP): the metrics registry, the validation cache
// and the key sets of unchanged issuers carry over, and requests in flight
// (SSE streams included) finish on the generation they started on.
type App struct {
	log     *zap.Logger
	client  *http.Client
	reg     *prometheus.Registry
	metrics *rs.Metrics

	mu        sync.Mutex // serializes Reload and key-set bookkeeping
	keySets   map[string]*rs.KeySet
	cache     *rs.Cache
	cacheSize int
	serving   bool
	cur       atomic.Pointer[generation]
	admin     http.Handler
	// sessionKey binds sessions when session_key is unset: drawn once
	// per process, so a reload keeps open sessions.
	sessionKey []byte
	// listen, adminListen and headerTimeout are fixed for the process:
	// a reload cannot change them.
	listen, adminListen string
	headerTimeout       time.Duration
	// ops: readiness, admin policy, drain, reload notices (readiness.go).
	ops opsState
	// tracers: the tracer provider of the tracing key (observability.go).
	tracers tracers
}

// generation is one configuration's wiring.
type generation struct {
	cfg     *Config
	fd      *frontdoor.FrontDoor
	handler http.Handler
	// stdioSecrets identifies the contents of the stdio secret_env files
	// the bridge was started with: a changed file means a new bridge.
	stdioSecrets string
}

// NewLogger returns the JSON zap logger for a level name.
func NewLogger(level string) (*zap.Logger, error) { return newLogger(level, "stderr") }

// newLogger is NewLogger writing to output (a path, or stderr).
func newLogger(level, output string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.DisableStacktrace = true
	// Every line is written: the access log's sampling is log_sampling's
	// (observability.go), never zap's production default.
	zc.Sampling = nil
	zc.EncoderConfig.TimeKey = "ts"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.OutputPaths, zc.ErrorOutputPaths = []string{output}, []string{output}
	return zc.Build(ReloadableLevel(zc.Level))
}

// New wires a normalized config. client (may be nil) fetches keys.
func New(cfg *Config, log *zap.Logger, client *http.Client) (*App, error) {
	if log == nil {
		log = zap.NewNop()
	}
	a := &App{log: log, client: client, reg: prometheus.NewRegistry(), keySets: map[string]*rs.KeySet{}}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if a.sessionKey, err = mcpproxy.NewProcessSessionKey(); err != nil {
		return nil, err
	}
	if a.metrics, err = rs.NewMetrics(a.reg); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	g, _, err := a.build(cfg)
	if err != nil {
		return nil, err
	}
	a.cur.Store(g)
	a.applyOps(cfg)
	a.admin = a.adminMux()
	a.listen, a.adminListen, a.headerTimeout = cfg.ListenAddr(), cfg.AdminAddr(), cfg.HeaderTimeout()
	return a, nil
}

// build wires a generation, reusing key sets by keySetKey. It returns the
// keys the generation uses. Callers hold a.mu (or own a).
func (a *App) build(cfg *Config) (*generation, map[string]bool, error) {
	used := map[string]bool{}
	keySetFor := func(as rs.AuthorizationServer) (*rs.KeySet, error) {
		k := frontdoor.KeySetKey(as)
		used[k] = true
		if ks, ok := a.keySets[k]; ok {
			return ks, nil
		}
		ks := rs.NewKeySet(as, rs.KeySetOptions{Client: a.client, Logger: a.log.Named("rs"), Metrics: a.metrics})
		a.keySets[k] = ks
		if a.serving {
			ks.Start()
		}
		return ks, nil
	}
	env := Env(nil, nil)
	env.Logger, env.Registerer, env.Client = a.log, a.reg, a.client
	env.KeySets, env.ProcessSessionKey = keySetFor, a.sessionKey
	env.Cache = func(n int) (*rs.Cache, error) {
		if a.cache == nil || a.cacheSize != n {
			c, err := rs.NewCache(n)
			if err != nil {
				return nil, err
			}
			a.cache, a.cacheSize = c, n
		}
		return a.cache, nil
	}
	// The stdio bridge (its processes and sessions) carries over when a
	// reload leaves the stdio options as they were.
	var (
		prev         *frontdoor.FrontDoor
		prevSecrets  string
		stdioSecrets string
	)
	if g := a.cur.Load(); g != nil {
		prev, prevSecrets = g.fd, g.stdioSecrets
	}
	env.Bridge = func(o stdiobridge.Options, e stdiobridge.Env) (*stdiobridge.Bridge, error) {
		stdioSecrets = secretFilesDigest(cfg.Stdio) // watch.go
		if prev != nil && prev.Bridge() != nil && prev.Options().Stdio != nil && reflect.DeepEqual(*prev.Options().Stdio, *cfg.Stdio) &&
			prevSecrets == stdioSecrets {
			return prev.Bridge(), nil
		}
		return stdiobridge.New(o, e)
	}
	env.AccessLog = accessLog(a.log, cfg.LogSampling) // observability.go
	tp, commitTracing, err := a.tracers.provider(cfg.Tracing, a.log.Named("tracing"))
	if err != nil {
		return nil, nil, err
	}
	env.TracerProvider = tp
	fd, err := frontdoor.Compile(cfg.Options, env)
	commitTracing(err == nil)
	if err != nil {
		return nil, nil, err
	}
	return &generation{cfg: cfg, fd: fd, handler: fd.Handler(), stdioSecrets: stdioSecrets}, used, nil
}

// retire stops what an old generation ran itself (a stdio bridge the new
// one did not keep), in the background: its processes end in the stdio
// stop order.
func (a *App) retire(old, cur *generation) {
	if old == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := old.fd.Release(ctx, cur.fd); err != nil {
			a.log.Warn("reload: stopping what the previous configuration ran", zap.Error(err))
		}
	}()
}

// Reload swaps in a new normalized configuration. Listen addresses cannot
// change without a restart (a warning is logged and the old ones stay).
// On error nothing changes.
func (a *App) Reload(cfg *Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cfg.ListenAddr() != a.listen || cfg.AdminAddr() != a.adminListen {
		a.log.Warn("listen addresses changed: restart the sidecar to apply them; keeping the current ones",
			zap.String("listen", a.listen), zap.String("admin_listen", a.adminListen))
	}
	if cfg.HeaderTimeout() != a.headerTimeout {
		a.log.Warn("read_header_timeout changed: restart the sidecar to apply it; keeping the current one",
			zap.Duration("read_header_timeout", a.headerTimeout))
	}
	before := make(map[string]*rs.KeySet, len(a.keySets))
	for k, ks := range a.keySets {
		before[k] = ks
	}
	g, used, err := a.build(cfg)
	if err != nil {
		for k, ks := range a.keySets { // drop key sets created for the failed build
			if before[k] == nil {
				ks.Stop()
				delete(a.keySets, k)
			}
		}
		return err
	}
	old := a.cur.Swap(g)
	a.retire(old, g)
	a.applyOps(cfg)
	kept := 0
	for k, ks := range a.keySets {
		if !used[k] {
			ks.Stop()
			delete(a.keySets, k)
		} else if before[k] != nil {
			kept++
		}
	}
	a.log.Info("configuration reloaded", zap.Int("authorization_servers", len(g.fd.Resource().AuthorizationServers)), zap.Int("key_sets_kept", kept))
	return nil
}

// ReloadFile re-reads a config file and reloads it; a bad file is logged
// and the running configuration keeps serving.
func (a *App) ReloadFile(path string) error {
	cfg, err := LoadFile(path)
	if err != nil {
		a.log.Error("reload: configuration refused; the previous one keeps serving", zap.String("config", path), zap.Error(err))
		return err
	}
	if err := a.Reload(cfg); err != nil {
		a.log.Error("reload failed; the previous configuration keeps serving", zap.Error(err))
		return err
	}
	return nil
}

// WatchReload reloads path on every value from hup until ctx is done.
func (a *App) WatchReload(ctx context.Context, hup <-chan os.Signal, path string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			a.log.Info("SIGHUP: reloading configuration", zap.String("config", path))
			_ = a.ReloadFile(path)
		}
	}
}

// ServeHTTP serves the front door with the current configuration.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.cur.Load().handler.ServeHTTP(w, r) }

// Handler is the front door (it follows reloads).
func (a *App) Handler() http.Handler { return a }

// AdminHandler serves /healthz, /readyz and /metrics.
func (a *App) AdminHandler() http.Handler { return a.admin }

// Validator is the current configuration's token validator.
func (a *App) Validator() *rs.Validator { return a.cur.Load().fd.Validator() }

// ReadHeaderTimeout is the running read_header_timeout (fixed for the
// process).
func (a *App) ReadHeaderTimeout() time.Duration { return a.headerTimeout }

// FrontDoor is the current compiled front door.
func (a *App) FrontDoor() *frontdoor.FrontDoor { return a.cur.Load().fd }

// Config is the current configuration.
func (a *App) Config() *Config { return a.cur.Load().cfg }

func (a *App) startKeys() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.serving = true
	for _, ks := range a.keySets {
		ks.Start()
	}
}

func (a *App) stopKeys() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.serving = false
	for k, ks := range a.keySets {
		ks.Stop()
		delete(a.keySets, k)
	}
}

func (a *App) adminMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", a.readyz) // readiness.go
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	return a.adminGate(mux)
}

// Serve starts key loading and serves on ln (and adminLn when not nil)
// until ctx is done, then drains gracefully for at most the configured
// shutdown timeout.
func (a *App) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	a.startKeys()
	defer a.stopKeys()
	cfg := a.Config()
	rht := a.headerTimeout
	srv := &http.Server{
		Handler: a.ops.streams.wrap(a), // drain.go: open streams end on drain
		// A client that never finishes its headers is cut off. The body
		// has its own deadline (body_read_timeout, set by the guard and
		// cleared once the body is in), so no ReadTimeout: a deadline
		// for the whole request must not reach long-lived SSE streams.
		// No WriteTimeout either, for the same reason.
		ReadHeaderTimeout: rht,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          zap.NewStdLog(a.log.Named("http")),
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if adminLn != nil {
		adm := &http.Server{Handler: a.admin, ReadHeaderTimeout: rht}
		servers = append(servers, adm)
		go func() { errc <- adm.Serve(adminLn) }()
	}
	a.log.Info("mcp-sidecar serving", zap.String("listen", ln.Addr().String()),
		zap.String("upstream", upstreamName(cfg)), zap.String("resource", cfg.Resource))
	var err error
	select {
	case <-ctx.Done():
		err = a.drain(errc) // drain.go: /readyz 503, drain_delay, streams ended
	case err = <-errc:
	}
	a.log.Info("mcp-sidecar shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.Config().Shutdown())
	defer cancel()
	for _, s := range servers {
		if serr := s.Shutdown(sctx); serr != nil {
			_ = s.Close()
		}
	}
	// Then every stdio process, in the stdio stop order, with time of its
	// own for that order (stdin, SIGTERM, SIGKILL each after the grace).
	fd := a.cur.Load().fd
	stopWait := time.Minute
	if o := fd.Options().Stdio; o != nil {
		if n, err := o.Normalized("stdio"); err == nil {
			stopWait = 3*time.Duration(n.ShutdownGrace) + 5*time.Second
		}
	}
	cctx, ccancel := context.WithTimeout(context.Background(), stopWait)
	defer ccancel()
	if cerr := fd.Close(cctx); cerr != nil {
		a.log.Warn("stopping the stdio processes", zap.Error(cerr))
	}
	if terr := a.tracers.shutdown(cctx); terr != nil { // the last spans (observability.go)
		a.log.Warn("tracing: flushing the exporter", zap.Error(terr))
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Run listens on the configured addresses and serves until ctx is done.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.listen, err)
	}
	var adminLn net.Listener
	if admin := a.adminListen; admin != "off" {
		adminLn, err = net.Listen("tcp", admin)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("admin_listen %s: %w", admin, err)
		}
	}
	return a.Serve(ctx, ln, adminLn)
}

// upstreamName is what the sidecar serves, for its start line.
func upstreamName(c *Config) string {
	if c.Stdio != nil && len(c.Stdio.Command) > 0 {
		return "stdio: " + c.Stdio.Command[0]
	}
	return c.Upstream
}
