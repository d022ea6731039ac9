// Package sidecar is the mcp-sidecar binary's glue: YAML configuration,
// the main and admin listeners, logging, metrics and graceful shutdown
// around pkg/rs and pkg/mcpproxy.
package sidecar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"go.yaml.in/yaml/v3"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/mcpproxy"
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

// Config is the sidecar's YAML configuration. The resource-server and
// proxy keys are pkg/rs.Config and pkg/mcpproxy.Config, inlined, so the
// Caddy module and the sidecar read the same structs.
type Config struct {
	// Listen is the front door's address (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// AdminListen serves /healthz, /readyz and /metrics (default
	// 127.0.0.1:9091); "off" disables it.
	AdminListen string `yaml:"admin_listen"`
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string `yaml:"log_level"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM (default 30s).
	ShutdownTimeout rs.Duration `yaml:"shutdown_timeout"`
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers, on both listeners (default 10s; the connection is
	// then closed). The body has body_read_timeout; there is deliberately
	// no whole-request read timeout, which would end SSE streams.
	ReadHeaderTimeout rs.Duration `yaml:"read_header_timeout"`

	// RS is the resource-server configuration (resource, issuers, ...).
	RS rs.Config `yaml:",inline"`
	// Proxy is the proxying configuration (upstream, headers, ...).
	Proxy mcpproxy.Config `yaml:",inline"`

	// Injector is built from identity_headers and secret_headers by
	// Normalize (secrets resolved from env or files).
	Injector *mcpproxy.Injector `yaml:"-"`
}

// Parse decodes YAML strictly (unknown keys are errors) and normalizes it.
func Parse(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("config is empty")
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			errs := make([]error, 0, len(te.Errors))
			for _, e := range te.Errors {
				errs = append(errs, errors.New(annotateYAMLError(data, e)))
			}
			return nil, errors.Join(errs...)
		}
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := ApplyArcadeEnv(&c, os.Getenv); err != nil {
		return nil, err
	}
	if err := c.Normalize(nil, nil); err != nil {
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

// Normalize validates every key and fills defaults. getenv and readFile
// resolve secret headers (os functions when nil).
func (c *Config) Normalize(getenv func(string) string, readFile func(string) ([]byte, error)) error {
	var errs []error
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if err := checkAddr(c.Listen); err != nil {
		errs = append(errs, &rs.FieldError{Field: "listen", Msg: err.Error()})
	}
	if c.AdminListen == "" {
		c.AdminListen = DefaultAdminListen
	}
	if c.AdminListen != "off" {
		if err := checkAddr(c.AdminListen); err != nil {
			errs = append(errs, &rs.FieldError{Field: "admin_listen", Msg: err.Error()})
		}
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, &rs.FieldError{Field: "log_level", Msg: fmt.Sprintf("%q is not one of debug, info, warn, error", c.LogLevel)})
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = rs.Duration(DefaultShutdownTimeout)
	} else if c.ShutdownTimeout < 0 {
		errs = append(errs, &rs.FieldError{Field: "shutdown_timeout", Msg: "must not be negative"})
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = rs.Duration(DefaultReadHeaderTimeout)
	} else if c.ReadHeaderTimeout < 0 {
		errs = append(errs, &rs.FieldError{Field: "read_header_timeout", Msg: "must be positive"})
	}
	if c.RS.Resource == "" {
		errs = append(errs, &rs.FieldError{Field: "resource", Msg: "'canonical_url' required (parameter or " + EnvArcadeCanonicalURL + " environment variable)"})
	}
	if len(c.RS.AuthorizationServers) == 0 {
		errs = append(errs, &rs.FieldError{Field: "authorization_servers", Msg: "'authorization_servers' required (parameter or " + EnvArcadeAuthServers + " environment variable)"})
	}
	if err := c.RS.Normalize(); err != nil {
		errs = append(errs, dropRequired(err)...)
	}
	if sk := c.Proxy.SessionKey; sk != nil {
		if v, err := sk.Resolve("session_key", getenv, readFile); err != nil {
			errs = append(errs, err)
		} else if len(v) < 16 {
			errs = append(errs, &rs.FieldError{Field: "session_key", Msg: "must be at least 16 bytes"})
		}
	}
	for i, as := range c.RS.AuthorizationServers {
		if in := as.Introspection; in != nil {
			if _, err := in.ClientSecret.Resolve(fmt.Sprintf("authorization_servers[%d].introspection.client_secret", i), getenv, readFile); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := c.Proxy.Normalize(); err != nil {
		errs = append(errs, err)
	}
	inj, err := mcpproxy.NewInjector(c.Proxy.IdentityHeaders, c.Proxy.SecretHeaders, getenv, readFile)
	if err != nil {
		errs = append(errs, err)
	}
	c.Injector = inj
	return errors.Join(errs...)
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

// dropRequired removes rs's generic "required" errors for resource and
// authorization_servers, which Normalize reports with Arcade's wording.
func dropRequired(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *rs.FieldError
		if errors.As(e, &fe) && ((fe.Field == "resource" && fe.Msg == "is required") || (fe.Field == "authorization_servers" && strings.HasPrefix(fe.Msg, "at least one"))) {
			return
		}
		out = append(out, e)
	}
	walk(err)
	return out
}

var (
	yamlLine     = regexp.MustCompile(`^line (\d+): `)
	yamlNotFound = regexp.MustCompile(`field (\S+) not found in type \S+`)
)

// annotateYAMLError names the key on the reported line, and rewords the
// decoder's unknown-field message: "line 7: leeway: invalid duration ...",
// "line 8: unknown key \"isuer\"".
func annotateYAMLError(src []byte, msg string) string {
	if m := yamlNotFound.FindStringSubmatch(msg); m != nil {
		return yamlNotFound.ReplaceAllString(msg, fmt.Sprintf("unknown key %q", m[1]))
	}
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	n, _ := strconv.Atoi(m[1])
	lines := strings.Split(string(src), "\n")
	if n < 1 || n > len(lines) {
		return msg
	}
	key, _, ok := strings.Cut(strings.TrimLeft(strings.TrimSpace(lines[n-1]), "- "), ":")
	if !ok || key == "" || strings.ContainsAny(key, " \t\"'") {
		return msg
	}
	return m[0] + key + ": " + strings.TrimPrefix(msg, m[0])
}
