package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// defaultHealthcheckBase is the admin endpoint healthcheck probes without
// --url or --config (admin_listen's default).
const defaultHealthcheckBase = "http://" + sidecar.DefaultAdminListen

// cmdHealthcheck probes the admin endpoint, for Docker's HEALTHCHECK in an
// image without a shell or curl:
//
//	HEALTHCHECK CMD ["/usr/local/bin/mcp-sidecar", "healthcheck"]
//
// It GETs /healthz (/readyz with --ready) and exits 0 on 200, 1 otherwise
// (another status, no answer, timeout), 2 on a usage error.
func cmdHealthcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "", "URL to GET (default http://"+sidecar.DefaultAdminListen+"/healthz, or /readyz with --ready)")
	cfgPath := fs.String("config", "", "take the admin address from this config file's admin_listen")
	ready := fs.Bool("ready", false, "probe /readyz (ready to serve) instead of /healthz (alive)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mcp-sidecar healthcheck: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "mcp-sidecar healthcheck: --timeout must be positive")
		return exitConfig
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	target := defaultHealthcheckBase + path
	switch {
	case *rawURL != "" && *cfgPath != "":
		fmt.Fprintln(stderr, "mcp-sidecar healthcheck: --url and --config go alone")
		return exitConfig
	case *rawURL != "":
		u, err := url.Parse(*rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fmt.Fprintf(stderr, "mcp-sidecar healthcheck: --url %q is not an http(s) URL\n", *rawURL)
			return exitConfig
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = path
		}
		target = u.String()
	case *cfgPath != "":
		base, err := sidecar.AdminURL(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "mcp-sidecar healthcheck: %v\n", err)
			return exitConfig
		}
		target = base + path
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar healthcheck: %v\n", err)
		return exitConfig
	}
	client := &http.Client{
		// No proxy from the environment, no redirects: the admin endpoint
		// answers itself.
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-sidecar healthcheck: %s: %v\n", target, err)
		return exitFail
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	line := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "mcp-sidecar healthcheck: %s: %s %s\n", target, resp.Status, line)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: %s\n", target, resp.Status)
	return exitOK
}
