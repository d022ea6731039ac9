package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/behaviour"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/stdiotest"
)

func TestMain(m *testing.M) {
	stdiotest.MaybeServe() // the child process of the mcp_stdio tests
	os.Exit(m.Run())
}

const (
	stdioSecret      = "caddy-stdio-s3cret-never-logged"
	stdioSecretEnv   = "CADDY_STDIO_TEST_SECRET"
	stdioOtherEnv    = "CADDY_STDIO_TEST_OTHER"
	stdioInitRequest = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
)

// stdioSite is a Caddy site with mcp_auth in front of mcp_stdio, whose
// child process is this test binary (stdiotest).
type stdioSite struct {
	key      jwkstest.Key
	as       *jwkstest.Server
	addr     string
	resource string
	config   string
}

func newStdioSite(t *testing.T) *stdioSite {
	t.Helper()
	e := &stdioSite{key: jwkstest.NewKey(t, "k", "ES256"), addr: behaviour.FreeAddr(t)}
	e.as = jwkstest.NewServer(t, e.key)
	e.resource = "http://" + e.addr + "/mcp"
	t.Setenv(stdioSecretEnv, stdioSecret)
	t.Setenv(stdioOtherEnv, "other-secret")
	file := filepath.Join(t.TempDir(), "file-secret")
	if err := os.WriteFile(file, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.config = globals(t, "") + fmt.Sprintf(`http://:%s {
	bind 127.0.0.1
	mcp_auth /mcp {
		resource %s
		authorization_server %s {
			jwks_uri %s
		}
	}
	mcp_stdio /mcp {
		command %q -test.run=^$
		env %s 1
		identity_env {
			claims {
				MCP_EMAIL email
			}
		}
		secret_env {
			SECRET_TOKEN {env.%s}
			FILE_SECRET file %s
			ENV_SECRET env %s
		}
		max_per_caller 3
		shutdown_grace 2s
	}
	metrics /metrics
}
`, portOf(e.addr), e.resource, e.as.Issuer, e.as.JWKSURL(), os.Args[0], stdiotest.EnvServe, stdioSecretEnv, file, stdioOtherEnv)
	return e
}

func (e *stdioSite) token(t *testing.T, sub string) string {
	return e.key.Sign(t, jwt.MapClaims{"iss": e.as.Issuer, "sub": sub, "aud": e.resource, "exp": time.Now().Add(time.Hour).Unix(),
		"email": sub + "@example.com", "scope": "mcp:read"}, nil)
}

// bearerTransport adds the caller's token, on a fresh connection each
// time (a reload closes idle ones).
// connect opens a Go SDK client session through Caddy as sub.
func (e *stdioSite) connect(t *testing.T, sub string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	return stdiotest.Connect(t, e.resource, e.token(t, sub), opts)
}

func callWhoami(t *testing.T, cs *mcp.ClientSession) stdiotest.Who {
	return stdiotest.CallWhoami(t, cs)
}

func pidAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestStdioInCaddy: mcp_stdio behind mcp_auth runs one process per
// session with the caller's identity and the secrets; sessions belong to
// their caller; sampling flows both ways; a reload with the same options
// keeps the bridge and its sessions; stopping Caddy stops the processes.
func TestStdioInCaddy(t *testing.T) {
	e := newStdioSite(t)
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(e.config), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfgJSON), stdioSecret) {
		t.Fatal("the adapted JSON holds the expanded secret")
	}
	js := string(cfgJSON)
	if i, j := strings.Index(js, `"handler":"mcp_auth"`), strings.Index(js, `"handler":"mcp_stdio"`); i < 0 || j < 0 || i > j {
		t.Fatalf("mcp_auth must come before mcp_stdio:\n%s", js)
	}
	loadCaddy(t, e.config)

	// Sampling is deprecated (SEP-2577) but still bridged: it must flow.
	//lint:ignore SA1019 checks a deprecated feature still works
	pong := func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		//lint:ignore SA1019 checks a deprecated feature still works
		return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "pong"}}, nil
	}
	//lint:ignore SA1019 checks a deprecated feature still works
	alice := e.connect(t, "alice", &mcp.ClientOptions{CreateMessageHandler: pong})
	a := callWhoami(t, alice)
	b := callWhoami(t, e.connect(t, "bob", nil))
	if a.PID == b.PID || a.Subject != "alice" || b.Subject != "bob" || a.Email != "alice@example.com" || b.Email != "bob@example.com" {
		t.Fatalf("alice %+v, bob %+v", a, b)
	}
	sum := sha256.Sum256([]byte(stdioSecret))
	if a.Secret != hex.EncodeToString(sum[:]) || b.Secret != a.Secret {
		t.Errorf("the children did not get SECRET_TOKEN from {env.%s}", stdioSecretEnv)
	}
	want := []string{"ENV_SECRET", "FILE_SECRET", "HOME", "MCP_EMAIL", "MCP_SUBJECT", "PATH", "SECRET_TOKEN", stdiotest.EnvServe}
	if os.Getenv("HOME") == "" {
		want = slices.DeleteFunc(want, func(k string) bool { return k == "HOME" })
	}
	if got := slices.Sorted(slices.Values(a.EnvKeys)); !slices.Equal(got, want) {
		t.Errorf("child environment %v, want exactly %v", got, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "sample"})
	if err != nil || len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "sampled: pong" {
		t.Fatalf("sample = %+v, %v", res, err)
	}

	// Bob cannot use a session of alice's.
	resp, body := mcpPost(t, e.resource, e.token(t, "alice"), "", stdioInitRequest)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" || !strings.Contains(body, `"serverInfo"`) {
		t.Fatalf("initialize = %d %q %q", resp.StatusCode, sid, body)
	}
	resp, body = mcpPost(t, e.resource, e.token(t, "bob"), sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if resp.StatusCode != 404 || body != `{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}` {
		t.Fatalf("bob with alice's session = %d %q", resp.StatusCode, body)
	}

	// The same config again: the pooled bridge, its sessions and
	// processes carry over.
	key := onlyBridgeKey(t)
	loadCaddy(t, e.config)
	http.DefaultClient.CloseIdleConnections()
	if k := onlyBridgeKey(t); k != key {
		t.Fatal("the reload started another bridge")
	}
	if refs, _ := bridges.References(key); refs != 1 {
		t.Fatalf("bridge references after the reload = %d, want 1", refs)
	}
	if again := callWhoami(t, alice); again.PID != a.PID {
		t.Fatalf("after the reload alice's session runs in pid %d, was %d", again.PID, a.PID)
	}
	resp, body = mcpPost(t, e.resource, e.token(t, "alice"), sid, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"whoami"`) {
		t.Fatalf("alice's raw session after the reload = %d %q", resp.StatusCode, body)
	}
	// The kept bridge reports on the new config's registry.
	mresp, err := http.Get("http://" + e.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mb), "\nmcp_auth_stdio_processes 3\n") || !strings.Contains(string(mb), "\nmcp_auth_stdio_starts_total") {
		t.Errorf("metrics after the reload lack mcp_auth_stdio_processes 3:\n%s", grepLines(string(mb), "mcp_auth_stdio"))
	}

	// Stopping Caddy releases the last reference: the processes stop.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok := bridges.References(key); ok {
		t.Fatal("bridge still pooled after caddy stop")
	}
	for _, pid := range []int{a.PID, b.PID} {
		deadline := time.Now().Add(10 * time.Second)
		for pidAlive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs after caddy stop", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func onlyBridgeKey(t *testing.T) string {
	t.Helper()
	var keys []string
	bridges.Range(func(k, _ any) bool { keys = append(keys, k.(string)); return true })
	if len(keys) != 1 {
		t.Fatalf("%d pooled bridges, want 1", len(keys))
	}
	return keys[0]
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestStdioWithoutMCPAuth: reached without mcp_auth in front, mcp_stdio
// serves nobody.
func TestStdioWithoutMCPAuth(t *testing.T) {
	addr := behaviour.FreeAddr(t)
	loadCaddy(t, globals(t, "")+fmt.Sprintf("http://:%s {\n\tbind 127.0.0.1\n\tmcp_stdio {\n\t\tcommand %q -test.run=^$\n\t\tenv %s 1\n\t}\n}\n", portOf(addr), os.Args[0], stdiotest.EnvServe))
	resp, body := mcpPost(t, "http://"+addr+"/", "whatever", "", stdioInitRequest)
	if resp.StatusCode != 403 {
		t.Fatalf("without mcp_auth = %d %q, want 403", resp.StatusCode, body)
	}
}

// TestStdioCaddyfileErrors: `caddy adapt` refuses what `mcp-sidecar
// validate` refuses, naming the sidecar's option path and the line.
func TestStdioCaddyfileErrors(t *testing.T) {
	t.Setenv("CADDY_STDIO_SET", "x")
	base := "http://:8080 {\n\tmcp_auth {\n\t\tresource https://mcp.example.com/mcp\n\t\tauthorization_server https://as.example.com\n\t}\n\tmcp_stdio {\n\t\tcommand mcp-server --flag\n\t\tsecret_env {\n\t\t\tTOKEN env CADDY_STDIO_SET\n\t\t}\n\t}\n}\n"
	cases := []struct {
		name, from, to, want string
	}{
		{"empty command", "command mcp-server --flag", "command", "mcp_stdio command (stdio.command): is required (the program and its arguments), at Caddyfile:7"},
		{"no command", "command mcp-server --flag\n", "", "mcp_stdio stdio.command: is required (the program and its arguments), in Caddyfile"},
		{"negative max_processes", "command mcp-server --flag", "command mcp-server --flag\n\t\tmax_processes -1", "mcp_stdio max_processes (stdio.max_processes): must be positive, at Caddyfile:8"},
		{"secret from an unset variable", "TOKEN env CADDY_STDIO_SET", "TOKEN env CADDY_STDIO_UNSET", "mcp_stdio secret_env (stdio.secret_env[0].env): environment variable CADDY_STDIO_UNSET is empty or unset, at Caddyfile:9"},
		{"secret placeholder unset", "TOKEN env CADDY_STDIO_SET", "TOKEN {env.CADDY_STDIO_UNSET}", "mcp_stdio secret_env (stdio.secret_env[0]): is empty after placeholders (is the environment variable set?), at Caddyfile:9"},
		{"secret file missing", "TOKEN env CADDY_STDIO_SET", "TOKEN file /nonexistent/secret", "mcp_stdio secret_env (stdio.secret_env[0].file): cannot read /nonexistent/secret"},
		{"bad variable name", "command mcp-server --flag", "command mcp-server --flag\n\t\tenv 1BAD x", `mcp_stdio env (stdio.env.1BAD): "1BAD" is not an environment variable name`},
		{"name set twice", "command mcp-server --flag", "command mcp-server --flag\n\t\tenv TOKEN x", "mcp_stdio secret_env (stdio.secret_env[0].name): TOKEN is already set by stdio.env.TOKEN, at Caddyfile:10"},
		{"empty claim", "command mcp-server --flag", "command mcp-server --flag\n\t\tidentity_env {\n\t\t\tclaims {\n\t\t\t\tMCP_EMAIL \"\"\n\t\t\t}\n\t\t}", "mcp_stdio identity_env (stdio.identity_env.claims.MCP_EMAIL): claim name is empty, at Caddyfile:10"},
		{"two errors at once", "command mcp-server --flag", "command\n\t\tshutdown_grace -1s", "stdio.shutdown_grace"},
		{"bad duration", "command mcp-server --flag", "command mcp-server --flag\n\t\tidle_timeout 10", `idle_timeout: invalid duration "10"`},
		{"unknown subdirective", "command mcp-server --flag", "command mcp-server --flag\n\t\tmax_procs 3", `unknown subdirective "max_procs"`},
		{"upstream", "command mcp-server --flag", "command mcp-server --flag\n\t\tupstream http://x", "use reverse_proxy instead of mcp_stdio"},
		{"command twice", "command mcp-server --flag", "command a\n\t\tcommand b", "command: set twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cf := strings.Replace(base, tc.from, tc.to, 1)
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), map[string]any{"filename": "Caddyfile"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error = %v\nwant it to contain %q\n%s", err, tc.want, cf)
			}
		})
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(base), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("valid Caddyfile: %v", err)
	}
	// The JSON is the sidecar's stdio block, flat, without defaults.
	if !strings.Contains(string(out), `{"command":["mcp-server","--flag"],"handler":"mcp_stdio","identity_env":{},"secret_env":[{"env":"CADDY_STDIO_SET","name":"TOKEN"}]}`) {
		t.Fatalf("adapted JSON:\n%s", out)
	}
}

