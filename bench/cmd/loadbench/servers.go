package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard" // what cmd/caddy links
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	_ "github.com/mcp-frontdoor/mcp-frontdoor/caddymodule"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/devas"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// The servers are grouped in roles. Each role runs in its own child
// process (the default: this binary re-executed with LOADBENCH_CHILD set,
// so the load generator does not share a Go runtime with what it
// measures) or, with -inproc, in this process.
const (
	roleBackend    = "backend"     // upstream + JWKS/token issuer (devas, RS256)
	roleCaddy      = "caddy"       // one caddy.Load with the sites (b), (c), (d)
	roleSidecar    = "sidecar"     // mcp-sidecar, validation cache on (e)
	roleSidecarOff = "sidecar-off" // mcp-sidecar, validation_cache_size -1 (f)
)

// envChild names the role a re-executed child runs; envSpec carries its spec.
const (
	envChild = "LOADBENCH_CHILD"
	envSpec  = "LOADBENCH_SPEC"
)

// resource is the front doors' resource (the token audience). The front
// doors accept any loopback Host for a loopback resource, so one value
// serves every port.
const resource = "http://127.0.0.1/mcp"

// upstreamBody is the upstream's 46-byte JSON answer (as in caddy.md §4).
const upstreamBody = `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`

// spec is what a role needs to start.
type spec struct {
	Upstream   string `json:"upstream,omitempty"`
	Issuer     string `json:"issuer,omitempty"`
	JWKS       string `json:"jwks,omitempty"`
	Dir        string `json:"dir"`                   // scratch dir (Caddy storage, logs)
	SidecarLog string `json:"sidecar_log,omitempty"` // "info" (default) or "off"
}

// ready is what a started role reports: addresses and, for the backend,
// the issuer and a token.
type ready struct {
	Upstream string            `json:"upstream,omitempty"`
	Issuer   string            `json:"issuer,omitempty"`
	JWKS     string            `json:"jwks,omitempty"`
	Token    string            `json:"token,omitempty"`
	Targets  map[string]string `json:"targets,omitempty"` // target key → base URL
	Error    string            `json:"error,omitempty"`
}

// startRole starts one role's servers in this process. The returned stop
// function shuts them down.
func startRole(role string, s spec) (ready, func(), error) {
	switch role {
	case roleBackend:
		return startBackend()
	case roleCaddy:
		return startCaddy(s)
	case roleSidecar:
		return startSidecar(s, "e", 0)
	case roleSidecarOff:
		return startSidecar(s, "f", -1)
	}
	return ready{}, nil, fmt.Errorf("unknown role %q", role)
}

// startBackend serves the upstream and a dev authorization server (RS256,
// RSA-2048) on loopback and mints one token for the resource.
func startBackend() (ready, func(), error) {
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ready{}, nil, err
	}
	asLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = upLn.Close()
		return ready{}, nil, err
	}
	issuer := "http://" + asLn.Addr().String()
	as, err := devas.New(devas.Options{Issuer: issuer, Resources: []string{resource}, Alg: "RS256", KeyID: "bench-1"})
	if err != nil {
		_ = upLn.Close()
		_ = asLn.Close()
		return ready{}, nil, err
	}
	tok, err := as.Mint("bench-user", []string{"mcp:read"}, resource, 6*time.Hour, nil)
	if err != nil {
		_ = upLn.Close()
		_ = asLn.Close()
		return ready{}, nil, err
	}
	up := &http.Server{Handler: http.HandlerFunc(serveUpstream), ReadHeaderTimeout: 10 * time.Second}
	asSrv := &http.Server{Handler: as.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = up.Serve(upLn) }()
	go func() { _ = asSrv.Serve(asLn) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = up.Shutdown(ctx)
		_ = asSrv.Shutdown(ctx)
	}
	r := ready{
		Upstream: "http://" + upLn.Addr().String(), Issuer: issuer, JWKS: as.JWKSURL(), Token: tok,
		Targets: map[string]string{"a": "http://" + upLn.Addr().String()},
	}
	return r, stop, nil
}

// serveUpstream is the trivial MCP-ish upstream: /sse streams two events
// (the first carries the wall-clock time it was written, in Unix ns), any
// other request gets the 46-byte JSON body.
func serveUpstream(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/sse" {
		serveSSE(w, r)
		return
	}
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(upstreamBody)))
	_, _ = io.WriteString(w, upstreamBody)
}

