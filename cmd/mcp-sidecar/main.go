// Command mcp-sidecar is the MCP auth front door as a standalone binary: it
// validates OAuth 2.1 bearer tokens from several authorization servers,
// publishes Protected Resource Metadata, and forwards authorized requests
// to an MCP server with the caller's identity as headers.
//
// Usage:
//
//	mcp-sidecar run --config FILE       serve
//	mcp-sidecar validate --config FILE  check a config and exit
//	mcp-sidecar healthcheck [--ready]   probe the admin endpoint (Docker HEALTHCHECK)
//	mcp-sidecar dev [--stdio]           demo on loopback with a built-in AS and MCP server
//	mcp-sidecar dev-as --resource URL   the demo's authorization server alone (for containers)
//	mcp-sidecar demo-mcp [--stdio]      the demo's MCP server alone (for containers, or over stdio)
//	mcp-sidecar version
//
// A configuration error names the field and exits with status 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/version"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/ratelimit"
)

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  mcp-sidecar run --config FILE        serve the front door
  mcp-sidecar validate --config FILE   check a config file and exit (2 on error)
  mcp-sidecar healthcheck [flags]      GET the admin /healthz (--ready: /readyz); exit 0 on 200, else 1
                                       (--url URL or --config FILE name the admin endpoint; --timeout 3s)
  mcp-sidecar dev [flags]              demo: dev authorization server + demo MCP server + sidecar, loopback only
                                       (--stdio: the demo MCP server as a stdio process per session)
  mcp-sidecar dev-as --resource URL    the demo's dev authorization server alone (e.g. in a container)
  mcp-sidecar demo-mcp [--listen ADDR] the demo MCP server alone (e.g. in a container)
  mcp-sidecar demo-mcp --stdio         the demo MCP server on stdin/stdout (a stdio block's command)
  mcp-sidecar version                  print the version and the VCS revision it was built from
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitConfig
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(args[1:], stdout, stderr) // healthcheck.go
	case "dev":
		return cmdDev(args[1:], stdout, stderr)
	case "token-info":
		return cmdTokenInfo(args[1:], os.Stdin, stdout, stderr)
	case "dev-as":
		return cmdDevAS(args[1:], stdout, stderr)
	case "demo-mcp":
		return cmdDemoMCP(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "mcp-sidecar", versionString())
		return exitOK
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "mcp-sidecar: unknown command %q\n", args[0])
	usage(stderr)
	return exitConfig
}

// versionString is the release version and VCS revision (internal/version:
// the build info, or -ldflags "-X …/internal/version.Version=v0.2.0").
func versionString() string { return version.String() }

func configFlag(name string, args []string, stderr io.Writer) (string, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file")
	if err := fs.Parse(args); err != nil {
		return "", exitConfig
	}
	if *path == "" {
		fmt.Fprintf(stderr, "mcp-sidecar %s: --config FILE is required\n", name)
		return "", exitConfig
	}
	return *path, exitOK
}

func load(path string, stderr io.Writer) (*sidecar.Config, int) {
	cfg, err := sidecar.LoadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar: config %s:\n", path)
		for _, e := range frontdoor.Problems(err) {
			fmt.Fprintf(stderr, "  %v\n", e)
		}
		return nil, exitConfig
	}
	return cfg, exitOK
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	path, code := configFlag("validate", args, stderr)
	if code != exitOK {
		return code
	}
	cfg, code := load(path, stderr)
	if code != exitOK {
		return code
	}
	backend := "upstream " + cfg.Upstream
	if cfg.Stdio != nil {
		backend = fmt.Sprintf("stdio command %q", cfg.Stdio.Command)
	}
	fmt.Fprintf(stdout, "config %s is valid: resource %s, %s, %d authorization server(s)\n",
		path, cfg.Resource, backend, len(cfg.AuthorizationServers))
	return exitOK
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file")
	upstream := fs.String("upstream", "", "MCP server URL (only without --config)")
	listen := fs.String("listen", "", "front door address (only without --config)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	var (
		cfg  *sidecar.Config
		code int
	)
	switch {
	case *path != "" && (*upstream != "" || *listen != ""):
		fmt.Fprintln(stderr, "mcp-sidecar run: --upstream and --listen go without --config (put them in the file)")
		return exitConfig
	case *path != "":
		if cfg, code = load(*path, stderr); code != exitOK {
			return code
		}
	case *upstream != "":
		var err error
		if cfg, err = sidecar.FromFlags(*upstream, *listen); err != nil {
			fmt.Fprintln(stderr, "mcp-sidecar: configuration from flags and environment:")
			for _, e := range frontdoor.Problems(err) {
				fmt.Fprintf(stderr, "  %v\n", e)
			}
			return exitConfig
		}
	default:
		fmt.Fprintln(stderr, "mcp-sidecar run: --config FILE is required (or --upstream URL with MCP_RESOURCE_SERVER_* variables)")
		return exitConfig
	}
	log, err := sidecar.NewLogger(cfg.Level())
	if err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar: %v\n", err)
		return exitConfig
	}
	defer log.Sync() //nolint:errcheck
	// go-redis (a Redis rate-limit store) logs through ours, not stderr.
	ratelimit.SetRedisLogger(log.Named("redis"))
	app, err := sidecar.New(cfg, log, nil)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar: %v\n", err)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *path != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go app.WatchReload(ctx, hup, *path)
		// watch_config: reload when the file or its secret files change
		// (Kubernetes ConfigMap/Secret updates included).
		go func() {
			if err := app.WatchConfig(ctx, *path); err != nil {
				log.Warn("config file watch unavailable; SIGHUP still reloads", zap.Error(err))
			}
		}()
	}
	if err := app.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar: %v\n", err)
		return exitFail
	}
	return exitOK
}

func cmdDev(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o sidecar.DevOptions
	fs.StringVar(&o.Listen, "listen", sidecar.DefaultListen, "front door address (loopback)")
	fs.StringVar(&o.AdminListen, "admin-listen", sidecar.DefaultAdminListen, "admin address (loopback)")
	fs.StringVar(&o.ASListen, "as-listen", "127.0.0.1:9090", "dev authorization server address (loopback)")
	fs.StringVar(&o.MCPListen, "mcp-listen", "127.0.0.1:9092", "demo MCP server address (loopback; unused with --stdio)")
	fs.StringVar(&o.LogLevel, "log-level", "warn", "log level")
	fs.BoolVar(&o.Stdio, "stdio", false, "run the demo MCP server as a stdio process per session (mcp-sidecar demo-mcp --stdio) instead of over HTTP")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := sidecar.Dev(ctx, o, stdout, nil); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "mcp-sidecar: %v\n", err)
		return exitFail
	}
	return exitOK
}
