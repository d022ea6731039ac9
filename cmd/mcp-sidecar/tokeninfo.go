package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// cmdTokenInfo prints what the front door would decide for a token read
// from stdin (or --token-file), never echoing the token.
func cmdTokenInfo(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token-info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file")
	tokenFile := fs.String("token-file", "", "read the token from this file instead of stdin")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if *path == "" {
		fmt.Fprintln(stderr, "mcp-sidecar token-info: --config FILE is required")
		return exitConfig
	}
	cfg, code := load(*path, stderr)
	if code != exitOK {
		return code
	}
	var raw []byte
	var err error
	if *tokenFile != "" {
		raw, err = os.ReadFile(*tokenFile)
	} else {
		raw, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	}
	if err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar token-info: read token: %v\n", err)
		return exitFail
	}
	tok := strings.TrimSpace(string(raw))
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	if tok == "" {
		fmt.Fprintln(stderr, "mcp-sidecar token-info: no token on stdin (pipe it in: mcp-sidecar token-info --config c.yaml < token.txt)")
		return exitConfig
	}
	app, err := sidecar.New(cfg, nil, nil)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar: %v\n", err)
		return exitFail
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := app.TokenInfo(ctx, tok)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar token-info: %v\n", err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printReport(stdout, rep)
	}
	if !rep.Accepted {
		return exitFail
	}
	return exitOK
}

func printReport(w io.Writer, r *sidecar.TokenReport) {
	fmt.Fprintf(w, "token sha256 %s…\n", r.Fingerprint)
	if r.Header != nil {
		b, _ := json.Marshal(r.Header)
		fmt.Fprintf(w, "header:  %s\n", b)
	}
	if r.Claims != nil {
		b, _ := json.Marshal(r.Claims)
		fmt.Fprintf(w, "claims:  %s   (unverified)\n", b)
	}
	fmt.Fprintln(w, "checks:")
	for _, s := range r.Steps {
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %-10s %s\n", mark, s.Check, s.Detail)
	}
	if !r.Accepted {
		fmt.Fprintf(w, "decision: REFUSED with %d (%s)\n", r.Status, r.Reason)
		if r.WWWAuthenticate != "" {
			fmt.Fprintf(w, "  WWW-Authenticate: %s\n", r.WWWAuthenticate)
		}
		return
	}
	fmt.Fprintf(w, "decision: ACCEPTED\n  issuer:    %s\n  subject:   %s\n  client_id: %s\n  scopes:    %s\n", r.Issuer, r.Subject, r.ClientID, strings.Join(r.Scopes, " "))
	fmt.Fprintln(w, "headers sent to the MCP server:")
	for _, k := range sidecar.SortedHeaderNames(r.Headers) {
		fmt.Fprintf(w, "  %s: %s\n", k, r.Headers[k])
	}
}