// maxSSEGap bounds the pause between the two SSE events.
const maxSSEGap = 2 * time.Second

func serveSSE(w http.ResponseWriter, r *http.Request) {
	gap, _ := time.ParseDuration(r.URL.Query().Get("gap"))
	gap = min(max(gap, 0), maxSSEGap)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	fmt.Fprintf(w, "id: 1\ndata: {\"t\":%d}\n\n", time.Now().UnixNano())
	_ = rc.Flush()
	select {
	case <-time.After(gap):
	case <-r.Context().Done():
		return
	}
	fmt.Fprintf(w, "id: 2\ndata: {\"t\":%d}\n\n", time.Now().UnixNano())
	_ = rc.Flush()
}

// freeAddr returns a free loopback address (closed again; Caddy needs the
// port in its config before it listens).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// caddyfile renders the three Caddy sites: (b) plain reverse_proxy, (c)
// mcp_auth with the default validation cache, (d) mcp_auth without cache.
// Every site uses the same reverse_proxy with 128 idle upstream
// connections (caddy.md §3, §4). Caddy's own log goes to a file.
func caddyfile(s spec, b, c, d string) string {
	proxy := fmt.Sprintf(`reverse_proxy %s {
		transport http {
			keepalive_idle_conns_per_host 128
		}
	}`, s.Upstream)
	auth := func(extra string) string {
		return fmt.Sprintf(`mcp_auth {
		resource %s
		authorization_server %s {
			jwks_uri %s
			algorithms RS256
		}
		%s
	}`, resource, s.Issuer, s.JWKS, extra)
	}
	return fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	storage file_system %s
	grace_period 1s
	log default {
		output file %s
		level INFO
	}
}
http://:%s {
	bind 127.0.0.1
	%s
}
http://:%s {
	bind 127.0.0.1
	%s
	%s
}
http://:%s {
	bind 127.0.0.1
	%s
	%s
}
`, filepath.Join(s.Dir, "caddy-data"), filepath.Join(s.Dir, "caddy.log"),
		portOf(b), proxy,
		portOf(c), auth(""), proxy,
		portOf(d), auth("validation_cache_size -1"), proxy)
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// startCaddy loads the Caddy config in this process (caddy.Load, admin off).
func startCaddy(s spec) (ready, func(), error) {
	var addrs [3]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return ready{}, nil, err
		}
		addrs[i] = a
	}
	cf := caddyfile(s, addrs[0], addrs[1], addrs[2])
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		return ready{}, nil, fmt.Errorf("caddy adapt: %w\n%s", err, cf)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		return ready{}, nil, fmt.Errorf("caddy load: %w", err)
	}
	r := ready{Targets: map[string]string{
		"b": "http://" + addrs[0], "c": "http://" + addrs[1], "d": "http://" + addrs[2],
	}}
	return r, func() { _ = caddy.Stop() }, nil
}

// startSidecar runs the mcp-sidecar App (what `mcp-sidecar run` runs) on a
// loopback listener. cacheSize 0 keeps the default cache, -1 disables it.
// With log level info it writes its per-request JSON log line, as deployed,
// to a file in the scratch dir.
func startSidecar(s spec, key string, cacheSize int) (ready, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ready{}, nil, err
	}
	yaml := fmt.Sprintf(`listen: %s
admin_listen: "off"
upstream: %s
resource: %s
authorization_servers:
  - issuer: %s
    jwks_uri: %s
    algorithms: [RS256]
