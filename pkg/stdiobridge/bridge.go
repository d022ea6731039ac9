package stdiobridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/promreg"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Env is what a front door gives a Bridge.
type Env struct {
	Logger     *zap.Logger
	Registerer prometheus.Registerer
	// Getenv and ReadFile resolve secret_env (os functions when nil) and
	// PATH/HOME.
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	// Prefix is the option path of the stdio block in errors ("stdio").
	Prefix string
}

// Bridge is an http.Handler serving a stdio MCP server over Streamable
// HTTP, one process per session. It expects requests admitted by the
// mcpproxy Guard (mcpproxy.StateFrom gives the caller).
type Bridge struct {
	opts    Options
	baseEnv []string
	log     *zap.Logger
	m       *metrics

	mu        sync.Mutex
	sessions  map[string]*session
	perCaller map[string]int
	starting  int
	closed    bool
	stop      chan struct{}
	wg        sync.WaitGroup
}

type metrics struct {
	processes prometheus.Gauge
	starts    prometheus.Counter
	exits     *prometheus.CounterVec
	refusals  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{}
	var errs [4]error
	m.processes, errs[0] = promreg.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "mcp_auth", Subsystem: "stdio", Name: "processes",
		Help: "Running stdio MCP server processes (one per session)."}))
	m.starts, errs[1] = promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mcp_auth", Subsystem: "stdio", Name: "starts_total",
		Help: "stdio MCP server processes started."}))
	m.exits, errs[2] = promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mcp_auth", Subsystem: "stdio", Name: "exits_total",
		Help: "stdio MCP server processes ended, by reason (deleted, idle, shutdown, exited, start_failed)."}, []string{"reason"}))
	m.refusals, errs[3] = promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mcp_auth", Subsystem: "stdio", Name: "refusals_total",
		Help: "New sessions refused at a process limit (max_processes, max_per_caller)."}, []string{"limit"}))
	return m, errors.Join(errs[:]...)
}

// New checks o (see Options.Normalized), resolves its secrets and returns
// the bridge; its idle janitor runs until Close.
func New(o Options, env Env) (*Bridge, error) {
	if env.Prefix == "" {
		env.Prefix = "stdio"
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Logger == nil {
		env.Logger = zap.NewNop()
	}
	n, err := o.Normalized(env.Prefix)
	secrets, serr := n.resolveSecrets(env.Prefix, env.Getenv, env.ReadFile)
	if err := errors.Join(err, serr); err != nil {
		return nil, err
	}
	b := &Bridge{opts: n, log: env.Logger, sessions: map[string]*session{}, perCaller: map[string]int{}, stop: make(chan struct{})}
	for _, k := range []string{"PATH", "HOME"} {
		if _, set := n.Env[k]; !set {
			if v := env.Getenv(k); v != "" {
				b.baseEnv = append(b.baseEnv, k+"="+v)
			}
		}
	}
	for k, v := range n.Env {
		b.baseEnv = append(b.baseEnv, k+"="+v)
	}
	b.baseEnv = append(b.baseEnv, secrets...)
	if b.m, err = newMetrics(env.Registerer); err != nil {
		return nil, fmt.Errorf("stdio metrics: %w", err)
	}
	b.wg.Add(1)
	go b.janitor()
	return b, nil
}

// Check validates o and its secrets as New would, starting nothing.
func Check(o Options, env Env) error {
	if env.Prefix == "" {
		env.Prefix = "stdio"
	}
	n, err := o.Normalized(env.Prefix)
	_, serr := n.resolveSecrets(env.Prefix, env.Getenv, env.ReadFile)
	return errors.Join(err, serr)
}

// Close stops every process (stdin closed, then SIGTERM, then SIGKILL,
// each after shutdown_grace) and the janitor; ctx bounds the wait.
func (b *Bridge) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.stop)
	all := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		all = append(all, s)
	}
	b.mu.Unlock()
	for _, s := range all {
		s.stop("shutdown")
	}
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stdio bridge: %w", ctx.Err())
	}
}

// Sessions returns the number of live sessions (processes).
func (b *Bridge) Sessions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

func (b *Bridge) janitor() {
	defer b.wg.Done()
	idle := time.Duration(b.opts.IdleTimeout)
	tick := time.NewTicker(min(max(idle/4, 10*time.Millisecond), 30*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-tick.C:
			b.mu.Lock()
			var idleOnes []*session
			for _, s := range b.sessions {
				if s.idleSince(now) > idle {
					idleOnes = append(idleOnes, s)
				}
			}
			b.mu.Unlock()
			for _, s := range idleOnes {
				s.stop("idle")
			}
		}
	}
}

// message is what the bridge reads of one JSON-RPC message to route it.
type message struct {
	raw    []byte // compact, one line
	id     string // canonical id; "" for none
	rawID  json.RawMessage
	method string
	token  string // params.progressToken or params._meta.progressToken
}

func (m message) isRequest() bool  { return m.method != "" && m.id != "" }
func (m message) isResponse() bool { return m.method == "" && m.id != "" }