// TestStdioCaddyfileFull: every subdirective of the documented example
// lands in the sidecar's option.
func TestStdioCaddyfileFull(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "t")
	t.Setenv("OTHER_VAR", "o")
	secret := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(secret, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := `:8080 {
	mcp_stdio {
		command npx -y @modelcontextprotocol/server-filesystem /data
		env LOG_LEVEL info
		env {
			A 1
			B ""
		}
		identity_env {
			subject WHO
			claims {
				MCP_EMAIL email
			}
		}
		secret_env {
			GITHUB_TOKEN {env.GITHUB_TOKEN}
			API_KEY file ` + secret + `
			OTHER env OTHER_VAR
		}
		working_dir /srv
		idle_timeout 10m
		max_processes 200
		max_per_caller 4
		shutdown_grace 5s
	}
}
`
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	var got Stdio
	for _, srv := range cfg.Apps.HTTP.Servers {
		if err := json.Unmarshal(srv.Routes[0].Handle[0], &got); err != nil {
			t.Fatal(err)
		}
	}
	g, _ := json.Marshal(got.Options)
	want := `{"command":["npx","-y","@modelcontextprotocol/server-filesystem","/data"],"env":{"A":"1","B":"","LOG_LEVEL":"info"},"identity_env":{"subject":"WHO","claims":{"MCP_EMAIL":"email"}},"secret_env":[{"name":"GITHUB_TOKEN","value":"{env.GITHUB_TOKEN}"},{"name":"API_KEY","file":"` + secret + `"},{"name":"OTHER","env":"OTHER_VAR"}],"working_dir":"/srv","idle_timeout":"10m0s","max_processes":200,"max_per_caller":4,"shutdown_grace":"5s"}`
	if string(g) != want {
		t.Fatalf("options\n%s\nwant\n%s", g, want)
	}
}
