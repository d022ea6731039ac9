//lint:file-ignore SA1019 sampling (deprecated in 2026-07-28, still in the protocol) is exercised on purpose

// Package stdiotest is a tiny stdio MCP server (go-sdk) for tests of the
// stdio bridge. A test binary runs it as the child process: its TestMain
// calls MaybeServe, and the bridge starts os.Args[0] with EnvServe=1.
package stdiotest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// EnvServe makes MaybeServe serve MCP on stdin/stdout.
const EnvServe = "STDIOTEST_SERVE"

// EnvStubborn makes the server outlive its closed stdin and ignore
// SIGTERM, to test the stop order.
const EnvStubborn = "STDIOTEST_STUBBORN"

// Who is what the whoami tool reports about the process.
type Who struct {
	PID     int      `json:"pid"`
	Subject string   `json:"subject"`
	Email   string   `json:"email"`
	Secret  string   `json:"secret_sha256"` // of $SECRET_TOKEN, never the value
	EnvKeys []string `json:"env_keys"`      // names of every variable it got
}

// MaybeServe serves MCP over stdio and exits when EnvServe is set;
// otherwise it returns at once.
func MaybeServe() {
	if os.Getenv(EnvServe) != "1" {
		return
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "stdiotest", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "pid and environment"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, Who, error) {
		w := Who{PID: os.Getpid(), Subject: os.Getenv("MCP_SUBJECT"), Email: os.Getenv("MCP_EMAIL")}
		if v := os.Getenv("SECRET_TOKEN"); v != "" {
			sum := sha256.Sum256([]byte(v))
			w.Secret = hex.EncodeToString(sum[:])
		}
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			w.EnvKeys = append(w.EnvKeys, k)
		}
		return nil, w, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "exits mid-call"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		fmt.Fprintln(os.Stderr, "stdiotest: crashing on purpose")
		os.Exit(3)
		return nil, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "answers after a while, with progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 2})
		}
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slept"}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "sample", Description: "asks the client to sample"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}})
		if err != nil {
			return nil, nil, err
		}
		text := ""
		if tc, ok := res.Content.(*mcp.TextContent); ok {
			text = tc.Text
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sampled: " + text}}}, nil, nil
	})
	fmt.Fprintln(os.Stderr, "stdiotest: serving for", os.Getenv("MCP_SUBJECT"))
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, "stdiotest:", err)
	}
	if os.Getenv(EnvStubborn) == "1" {
		// Ignores the closed stdin and SIGTERM: only SIGKILL ends it.
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	}
	os.Exit(0)
}