func parseMessage(raw []byte) (message, error) {
	var h struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			ProgressToken json.RawMessage `json:"progressToken"`
			Meta          struct {
				ProgressToken json.RawMessage `json:"progressToken"`
			} `json:"_meta"`
		} `json:"params"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return message{}, err
	}
	m := message{raw: raw, method: h.Method, rawID: h.ID, id: canonicalID(h.ID)}
	if t := canonicalID(h.Params.ProgressToken); t != "" {
		m.token = t
	} else {
		m.token = canonicalID(h.Params.Meta.ProgressToken)
	}
	return m, nil
}

// canonicalID keys an id or progress token however its JSON is spelled.
func canonicalID(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return "s" + s
		}
	}
	if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return "n" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return "r" + string(raw)
}

// splitBody returns the compact messages of a (Guard-checked) body.
func splitBody(body []byte) ([]message, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	var raws [][]byte
	if dec.PeekKind() == '[' {
		if _, err := dec.ReadToken(); err != nil {
			return nil, err
		}
		for dec.PeekKind() != ']' {
			v, err := dec.ReadValue()
			if err != nil {
				return nil, err
			}
			raws = append(raws, bytes.Clone(v))
		}
	} else {
		v, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		raws = append(raws, bytes.Clone(v))
	}
	out := make([]message, 0, len(raws))
	for _, r := range raws {
		var c bytes.Buffer
		if err := json.Compact(&c, r); err != nil {
			return nil, err
		}
		m, err := parseMessage(c.Bytes())
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func ownerOf(id *rs.Identity) string { return id.Issuer + "\x00" + id.Subject }

// ServeHTTP serves one Streamable HTTP request of an admitted caller.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := mcpproxy.StateFrom(r.Context())
	if st == nil || st.Identity() == nil {
		// Only reachable when wired without the Guard in front.
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
		return
	}
	id := st.Identity()
	sid := r.Header.Get("Mcp-Session-Id")
	var s *session
	if sid != "" {
		if s = b.lookup(sid, ownerOf(id)); s == nil {
			mcpproxy.WriteRPCError(w, http.StatusNotFound, nil, -32001, "Session not found")
			return
		}
		s.touch()
		defer s.touch()
	}
	switch r.Method {
	case http.MethodDelete:
		if s == nil {
			mcpproxy.WriteRPCError(w, http.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "Bad Request: Mcp-Session-Id required")
			return
		}
		s.stop("deleted")
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		if s == nil {
			mcpproxy.WriteRPCError(w, http.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "Bad Request: Mcp-Session-Id required")
			return
		}
		if r.Header.Get("Last-Event-ID") != "" {
			// No event ids are sent, so there is nothing to resume.
			mcpproxy.WriteRPCError(w, http.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "Bad Request: this server does not resume streams")
			return
		}
		s.serveGET(w, r)
	case http.MethodPost:
		b.servePOST(w, r, s, id)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	}
}

func (b *Bridge) servePOST(w http.ResponseWriter, r *http.Request, s *session, id *rs.Identity) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
		return
	}
	msgs, err := splitBody(body)
	if err != nil || len(msgs) == 0 {
		mcpproxy.WriteRPCError(w, http.StatusBadRequest, nil, jsonrpc.CodeParseError, "Parse error")
		return
	}
	if s == nil {
		if len(msgs) != 1 || msgs[0].method != "initialize" || !msgs[0].isRequest() {
			// A stateless (2026-07-28) client, or a request without its
			// session: every process belongs to one session.
			var rid json.RawMessage
			if len(msgs) == 1 {
				rid = msgs[0].rawID
			}
			mcpproxy.WriteRPCError(w, http.StatusBadRequest, rid, jsonrpc.CodeInvalidRequest,
				"Bad Request: Mcp-Session-Id required; this MCP server runs one process per session, so send initialize first")
			return
		}
		var status int
		s, status = b.start(r.Context(), id)
		if s == nil {
			b.refuseStart(w, status, msgs[0])
			return
		}
		w.Header().Set("Mcp-Session-Id", s.id)
	}
	var reqs []message
	for _, m := range msgs {
		if m.isRequest() {
			reqs = append(reqs, m)
		}
	}
	if len(reqs) == 0 {
		if err := s.send(msgs); err != nil {
			http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	s.servePOSTStream(w, r, msgs, reqs)
}

// refuseStart answers an initialize that got no process.
func (b *Bridge) refuseStart(w http.ResponseWriter, status int, m message) {
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		// The front door's own limit, not the MCP server's answer.
		w = mcpproxy.OwnAnswer(w)
		w.Header().Del("Mcp-Session-Id")
		w.Header().Set("Retry-After", "5")
		http.Error(w, http.StatusText(status), status)
	default:
		f := errormap.Failure{Kind: errormap.KindToolkitLoadFailed, Message: "The MCP server process could not be started.", CanRetry: false}
		writeJSON(w, http.StatusOK, errormap.JSONRPCError(m.rawID, f))
	}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (b *Bridge) lookup(sid, owner string) *session {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sessions[sid]
	if s == nil || s.owner != owner || s.isDead() {
		return nil
	}
	return s
}
