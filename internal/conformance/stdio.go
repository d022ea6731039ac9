package conformance

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// StdioOptions are the stdio block of [SidecarStdioFrontDoor] (the keys of
// the sidecar's `stdio:` YAML block that these tests set).
type StdioOptions struct {
	// Command is the program and its arguments.
	Command []string
	// Env is the fixed environment of each process.
	Env map[string]string
	// IdentityClaims maps variables to token claims (identity_env.claims;
	// the subject is always in MCP_SUBJECT).
	IdentityClaims map[string]string
	// SecretEnv maps a variable of the process to the variable of the
	// sidecar's environment its value comes from (secret_env).
	SecretEnv map[string]string
	// MaxProcesses and MaxPerCaller: zero gives [StdioTestMaxProcesses].
	// Every conformance scenario opens its own session with the same
	// token and most never DELETE it, so the defaults (200, 4) would
	// refuse the fifth scenario.
	MaxProcesses, MaxPerCaller int
	// IdleTimeout: zero gives [StdioTestIdleTimeout].
	IdleTimeout time.Duration
	// ShutdownGrace: zero gives [StdioTestShutdownGrace].
	ShutdownGrace time.Duration
}

// Defaults of [StdioOptions] in these tests.
const (
	StdioTestMaxProcesses  = 200
	StdioTestIdleTimeout   = 2 * time.Minute
	StdioTestShutdownGrace = time.Second
)

// yaml renders the stdio block (JSON flow values are YAML).
func (o StdioOptions) yaml(t testing.TB) string {
	t.Helper()
	or := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	ord := func(v, d time.Duration) time.Duration {
		if v == 0 {
			return d
		}
		return v
	}
	flow := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("conformance: stdio block: %v", err)
		}
		return string(b)
	}
	cmd := flow(o.Command)
	type secret struct {
		Name string `json:"name"`
		Env  string `json:"env"`
	}
	secrets := []secret{}
	for _, name := range slices.Sorted(maps.Keys(o.SecretEnv)) {
		secrets = append(secrets, secret{name, o.SecretEnv[name]})
	}
	return fmt.Sprintf(`stdio:
  command: %s
  env: %s
  identity_env: {claims: %s}
  secret_env: %s
  max_processes: %d
  max_per_caller: %d
  idle_timeout: %s
  shutdown_grace: %s`, cmd, flow(o.Env), flow(o.IdentityClaims), flow(secrets), or(o.MaxProcesses, StdioTestMaxProcesses), or(o.MaxPerCaller, StdioTestMaxProcesses),
		ord(o.IdleTimeout, StdioTestIdleTimeout), ord(o.ShutdownGrace, StdioTestShutdownGrace))
}

// SidecarStdioFrontDoor is [SidecarFrontDoor] with a `stdio:` block in
// place of the upstream: the sidecar runs o.Command as one child process
// per MCP session. It returns the MCP endpoint and a token for it.
func SidecarStdioFrontDoor(t testing.TB, o StdioOptions) (url, token string) {
	t.Helper()
	return sidecarFrontDoor(t, o.yaml(t))
}

// caddyfile renders the options as an mcp_stdio block.
func (o StdioOptions) caddyfile() string {
	or := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	ord := func(v, d time.Duration) time.Duration {
		if v == 0 {
			return d
		}
		return v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mcp_stdio {\n\t\tcommand %s\n", quoteAll(o.Command))
	for _, k := range slices.Sorted(maps.Keys(o.Env)) {
		fmt.Fprintf(&b, "\t\tenv %s %q\n", k, o.Env[k])
	}
	if len(o.IdentityClaims) > 0 {
		b.WriteString("\t\tidentity_env {\n\t\t\tclaims {\n")
		for _, k := range slices.Sorted(maps.Keys(o.IdentityClaims)) {
			fmt.Fprintf(&b, "\t\t\t\t%s %s\n", k, o.IdentityClaims[k])
		}
		b.WriteString("\t\t\t}\n\t\t}\n")
	}
	if len(o.SecretEnv) > 0 {
		b.WriteString("\t\tsecret_env {\n")
		for _, k := range slices.Sorted(maps.Keys(o.SecretEnv)) {
			fmt.Fprintf(&b, "\t\t\t%s env %s\n", k, o.SecretEnv[k])
		}
		b.WriteString("\t\t}\n")
	}
	fmt.Fprintf(&b, "\t\tmax_processes %d\n\t\tmax_per_caller %d\n\t\tidle_timeout %s\n\t\tshutdown_grace %s\n\t}",
		or(o.MaxProcesses, StdioTestMaxProcesses), or(o.MaxPerCaller, StdioTestMaxProcesses),
		ord(o.IdleTimeout, StdioTestIdleTimeout), ord(o.ShutdownGrace, StdioTestShutdownGrace))
	return b.String()
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

// The npm stdio MCP server (tools/npm) and its bin.
const (
	serverEverythingPackage = "@modelcontextprotocol/server-everything"
	serverEverythingBin     = "mcp-server-everything"
)

// ServerEverythingCommand returns the command that runs the pinned npm
// @modelcontextprotocol/server-everything over stdio with Node 22:
// [node, <its bin script>, "stdio"]. It calls [testenv.RequireTools], so it
// skips under -short.
func ServerEverythingCommand(t testing.TB) []string {
	t.Helper()
	return []string{testenv.Node(t), npmBin(t, serverEverythingPackage, serverEverythingBin), "stdio"}
}
