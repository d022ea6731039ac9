package stdiobridge

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/errormap"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// maxLine bounds one message from the child; a longer line ends it.
const maxLine = 64 << 20

// session is one caller's process.
type session struct {
	b         *Bridge
	id, owner string
	subject   string
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	writeMu   sync.Mutex
	log       *zap.Logger

	mu         sync.Mutex
	pending    map[string]pendingReq // request id → where its answer goes
	tokens     map[string]*stream    // progress token → stream
	posts      []*stream             // open POST streams, oldest first
	standalone *stream
	lastActive time.Time
	dead       bool
	exited     chan struct{} // closed when the child's stdout ended
	stopOnce   sync.Once
	reason     string // why it was stopped; "" = it exited by itself
}

type pendingReq struct {
	s      *stream
	method string
	rawID  json.RawMessage
}

// stream is one open HTTP response the child's messages go to.
type stream struct {
	ch        chan []byte
	remaining int           // POST: requests not yet answered
	answered  chan struct{} // POST: closed when remaining reaches 0
	gone      chan struct{} // closed when the HTTP handler returned
}

func newStream(requests int) *stream {
	return &stream{ch: make(chan []byte, 64), remaining: requests, answered: make(chan struct{}), gone: make(chan struct{})}
}

// deliver queues a message for the stream (blocking while it is full, so
// a slow client slows its own session only); false if the stream is gone.
func (st *stream) deliver(m []byte) bool {
	select {
	case st.ch <- m:
		return true
	case <-st.gone:
		return false
	}
}

// start runs the command for the caller. It returns nil and a status when
// a limit refuses it (503 max_processes, 429 max_per_caller) or the
// command does not start (500).
func (b *Bridge) start(ctx context.Context, id *rs.Identity) (*session, int) {
	owner := ownerOf(id)
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return nil, http.StatusServiceUnavailable
	case len(b.sessions)+b.starting >= b.opts.MaxProcesses:
		b.mu.Unlock()
		b.m.refusals.WithLabelValues("max_processes").Inc()
		b.log.Warn("stdio: max_processes reached; session refused", zap.String("subject", id.Subject), zap.Int("max_processes", b.opts.MaxProcesses))
		return nil, http.StatusServiceUnavailable
	case b.perCaller[owner] >= b.opts.MaxPerCaller:
		b.mu.Unlock()
		b.m.refusals.WithLabelValues("max_per_caller").Inc()
		b.log.Warn("stdio: max_per_caller reached; session refused", zap.String("subject", id.Subject), zap.Int("max_per_caller", b.opts.MaxPerCaller))
		return nil, http.StatusTooManyRequests
	}
	b.starting++
	b.perCaller[owner]++
	b.mu.Unlock()

	s := &session{b: b, id: newSessionID(), owner: owner, subject: id.Subject,
		pending: map[string]pendingReq{}, tokens: map[string]*stream{}, lastActive: time.Now(), exited: make(chan struct{})}
	s.log = b.log.With(zap.String("subject", id.Subject), zap.String("session", s.id))
	err := s.spawn(id)
	b.mu.Lock()
	b.starting--
	if err != nil {
		b.perCaller[owner]--
		if b.perCaller[owner] == 0 {
			delete(b.perCaller, owner)
		}
		b.mu.Unlock()
		b.m.exits.WithLabelValues("start_failed").Inc()
		s.log.Error("stdio: the MCP server command did not start", zap.Strings("command", b.opts.Command), zap.Error(err))
		return nil, http.StatusInternalServerError
	}
	b.sessions[s.id] = s
	b.wg.Add(1)
	b.mu.Unlock()
	b.m.starts.Inc()
	b.m.processes.Inc()
	s.log.Info("stdio: MCP server process started", zap.Int("pid", s.cmd.Process.Pid))
	return s, 0
}

// spawn starts the child with the base environment plus the caller's.
func (s *session) spawn(id *rs.Identity) error {
	o := s.b.opts
	cmd := exec.Command(o.Command[0], o.Command[1:]...)
	cmd.Dir = o.WorkingDir
	env := append([]string(nil), s.b.baseEnv...)
	env = append(env, o.IdentityEnv.Subject+"="+envValue(id.Subject))
	for name, claim := range o.IdentityEnv.Claims {
		if v, ok := claimValue(id.Claims[claim]); ok {
			env = append(env, name+"="+v)
		}
	}
	cmd.Env = env
	// Its own process group: stopping the session stops what it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.stdin = cmd, stdin
	go s.logStderr(stderr)
	go s.read(stdout)
	return nil
}

// envValue drops NUL bytes, which no environment variable can hold.
func envValue(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != 0 {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// claimValue renders a claim for the environment: strings as they are,
// everything else as compact JSON; a missing or null claim sets nothing.
func claimValue(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return envValue(x), true
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", false
		}
		return envValue(string(b)), true
	}
}

