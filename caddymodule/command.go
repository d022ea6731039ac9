package caddymodule

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/version"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "mcp-healthcheck",
		Usage: "[--address <admin-address>] [--uri <path>] [--timeout <duration>]",
		Short: "Exits 0 if the running Caddy's admin API answers (a container HEALTHCHECK)",
		Long: `
Sends GET <uri> (default /config/) to the admin API of the Caddy instance
running on this machine and exits 0 on a 2xx answer, 1 otherwise. The
admin address is --address, else the CADDY_ADMIN environment variable,
else localhost:2019: the same rules as 'caddy stop' and 'caddy reload'.

It needs no shell or HTTP client in the image, so a distroless image can
use it:

	HEALTHCHECK CMD ["/usr/bin/caddy", "mcp-healthcheck"]

With 'admin off' there is nothing to probe: do not use it then.`,
		Flags: healthcheckFlags(),
		Func:  cmdHealthcheck,
	})
}

func healthcheckFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("mcp-healthcheck", flag.ExitOnError)
	fs.String("address", "", "The admin API address (default: CADDY_ADMIN, else localhost:2019)")
	fs.String("uri", "/config/", "The admin API path to GET")
	fs.Duration("timeout", 5*time.Second, "Give up after this long")
	return fs
}

func cmdHealthcheck(fl caddycmd.Flags) (int, error) {
	addr, err := caddycmd.DetermineAdminAPIAddress(fl.String("address"), nil, "", "")
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	timeout := fl.Duration("timeout")
	if timeout <= 0 {
		return caddy.ExitCodeFailedStartup, errors.New("--timeout must be positive")
	}
	if err := probeAdmin(addr, fl.String("uri"), timeout); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, nil
}

// probeAdmin GETs uri from the admin API at addr within timeout and
// wants a 2xx status.
func probeAdmin(addr, uri string, timeout time.Duration) error {
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := caddycmd.AdminAPIRequest(addr, http.MethodGet, uri, nil, nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		done <- result{code: resp.StatusCode}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return fmt.Errorf("admin API %s: %w", addr, r.err)
		}
		if r.code < 200 || r.code > 299 {
			return fmt.Errorf("admin API %s: GET %s: status %d", addr, uri, r.code)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("admin API %s: no answer within %v", addr, timeout)
	}
}

var logVersion sync.Once

// logModuleVersion logs, once per process, which build of the module runs
// (the version and VCS revision of internal/version).
func logModuleVersion(logger *zap.Logger) {
	logVersion.Do(func() {
		v := version.Get()
		logger.Info("mcp_auth module", zap.String("version", v.Version), zap.String("revision", v.Revision),
			zap.Bool("modified", v.Modified), zap.String("go", v.GoVersion))
	})
}