shutdown_timeout: 2s
drain_delay: 0s
`, ln.Addr().String(), s.Upstream, resource, s.Issuer, s.JWKS)
	if cacheSize != 0 {
		yaml += fmt.Sprintf("validation_cache_size: %d\n", cacheSize)
	}
	cfg, err := sidecar.Parse([]byte(yaml))
	if err != nil {
		_ = ln.Close()
		return ready{}, nil, fmt.Errorf("sidecar config: %w", err)
	}
	log := zap.NewNop()
	if s.SidecarLog != "off" {
		log, err = sidecarLogger(cfg.LogLevel, filepath.Join(s.Dir, "sidecar-"+key+".log"))
		if err != nil {
			_ = ln.Close()
			return ready{}, nil, err
		}
	}
	app, err := sidecar.New(cfg, log, nil)
	if err != nil {
		_ = ln.Close()
		return ready{}, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = app.Serve(ctx, ln, nil) }()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		_ = log.Sync()
	}
	return ready{Targets: map[string]string{key: "http://" + ln.Addr().String()}}, stop, nil
}

// sidecarLogger is sidecar.NewLogger (the production JSON logger of
// `mcp-sidecar run`) writing to path instead of stderr.
func sidecarLogger(level, path string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.DisableStacktrace = true
	zc.Sampling = nil // as NewLogger: every request's line is written
	zc.EncoderConfig.TimeKey = "ts"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.OutputPaths = []string{path}
	zc.ErrorOutputPaths = []string{path}
	return zc.Build()
}

// role is a started role, in a child process or in this one.
type role interface {
	Ready() ready
	// StartProfile / StopProfile write a CPU profile of the role's process.
	StartProfile(path string) error
	StopProfile() error
	// PID is the serving process (0: this process, not separable).
	PID() int
	Close()
}

// inprocRole is a role running in this process.
type inprocRole struct {
	r    ready
	stop func()
	prof *os.File
}

func (p *inprocRole) Ready() ready { return p.r }
func (p *inprocRole) Close()       { p.stop() }
func (p *inprocRole) PID() int     { return 0 }

func (p *inprocRole) StartProfile(path string) error {
	f, err := startProfile(path)
	p.prof = f
	return err
}

func (p *inprocRole) StopProfile() error {
	f := p.prof
	p.prof = nil
	return stopProfile(f)
}

func startProfile(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func stopProfile(f *os.File) error {
	if f == nil {
		return nil
	}
	pprof.StopCPUProfile()
	return f.Close()
}

// childRole is a role in a child process. It talks over the child's
// stdin/stdout, one line per message; closing stdin stops the child.
type childRole struct {
	r     ready
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	mu    sync.Mutex
	done  chan struct{}
}

// startChild re-executes this binary as role and waits (at most 30 s)
// for its ready line. The child's stderr goes to <dir>/<role>.stderr.
func startChild(roleName string, s spec) (*childRole, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	sj, _ := json.Marshal(s)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envChild+"="+roleName, envSpec+"="+string(sj))
	errf, err := os.Create(filepath.Join(s.Dir, roleName+".stderr"))
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	cmd.Stderr = errf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &childRole{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	line, err := c.readLine(30 * time.Second)
	if err == nil {
		err = json.Unmarshal([]byte(line), &c.r)
	}
	if err == nil && c.r.Error != "" {
		err = errors.New(c.r.Error)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("child %s: %w (stderr in %s)", roleName, err, errf.Name())
	}
	return c, nil
}

func (c *childRole) readLine(timeout time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := c.out.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(timeout):
		return "", errors.New("no answer from child")
	}
}

func (c *childRole) command(line string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		return err
	}
	ans, err := c.readLine(30 * time.Second)
	if err != nil {
		return err
	}
	if ans != "ok" {
		return errors.New(ans)
	}
	return nil
}

func (c *childRole) Ready() ready                   { return c.r }
func (c *childRole) PID() int                       { return c.cmd.Process.Pid }
func (c *childRole) StartProfile(path string) error { return c.command("prof-start " + path) }
func (c *childRole) StopProfile() error             { return c.command("prof-stop") }

// Close closes the child's stdin (it then shuts down) and kills it by its
// own handle if it has not exited within 10 s.
func (c *childRole) Close() {
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// childMain is the whole program of a child: start the role, print the
// ready line, obey commands until stdin closes, stop. It returns the exit
// status.
func childMain(roleName string) int {
	var s spec
	if err := json.Unmarshal([]byte(os.Getenv(envSpec)), &s); err != nil {
		fmt.Fprintf(os.Stderr, "loadbench child: spec: %v\n", err)
		return 2
	}
	r, stop, err := startRole(roleName, s)
	if err != nil {
		r = ready{Error: err.Error()}
	}
	b, _ := json.Marshal(r)
	fmt.Printf("%s\n", b)
	if err != nil {
		return 1
	}
	defer stop()
	var prof *os.File
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(in.Text()), " ")
		var err error
		switch cmd {
		case "prof-start":
			if prof != nil {
				err = errors.New("profile already running")
				break
			}
			prof, err = startProfile(arg)
		case "prof-stop":
			err = stopProfile(prof)
			prof = nil
		default:
			err = fmt.Errorf("unknown command %q", cmd)
		}
		if err != nil {
			fmt.Printf("error: %v\n", err)
			continue
		}
		fmt.Println("ok")
	}
	_ = stopProfile(prof)
	return 0
}
