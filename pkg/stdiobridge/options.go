package stdiobridge

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Defaults of Options.
const (
	DefaultIdleTimeout   = 10 * time.Minute
	DefaultMaxProcesses  = 200
	DefaultMaxPerCaller  = 4
	DefaultShutdownGrace = 5 * time.Second
)

// Options configure the stdio MCP server the front door runs per session
// (the `stdio` block; exactly one of it and `upstream`).
type Options struct {
	// Command is the program and its arguments (no shell).
	Command []string `yaml:"command" json:"command"`
	// Env is the fixed environment. The child gets nothing else from the
	// front door's environment but PATH and HOME, unless listed here.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// IdentityEnv names the variables that carry the caller's identity.
	IdentityEnv IdentityEnv `yaml:"identity_env" json:"identity_env,omitempty"`
	// SecretEnv are secrets passed as variables, read from the front
	// door's environment or a file.
	SecretEnv []SecretEnv `yaml:"secret_env" json:"secret_env,omitempty"`
	// WorkingDir is the child's working directory (default: the front
	// door's).
	WorkingDir string `yaml:"working_dir" json:"working_dir,omitempty"`
	// IdleTimeout ends a caller's process after this long without a
	// request or an open stream (default 10m).
	IdleTimeout rs.Duration `yaml:"idle_timeout" json:"idle_timeout,omitempty"`
	// MaxProcesses caps the processes of all callers (default 200).
	MaxProcesses int `yaml:"max_processes" json:"max_processes,omitempty"`
	// MaxPerCaller caps one caller's processes (default 4).
	MaxPerCaller int `yaml:"max_per_caller" json:"max_per_caller,omitempty"`
	// ShutdownGrace is how long each step of the stop order waits: stdin
	// closed, then SIGTERM, then SIGKILL (default 5s).
	ShutdownGrace rs.Duration `yaml:"shutdown_grace" json:"shutdown_grace,omitempty"`
}

// IdentityEnv maps the caller's identity to environment variables.
type IdentityEnv struct {
	// Subject is the variable for the token's sub (default MCP_SUBJECT).
	Subject string `yaml:"subject" json:"subject,omitempty"`
	// Claims maps a variable name to the claim whose value it carries.
	Claims map[string]string `yaml:"claims" json:"claims,omitempty"`
}

// SecretEnv is one secret variable: from an environment variable of the
// front door or a file (exactly one).
type SecretEnv struct {
	Name string `yaml:"name" json:"name"`
	Env  string `yaml:"env" json:"env,omitempty"`
	File string `yaml:"file" json:"file,omitempty"`
	// Value is the literal value, for front doors that resolve
	// placeholders themselves (Caddy's {env.*}). Never logged.
	Value string `yaml:"-" json:"value,omitempty"`
}

// DefaultSubjectEnv carries the token's sub.
const DefaultSubjectEnv = "MCP_SUBJECT"

// Normalized validates o and returns a copy with defaults; o is never
// written to. Field paths start with prefix (e.g. "stdio").
func (o Options) Normalized(prefix string) (Options, error) {
	n := o
	n.Command = slices.Clone(o.Command)
	n.Env = maps.Clone(o.Env)
	n.IdentityEnv.Claims = maps.Clone(o.IdentityEnv.Claims)
	n.SecretEnv = slices.Clone(o.SecretEnv)
	var errs []error
	fe := func(field, format string, args ...any) {
		errs = append(errs, &rs.FieldError{Field: prefix + "." + field, Msg: fmt.Sprintf(format, args...)})
	}
	if len(n.Command) == 0 || n.Command[0] == "" {
		errs = append(errs, &rs.FieldError{Field: prefix + ".command", Msg: "is required (the program and its arguments)", Err: rs.ErrRequired})
	}
	seen := map[string]string{}
	name := func(field, v string) {
		switch {
		case !validEnvName(v):
			fe(field, "%q is not an environment variable name (letters, digits, '_', not starting with a digit)", v)
		case seen[v] != "":
			fe(field, "%s is already set by %s", v, seen[v])
		default:
			seen[v] = prefix + "." + field
		}
	}
	for _, k := range slices.Sorted(maps.Keys(n.Env)) {
		name("env."+k, k)
		if !validEnvValue(n.Env[k]) {
			fe("env."+k, "contains a NUL byte")
		}
	}
	if n.IdentityEnv.Subject == "" {
		n.IdentityEnv.Subject = DefaultSubjectEnv
	}
	name("identity_env.subject", n.IdentityEnv.Subject)
	for _, k := range slices.Sorted(maps.Keys(n.IdentityEnv.Claims)) {
		name("identity_env.claims."+k, k)
		if n.IdentityEnv.Claims[k] == "" {
			fe("identity_env.claims."+k, "claim name is empty")
		}
	}
	for i, s := range n.SecretEnv {
		name(fmt.Sprintf("secret_env[%d].name", i), s.Name)
	}
	if n.IdleTimeout == 0 {
		n.IdleTimeout = rs.Duration(DefaultIdleTimeout)
	} else if n.IdleTimeout < 0 {
		fe("idle_timeout", "must be positive")
	}
	if n.ShutdownGrace == 0 {
		n.ShutdownGrace = rs.Duration(DefaultShutdownGrace)
	} else if n.ShutdownGrace < 0 {
		fe("shutdown_grace", "must be positive")
	}
	if n.MaxProcesses == 0 {
		n.MaxProcesses = DefaultMaxProcesses
	} else if n.MaxProcesses < 0 {
		fe("max_processes", "must be positive")
	}
	if n.MaxPerCaller == 0 {
		n.MaxPerCaller = min(DefaultMaxPerCaller, n.MaxProcesses)
	} else if n.MaxPerCaller < 0 {
		fe("max_per_caller", "must be positive")
	}
	return n, errors.Join(errs...)
}

// resolveSecrets reads the secret variables (getenv/readFile default to
// the os functions); errors name the field.
func (o Options) resolveSecrets(prefix string, getenv func(string) string, readFile func(string) ([]byte, error)) ([]string, error) {
	var env []string
	var errs []error
	for i, s := range o.SecretEnv {
		field := fmt.Sprintf("%s.secret_env[%d]", prefix, i)
		v, err := rs.SecretSource{Env: s.Env, File: s.File, Value: s.Value}.Resolve(field, getenv, readFile)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !validEnvValue(v) {
			errs = append(errs, &rs.FieldError{Field: field, Msg: "contains a NUL byte"})
			continue
		}
		env = append(env, s.Name+"="+v)
	}
	return env, errors.Join(errs...)
}

func validEnvName(s string) bool {
	if s == "" || ('0' <= s[0] && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')) {
			return false
		}
	}
	return true
}

func validEnvValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return false
		}
	}
	return true
}
