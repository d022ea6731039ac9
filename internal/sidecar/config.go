// Package sidecar is the mcp-sidecar binary's glue around pkg/frontdoor:
// the YAML loader (yamlload.go: every unknown key and bad value at once,
// with line and path), the sidecar's own keys, Arcade's environment
// variables, the main and admin listeners, logging, metrics, SIGHUP
// reload, graceful shutdown, token-info and the dev demo.
package sidecar

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Defaults of the sidecar's own keys.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultAdminListen     = "127.0.0.1:9091"
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultReadHeaderTimeout bounds how long a client may take to send
	// a request's headers.
	DefaultReadHeaderTimeout = 10 * time.Second
)

// Config is the sidecar's YAML configuration: its own keys (listeners,
// logging, shutdown) and the front door's frontdoor.Options, inlined, so
// the Caddy module and the sidecar fill the same option type. A Config is
// only read; the effective values with defaults come from its methods and
// from the compiled front door.
type Config struct {
	// Listen is the front door's address (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// AdminListen serves /healthz, /readyz and /metrics (default
	// 127.0.0.1:9091); "off" disables it.
	AdminListen string `yaml:"admin_listen"`
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string `yaml:"log_level"`
	// LogSampling samples the access log when set (default: every
	// request is logged). See observability.go.
	LogSampling *LogSampling `yaml:"log_sampling"`
	// Tracing turns on OpenTelemetry traces (OTLP). See observability.go.
	Tracing *TracingOptions `yaml:"tracing"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM (default 30s).
	ShutdownTimeout rs.Duration `yaml:"shutdown_timeout"`
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers, on both listeners (default 10s; the connection is
	// then closed). The body has body_read_timeout; there is deliberately
	// no whole-request read timeout, which would end SSE streams.
	ReadHeaderTimeout rs.Duration `yaml:"read_header_timeout"`
	// WatchConfig reloads the config file, and the files its secrets
	// come from, when they change (default true; only with a config
	// file). See watch.go.
	WatchConfig *bool `yaml:"watch_config"`
	// DrainDelay is how long SIGTERM keeps serving new requests, with
	// /readyz already 503, before open SSE streams are ended and the
	// listener closes (default 5s; 0s: none). See drain.go.
	DrainDelay *rs.Duration `yaml:"drain_delay"`
	// Readiness is when /readyz reports ready: "any" issuer's keys loaded
	// (default) or "all" of them.
	Readiness string `yaml:"readiness"`
	// AdminDetail shows each issuer's state (URLs, errors) in /readyz
	// (default true); false leaves only ready and draining.
	AdminDetail *bool `yaml:"admin_detail"`
	// AdminAllow restricts the admin endpoint to these client addresses
	// (CIDRs or IPs; loopback is always allowed); others get 403. Empty:
	// no restriction beyond the bind address.
	AdminAllow []string `yaml:"admin_allow"`

	// Options are the front door's options (resource, issuers, upstream,
	// headers, policy), shared with the Caddy module.
	frontdoor.Options `yaml:",inline"`
}

// ListenAddr is the front door's address, with its default.
func (c *Config) ListenAddr() string { return or(c.Listen, DefaultListen) }

// AdminAddr is the admin address, with its default ("off": none).
func (c *Config) AdminAddr() string { return or(c.AdminListen, DefaultAdminListen) }

// Level is the log level, with its default.
func (c *Config) Level() string { return or(c.LogLevel, "info") }

// Shutdown is the graceful-drain bound, with its default.
func (c *Config) Shutdown() time.Duration {
	return orDuration(c.ShutdownTimeout, DefaultShutdownTimeout)
}

// HeaderTimeout is read_header_timeout, with its default.
func (c *Config) HeaderTimeout() time.Duration {
	return orDuration(c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orDuration(v rs.Duration, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return time.Duration(v)
}

// Parse decodes YAML strictly (unknown keys are errors), fills what the
// file leaves unset from Arcade's variables, and checks the result.
func Parse(data []byte) (*Config, error) {
	var c Config
	if err := decodeYAML(data, &c); err != nil {
		return nil, err
	}
	if err := ApplyArcadeEnv(&c, os.Getenv); err != nil {
		return nil, err
	}
	if err := c.Check(nil, nil); err != nil {
		return nil, err
	}
	return &c, nil
}

// LoadFile reads and parses a YAML config file.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(b)
}

// Env is the frontdoor.Env of the sidecar: it proxies itself. getenv and
// readFile resolve secrets (os functions when nil).
func Env(getenv func(string) string, readFile func(string) ([]byte, error)) frontdoor.Env {
	return frontdoor.Env{Proxy: true, Getenv: getenv, ReadFile: readFile}
}

// Check validates every key, the sidecar's own and the front door's (with
// frontdoor.Check, as the Caddy module does), reporting all problems at
// once. c is not written to.
func (c *Config) Check(getenv func(string) string, readFile func(string) ([]byte, error)) error {
	var errs []error
	if err := checkAddr(c.ListenAddr()); err != nil {
		errs = append(errs, &rs.FieldError{Field: "listen", Msg: err.Error()})
	}
	if a := c.AdminAddr(); a != "off" {
		if err := checkAddr(a); err != nil {
			errs = append(errs, &rs.FieldError{Field: "admin_listen", Msg: err.Error()})
		}
	}
	if _, err := zapcore.ParseLevel(c.Level()); err != nil {
		errs = append(errs, &rs.FieldError{Field: "log_level", Msg: fmt.Sprintf("%q is not one of debug, info, warn, error", c.LogLevel)})
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, &rs.FieldError{Field: "shutdown_timeout", Msg: "must not be negative"})
	}
	if c.ReadHeaderTimeout < 0 {
		errs = append(errs, &rs.FieldError{Field: "read_header_timeout", Msg: "must be positive"})
	}
	errs = append(errs, c.checkOps()...)
	errs = append(errs, c.checkObservability()...)
	errs = append(errs, arcadeWording(frontdoor.Check(c.Options, Env(getenv, readFile)))...)
	return errors.Join(errs...)
}

// arcadeWording rewords the two required keys Arcade's variables can also
// fill, naming those variables.
func arcadeWording(err error) []error {
	var out []error
	for _, e := range frontdoor.Problems(err) {
		var fe *rs.FieldError
		if errors.As(e, &fe) && errors.Is(fe, rs.ErrRequired) {
			switch fe.Field {
			case "resource":
				e = &rs.FieldError{Field: fe.Field, Err: rs.ErrRequired, Msg: "'canonical_url' required (parameter or " + EnvArcadeCanonicalURL + " environment variable)"}
			case "authorization_servers":
				e = &rs.FieldError{Field: fe.Field, Err: rs.ErrRequired, Msg: "'authorization_servers' required (parameter or " + EnvArcadeAuthServers + " environment variable)"}
			}
		}
		out = append(out, e)
	}
	return out
}

func checkAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if port == "" {
		return fmt.Errorf("%q has no port", a)
	}
	_ = host
	return nil
}
