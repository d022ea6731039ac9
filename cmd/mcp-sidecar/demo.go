package main

// The `dev-as` and `demo-mcp` commands run the two halves of the `dev`
// demo that are not the front door as standalone processes, so that a
// container setup (docker-compose.yml) can put the sidecar and Caddy in
// front of them. They default to loopback; another address must be given
// explicitly and gets a warning, because the dev authorization server
// hands out tokens to anyone who knows its (well-known) client secret, and
// its login page lets anyone who reaches it sign in as any dev user.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/demomcp"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/devas"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Default addresses of the standalone demo commands (those of `dev`).
const (
	defaultDevASListen   = "127.0.0.1:9090"
	defaultDemoMCPListen = "127.0.0.1:9092"
	demoDrainTimeout     = 5 * time.Second
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// nonLoopbackWarning returns the warning printed when addr does not bind
// loopback only ("" when it does).
func nonLoopbackWarning(cmd, addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err == nil && rs.IsLoopbackHost(host) {
		return ""
	}
	return fmt.Sprintf("mcp-sidecar %s: warning: listening on %s, not on loopback only; this is a demo for containers and private networks, never expose it\n", cmd, addr)
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

func cmdDevAS(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signalContext()
	defer stop()
	return devAS(ctx, args, stdout, stderr, nil)
}

func cmdDemoMCP(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signalContext()
	defer stop()
	return demoMCP(ctx, args, stdout, stderr, nil)
}

// devAS runs the development authorization server until ctx is done.
// ready (may be nil) gets the listener's address once it accepts.
func devAS(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(net.Addr)) int {
	fs := flag.NewFlagSet("dev-as", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", defaultDevASListen, "address to listen on (a non-loopback address needs --issuer and prints a warning)")
	issuer := fs.String("issuer", "", `the exact "iss" of its tokens and the base URL clients use (default http://<listen address>)`)
	var resources listFlag
	fs.Var(&resources, "resource", "an MCP resource URL tokens may be issued for (RFC 8707 resource = token audience); repeat for several, the first is the default")
	clientID := fs.String("client-id", devas.DefaultClientID, "the client_credentials client id")
	clientSecret := fs.String("client-secret", devas.DefaultClientSecret, "the client_credentials client secret")
	ttl := fs.Duration("token-ttl", devas.DefaultTokenTTL, "lifetime of issued tokens")
	var users, scopes listFlag
	fs.Var(&users, "user", "a dev user the login page offers (the token's sub); repeat for several (default "+strings.Join(devas.DefaultUsers(), ", ")+")")
	fs.Var(&scopes, "scope", "a scope the server grants; repeat for several (default "+strings.Join(devas.DefaultScopes(), ", ")+")")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mcp-sidecar dev-as: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	if len(resources) == 0 {
		fmt.Fprintln(stderr, "mcp-sidecar dev-as: at least one --resource URL is required")
		return exitConfig
	}
	warning := nonLoopbackWarning("dev-as", *listen)
	if *issuer == "" && warning != "" {
		fmt.Fprintln(stderr, "mcp-sidecar dev-as: --issuer is required when --listen is not a loopback address")
		return exitConfig
	}
	if *ttl <= 0 {
		fmt.Fprintln(stderr, "mcp-sidecar dev-as: --token-ttl must be positive")
		return exitConfig
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar dev-as: %v\n", err)
		return exitFail
	}
	iss := *issuer
	if iss == "" {
		iss = "http://" + ln.Addr().String()
	}
	as, err := devas.New(devas.Options{Issuer: iss, Resources: resources, ClientID: *clientID, ClientSecret: *clientSecret, TokenTTL: *ttl,
		Users: users, Scopes: scopes})
	if err != nil {
		_ = ln.Close()
		fmt.Fprintf(stderr, "mcp-sidecar dev-as: %v\n", err)
		return exitConfig
	}
	fmt.Fprint(stderr, warning)
	fmt.Fprintf(stdout, `mcp-sidecar dev-as: a development authorization server (tokens for anyone with the client secret
or who reaches its login page; not for production)

  issuer     %s
  listening  %s
  resources  %s
  scopes     %s
  login      %s (authorization code + PKCE S256; users %s, no password)
  register   %s (RFC 7591 dynamic client registration)
  client     %s / %s (client_credentials, RFC 8707 resource)

Get a token for the first resource:

curl -sS -u '%s:%s' -d grant_type=client_credentials -d 'resource=%s' %s
`, as.Issuer(), ln.Addr(), strings.Join(as.Resources(), " "), strings.Join(as.Scopes(), " "),
		as.AuthorizationURL(), strings.Join(as.Users(), ", "), as.RegistrationURL(), as.ClientID(), as.ClientSecret(),
		as.ClientID(), as.ClientSecret(), as.Resources()[0], as.TokenURL())
	return serveUntilDone(ctx, "dev-as", ln, as.Handler(), stderr, ready)
}

// demoMCP runs the demo MCP server (tools echo, admin_echo, whoami, fail) until ctx is
// done, or with --stdio on stdin/stdout until stdin ends.
func demoMCP(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(net.Addr)) int {
	fs := flag.NewFlagSet("demo-mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", defaultDemoMCPListen, "address to listen on (a non-loopback address prints a warning)")
	stateful := fs.Bool("stateful", false, "sessions and the initialize handshake (default: stateless, one POST per tool call)")
	stdio := fs.Bool("stdio", false, "serve MCP on stdin/stdout instead of HTTP, as the command of a front door's stdio block (one process per session; whoami reports $MCP_SUBJECT)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mcp-sidecar demo-mcp: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	if *stdio {
		var httpOnly []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "listen" || f.Name == "stateful" {
				httpOnly = append(httpOnly, "--"+f.Name)
			}
		})
		if len(httpOnly) > 0 {
			verb := map[bool]string{false: "does", true: "do"}[len(httpOnly) > 1]
			fmt.Fprintf(stderr, "mcp-sidecar demo-mcp: %s %s not apply with --stdio (HTTP only)\n", strings.Join(httpOnly, " and "), verb)
			return exitConfig
		}
		// stdout carries the protocol: nothing else may be written to it.
		// stderr goes to the front door's log.
		fmt.Fprintf(stderr, "mcp-sidecar demo-mcp: demo MCP server on stdin/stdout for %s=%q\n", demomcp.SubjectEnv, os.Getenv(demomcp.SubjectEnv))
		if err := demomcp.ServeStdio(ctx, os.Stdin, nopWriteCloser{stdout}); err != nil {
			fmt.Fprintf(stderr, "mcp-sidecar demo-mcp: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar demo-mcp: %v\n", err)
		return exitFail
	}
	fmt.Fprint(stderr, nonLoopbackWarning("demo-mcp", *listen))
	mode := "stateless"
	if *stateful {
		mode = "stateful"
	}
	fmt.Fprintf(stdout, "mcp-sidecar demo-mcp: demo MCP server (tools %s, %s, %s, %s; %s) on http://%s/mcp; put a front door in front of it\n",
		demomcp.ToolEcho, demomcp.ToolAdminEcho, demomcp.ToolWhoami, demomcp.ToolFail, mode, ln.Addr())
	return serveUntilDone(ctx, "demo-mcp", ln, demomcp.Handler(demomcp.Options{Stateless: !*stateful}), stderr, ready)
}

// nopWriteCloser is an io.WriteCloser whose Close does nothing (stdout
// stays open for the caller).
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// serveUntilDone serves h on ln until ctx is done, then drains in-flight
// requests for at most demoDrainTimeout.
func serveUntilDone(ctx context.Context, name string, ln net.Listener, h http.Handler, stderr io.Writer, ready func(net.Addr)) int {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "mcp-sidecar %s: %v\n", name, err)
		return exitFail
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), demoDrainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "mcp-sidecar %s: %v\n", name, err)
		return exitFail
	}
	return exitOK
}