// logStderr logs the child's stderr, line by line, with its subject and
// session; it never reaches the client.
func (s *session) logStderr(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		s.log.Info("stdio: MCP server stderr", zap.String("line", sc.Text()))
	}
}

// read routes the child's messages until its stdout ends.
func (s *session) read(stdout io.Reader) {
	br := bufio.NewReaderSize(stdout, 64<<10)
	var err error
	for {
		var line []byte
		line, err = readLine(br)
		if err != nil {
			break
		}
		if len(line) == 0 {
			continue
		}
		m, perr := parseMessage(line)
		if perr != nil {
			s.log.Warn("stdio: the MCP server wrote a line that is not JSON-RPC; dropped")
			continue
		}
		s.route(m)
	}
	if !errors.Is(err, io.EOF) {
		s.log.Warn("stdio: reading the MCP server's output failed", zap.Error(err))
	}
	s.ended()
}

var errLineTooLong = errors.New("a message line over 64 MiB")

func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > maxLine {
			return nil, errLineTooLong
		}
		if err == nil {
			return trimLine(buf), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				return trimLine(buf), nil
			}
			return nil, err
		}
	}
}

func trimLine(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// route sends one message of the child to the stream it belongs to: a
// response to its request's stream, progress to the stream of the request
// that carries the token, anything else (its own requests, other
// notifications) to the newest POST stream still waiting for answers, or
// else the GET stream. With no stream open the message is dropped.
func (s *session) route(m message) {
	s.mu.Lock()
	var target *stream
	switch {
	case m.isResponse():
		p, ok := s.pending[m.id]
		if !ok {
			s.mu.Unlock()
			s.log.Debug("stdio: a response to no pending request; dropped")
			return
		}
		delete(s.pending, m.id)
		target = p.s
	case m.method == "notifications/progress" && m.token != "" && s.tokens[m.token] != nil:
		target = s.tokens[m.token]
	default:
		for i := len(s.posts) - 1; i >= 0 && target == nil; i-- {
			if s.posts[i].remaining > 0 {
				target = s.posts[i]
			}
		}
		if target == nil {
			target = s.standalone
		}
	}
	s.mu.Unlock()
	if target == nil {
		s.log.Debug("stdio: no open stream for a message of the MCP server; dropped", zap.String("method", m.method))
		return
	}
	if !target.deliver(m.raw) {
		return
	}
	if m.isResponse() {
		s.answered(target)
	}
}

// answered counts one answer delivered to st; the last one ends its
// POST stream.
func (s *session) answered(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.remaining--; st.remaining == 0 {
		close(st.answered)
	}
}

// send writes client messages to the child's stdin, one line each.
func (s *session) send(msgs []message) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	for _, m := range msgs {
		line := append(append([]byte(nil), m.raw...), '\n')
		if _, err := s.stdin.Write(line); err != nil {
			return fmt.Errorf("write to the MCP server: %w", err)
		}
	}
	return nil
}

// servePOSTStream registers the requests, forwards the messages and
// streams the answers (and whatever the child sends meanwhile) as SSE
// until every request is answered or the client goes away.
func (s *session) servePOSTStream(w http.ResponseWriter, r *http.Request, msgs, reqs []message) {
	st := newStream(len(reqs))
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		mcpproxy.WriteRPCError(w, http.StatusNotFound, nil, -32001, "Session not found")
		return
	}
	for _, m := range reqs {
		s.pending[m.id] = pendingReq{s: st, method: m.method, rawID: m.rawID}
		if m.token != "" {
			s.tokens[m.token] = st
		}
	}
	s.posts = append(s.posts, st)
	s.mu.Unlock()
	defer s.closeStream(st, reqs)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if err := s.send(msgs); err != nil {
		s.log.Warn("stdio: forwarding to the MCP server failed", zap.Error(err))
		s.failPending(st)
	}
	for {
		select {
		case m := <-st.ch:
			if !writeEvent(w, rc, m) {
				return
			}
		case <-st.answered:
			for {
				select {
				case m := <-st.ch:
					if !writeEvent(w, rc, m) {
						return
					}
				default:
					return
				}
			}
		case <-r.Context().Done():
			return
		}
	}
}

func writeEvent(w http.ResponseWriter, rc *http.ResponseController, data []byte) bool {
	buf := make([]byte, 0, len(data)+24)
	buf = append(buf, "event: message\ndata: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	if _, err := w.Write(buf); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// closeStream forgets a finished POST stream and its unanswered requests.
func (s *session) closeStream(st *stream, reqs []message) {
	close(st.gone)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range reqs {
		if p, ok := s.pending[m.id]; ok && p.s == st {
			delete(s.pending, m.id)
		}
		if m.token != "" && s.tokens[m.token] == st {
			delete(s.tokens, m.token)
		}
	}
	for i, x := range s.posts {
		if x == st {
			s.posts = append(s.posts[:i], s.posts[i+1:]...)
			break
		}
	}
	s.lastActive = time.Now()
}

// serveGET holds the standalone SSE stream for the child's messages that
// belong to no request.
func (s *session) serveGET(w http.ResponseWriter, r *http.Request) {
	st := newStream(0)
	s.mu.Lock()
	if s.standalone != nil {
		s.mu.Unlock()
		mcpproxy.WriteRPCError(w, http.StatusConflict, nil, -32600, "Conflict: a GET stream is already open for this session")
		return
	}
	s.standalone = st
	s.mu.Unlock()
	defer func() {
		close(st.gone)
		s.mu.Lock()
		if s.standalone == st {
			s.standalone = nil
		}
		s.lastActive = time.Now()
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	for {
		select {
		case m := <-st.ch:
			if !writeEvent(w, rc, m) {
				return
			}
		case <-s.exited:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (s *session) touch() {
	s.mu.Lock()
	s.lastActive = time.Now()
	s.mu.Unlock()
}

// idleSince is how long the session has had no request and no stream.
func (s *session) idleSince(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.posts) > 0 || s.standalone != nil {
		return 0
	}
	return now.Sub(s.lastActive)
}

func (s *session) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// crashFailure answers requests the process will never answer.
var crashFailure = errormap.Failure{Kind: errormap.KindUpstreamServerError,
	Message: "The MCP server process ended before it answered; start a new session.", CanRetry: true}

// failPending answers every pending request (of st, or all when st is
// nil) with the agent-safe error.
func (s *session) failPending(only *stream) {
	s.mu.Lock()
	var fails []pendingReq
	for id, p := range s.pending {
		if only == nil || p.s == only {
			fails = append(fails, p)
			delete(s.pending, id)
		}
	}
	s.mu.Unlock()
	for _, p := range fails {
		var body []byte
		if p.method == "tools/call" {
			body = errormap.JSONRPCResult(p.rawID, errormap.ToolErrorResult(crashFailure))
		} else {
			body = errormap.JSONRPCError(p.rawID, crashFailure)
		}
		if p.s.deliver(body) {
			s.answered(p.s)
		}
	}
}

// ended runs once the child's stdout is closed: the session is dead, its
// pending requests get the agent-safe error, and it leaves the bridge so
// the next request of the session gets 404.
func (s *session) ended() {
	s.mu.Lock()
	s.dead = true // lookups fail from here: the next request gets 404
	s.mu.Unlock()
	close(s.exited)
	s.failPending(nil)
	// Reap the process: if it closed stdout but lives on, stop it.
	s.terminate("")
	b := s.b
	reason := s.stopReason()
	if reason == "" {
		reason = "exited"
		s.log.Warn("stdio: the MCP server process exited", zap.String("state", s.cmd.ProcessState.String()))
	} else {
		s.log.Info("stdio: MCP server process stopped", zap.String("reason", reason))
	}
	b.m.exits.WithLabelValues(reason).Inc()
	b.m.processes.Dec()
	b.mu.Lock()
	delete(b.sessions, s.id)
	if b.perCaller[s.owner]--; b.perCaller[s.owner] <= 0 {
		delete(b.perCaller, s.owner)
	}
	b.mu.Unlock()
	b.wg.Done()
}

func (s *session) stopReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// stop ends the session now: its next request gets 404 at once, and the
// process is stopped (terminate) in the background.
func (s *session) stop(reason string) {
	s.mu.Lock()
	s.dead = true
	if s.reason == "" {
		s.reason = reason
	}
	s.mu.Unlock()
	go s.terminate(reason)
}

// terminate stops the process in the MCP stdio order: stdin closed, then
// SIGTERM, then SIGKILL, waiting shutdown_grace before each signal; it
// signals the whole process group. Safe to call more than once.
func (s *session) terminate(reason string) {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		if s.reason == "" {
			s.reason = reason
		}
		s.mu.Unlock()
		grace := time.Duration(s.b.opts.ShutdownGrace)
		s.writeMu.Lock()
		_ = s.stdin.Close()
		s.writeMu.Unlock()
		// Wait only once stdout is drained: os/exec closes the pipe in
		// Wait, which would cut the reader off mid-line.
		waited := make(chan struct{})
		go func() { <-s.exited; _ = s.cmd.Wait(); close(waited) }()
		pgid := -s.cmd.Process.Pid
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			select {
			case <-waited:
				_ = syscall.Kill(pgid, syscall.SIGKILL) // anything it left behind
				return
			case <-time.After(grace):
			}
			_ = syscall.Kill(pgid, sig)
		}
		<-waited
	})
}
