package examples

// Every example file, checked as shipped: the sidecar configs pass what
// `mcp-sidecar validate` runs, the Caddyfiles pass what `caddy adapt` runs,
// every compose and Kubernetes file parses and hangs together (services,
// Dockerfiles, mounted configs, ports, probes), and the Keycloak realm
// export holds what the walkthrough relies on.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"go.yaml.in/yaml/v3"

	_ "github.com/mcp-frontdoor/mcp-frontdoor/caddymodule"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/frontdoor"
)

// repoRoot is the repository root; the tests run in examples/.
const repoRoot = ".."

// exampleEnv is what the example configs read from the environment
// (session_key and secret_headers with env:).
var exampleEnv = map[string]string{
	"MCP_SESSION_KEY":  "0123456789abcdef0123456789abcdef",
	"UPSTREAM_API_KEY": "upstream-key-for-tests",
}

func setExampleEnv(t *testing.T) {
	t.Helper()
	for k, v := range exampleEnv {
		t.Setenv(k, v)
	}
}

// findFiles lists the files under examples/ whose base name matches re,
// plus the repository-level files given, relative to examples/.
func findFiles(t *testing.T, re string, extra ...string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var out []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && rx.MatchString(d.Name()) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range extra {
		out = append(out, filepath.Join(repoRoot, e))
	}
	slices.Sort(out)
	return out
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantFiles fails unless every name is among got: a glob that silently
// matches nothing must not pass.
func wantFiles(t *testing.T, got []string, names ...string) {
	t.Helper()
	for _, n := range names {
		if !slices.Contains(got, filepath.FromSlash(n)) {
			t.Errorf("%s not found among %q", n, got)
		}
	}
}

// TestSidecarConfigsValidate is `mcp-sidecar validate` on every example
// sidecar config (it runs sidecar.LoadFile, as the command does).
func TestSidecarConfigsValidate(t *testing.T) {
	setExampleEnv(t)
	files := findFiles(t, `^sidecar.*\.ya?ml$`)
	wantFiles(t, files, "compose/sidecar.yaml", "keycloak/sidecar.yaml", "keycloak/sidecar.compose.yaml",
		"workos/sidecar.yaml", "workos/sidecar.compose.yaml")
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			cfg, err := sidecar.LoadFile(f)
			if err != nil {
				t.Fatalf("mcp-sidecar validate --config %s:\n%v", f, err)
			}
			if len(cfg.AuthorizationServers) == 0 || cfg.Upstream == "" {
				t.Fatalf("%s: no authorization server or upstream", f)
			}
		})
	}
}

// caddyFrontDoor is one mcp_auth handler of an adapted Caddyfile.
type caddyFrontDoor = frontdoor.Options

// adaptCaddyfile is `caddy adapt`: it returns the mcp_auth handlers of the
// adapted JSON config.
func adaptCaddyfile(t *testing.T, name string, body []byte) []caddyFrontDoor {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": name})
	if err != nil {
		t.Fatalf("caddy adapt --config %s: %v", name, err)
	}
	for _, w := range warnings {
		t.Errorf("caddy adapt --config %s: warning: %s", name, w.String())
	}
	var tree any
	if err := json.Unmarshal(out, &tree); err != nil {
		t.Fatal(err)
	}
	var found []caddyFrontDoor
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["handler"] == "mcp_auth" {
				b, _ := json.Marshal(x)
				var fd caddyFrontDoor
				if err := json.Unmarshal(b, &fd); err != nil {
					t.Fatalf("%s: mcp_auth handler JSON: %v", name, err)
				}
				found = append(found, fd)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(tree)
	return found
}

// TestCaddyfilesAdapt is `caddy adapt` on every example Caddyfile (and the
// top-level Caddyfile.example), plus the normalization Caddy's provisioning
// does on each mcp_auth handler.
func TestCaddyfilesAdapt(t *testing.T) {
	setExampleEnv(t)
	files := findFiles(t, `^Caddyfile`, "Caddyfile.example")
	wantFiles(t, files, "compose/Caddyfile", "keycloak/Caddyfile", "workos/Caddyfile", "../Caddyfile.example")
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			fds := adaptCaddyfile(t, f, mustRead(t, f))
			if len(fds) == 0 {
				t.Fatalf("%s has no mcp_auth handler", f)
			}
			for _, fd := range fds {
				if err := frontdoor.Check(fd, frontdoor.Env{}); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
			}
		})
	}
}

// TestCaddyfilesMatchSidecarConfigs: each example's Caddyfile is the same
// front door as its sidecar config (resource, issuers, audiences,
// algorithms, typ rule, identity headers, scopes).
func TestCaddyfilesMatchSidecarConfigs(t *testing.T) {
	setExampleEnv(t)
	pairs := [][2]string{
		{"keycloak/sidecar.yaml", "keycloak/Caddyfile"},
		{"workos/sidecar.yaml", "workos/Caddyfile"},
	}
	for _, p := range pairs {
		t.Run(p[1], func(t *testing.T) {
			cfg, err := sidecar.LoadFile(p[0])
			if err != nil {
				t.Fatal(err)
			}
			fds := adaptCaddyfile(t, p[1], mustRead(t, p[1]))
			if len(fds) != 1 {
				t.Fatalf("want one mcp_auth handler, got %d", len(fds))
			}
			cf, err := frontdoor.Compile(fds[0], frontdoor.Env{})
			if err != nil {
				t.Fatal(err)
			}
			sf, err := frontdoor.Compile(cfg.Options, sidecar.Env(nil, nil))
			if err != nil {
				t.Fatal(err)
			}
			fd, sc := cf.Resource(), sf.Resource()
			if fd.Resource != sc.Resource || !slices.Equal(fd.ScopesSupported, sc.ScopesSupported) ||
				!slices.Equal(fd.ChallengeScopes, sc.ChallengeScopes) {
				t.Errorf("resource/scopes differ: Caddyfile %+v, sidecar %+v", fd, sc)
			}
			if len(fd.AuthorizationServers) != len(sc.AuthorizationServers) {
				t.Fatalf("authorization servers differ")
			}
			for i, a := range fd.AuthorizationServers {
				b := sc.AuthorizationServers[i]
				if a.Issuer != b.Issuer || a.JWKSURI != b.JWKSURI || !slices.Equal(a.Audiences, b.Audiences) ||
					!slices.Equal(a.Algorithms, b.Algorithms) || a.RequireATJWTType != b.RequireATJWTType {
					t.Errorf("authorization server %d differs:\nCaddyfile %+v\nsidecar   %+v", i, a, b)
				}
			}
			cp, sp := cf.Policy(), sf.Policy()
			if fmt.Sprint(cp.IdentityHeaders.Claims) != fmt.Sprint(sp.IdentityHeaders.Claims) {
				t.Errorf("identity headers differ: %v vs %v", cp.IdentityHeaders.Claims, sp.IdentityHeaders.Claims)
			}
			if fmt.Sprint(cp.RequiredScopes) != fmt.Sprint(sp.RequiredScopes) {
				t.Errorf("required scopes differ: %v vs %v", cp.RequiredScopes, sp.RequiredScopes)
			}
			if (cp.SessionKey == nil) != (sp.SessionKey == nil) {
				t.Errorf("session_key set in one of them only")
			}
		})
	}
}

// ---- docker compose ----

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	// Extensions are the x-… keys (YAML anchors for the shared image).
	Extensions map[string]any `yaml:",inline"`
}

type composeService struct {
	Image           string            `yaml:"image"`
	Build           *composeBuild     `yaml:"build"`
	Command         []string          `yaml:"command"`
	Environment     map[string]string `yaml:"environment"`
	Volumes         []string          `yaml:"volumes"`
	Ports           []string          `yaml:"ports"`
	NetworkMode     string            `yaml:"network_mode"`
	DependsOn       []string          `yaml:"depends_on"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func decodeStrict(t *testing.T, name string, b []byte, v any) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// flagValue returns the value of --name=value or --name value in args.
func flagValues(args []string, name string) []string {
	var out []string
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			out = append(out, v)
		} else if a == "--"+name && i+1 < len(args) {
			out = append(out, args[i+1])
		}
	}
	return out
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// mountedFile maps a container path to the host file mounted there.
func mountedFile(t *testing.T, dir string, s composeService, containerPath string) string {
	t.Helper()
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == containerPath {
			return filepath.Join(dir, parts[0])
		}
	}
	t.Fatalf("nothing is mounted at %s (volumes %q)", containerPath, s.Volumes)
	return ""
}

// TestComposeFiles parses every compose file and checks its structure:
// Dockerfiles and mounted files exist, shared network namespaces and
// dependencies name real services, ports are published on loopback only
// and include every front door's listen port, the mounted sidecar configs
// validate and the mounted Caddyfiles adapt, the demo MCP server is the
// configured upstream, and the issuers agree.
func TestComposeFiles(t *testing.T) {
	setExampleEnv(t)
	files := findFiles(t, `^docker-compose.*\.ya?ml$`, "docker-compose.yml")
	wantFiles(t, files, "../docker-compose.yml", "keycloak/docker-compose.yml", "workos/docker-compose.yml")
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			dir := filepath.Dir(f)
			var c composeFile
			decodeStrict(t, f, mustRead(t, f), &c)
			if c.Name == "" || len(c.Services) == 0 {
				t.Fatalf("no name or no services")
			}
			for k := range c.Extensions {
				if !strings.HasPrefix(k, "x-") {
					t.Errorf("unknown top-level key %q", k)
				}
			}
			published := map[string]map[string]bool{} // namespace owner -> published container ports
			owner := func(name string) string {
				if o, ok := strings.CutPrefix(c.Services[name].NetworkMode, "service:"); ok {
					return o
				}
				return name
			}
			var frontDoorPorts []struct{ svc, port string }
			var sidecars []*sidecar.Config
			var caddyResources []string
			var mcpListen = map[string]string{} // namespace -> demo-mcp listen
			for name, s := range c.Services {
				if s.Image == "" && s.Build == nil {
					t.Errorf("%s: neither image nor build", name)
				}
				if s.Build != nil {
					df := filepath.Join(dir, s.Build.Context, s.Build.Dockerfile)
					if _, err := os.Stat(df); err != nil {
						t.Errorf("%s: build: %v", name, err)
					}
				}
				for _, v := range s.Volumes {
					host := strings.Split(v, ":")[0]
					if !strings.HasPrefix(host, ".") {
						t.Errorf("%s: volume %q: want a relative host path", name, v)
						continue
					}
					if _, err := os.Stat(filepath.Join(dir, host)); err != nil {
						t.Errorf("%s: volume %q: %v", name, v, err)
					}
					if !strings.HasSuffix(v, ":ro") {
						t.Errorf("%s: volume %q should be read-only", name, v)
					}
				}
				if o, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
					if _, exists := c.Services[o]; !exists {
						t.Errorf("%s: network_mode names unknown service %q", name, o)
					}
					if len(s.Ports) > 0 {
						t.Errorf("%s: a service in another's network namespace cannot publish ports", name)
					}
					if !slices.Contains(s.DependsOn, o) {
						t.Errorf("%s: should depend on %s, whose namespace it joins", name, o)
					}
				} else if s.NetworkMode != "" {
					t.Errorf("%s: unexpected network_mode %q", name, s.NetworkMode)
				}
				for _, d := range s.DependsOn {
					if _, exists := c.Services[d]; !exists {
						t.Errorf("%s: depends_on unknown service %q", name, d)
					}
				}
				for _, p := range s.Ports {
					parts := strings.Split(p, ":")
					if len(parts) != 3 || parts[0] != "127.0.0.1" || parts[1] != parts[2] {
						t.Errorf("%s: port %q: want 127.0.0.1:N:N", name, p)
						continue
					}
					if published[name] == nil {
						published[name] = map[string]bool{}
					}
					published[name][parts[2]] = true
				}
				switch {
				case len(s.Command) > 0 && s.Command[0] == "run":
					cfgPath := flagValues(s.Command, "config")
					if len(cfgPath) != 1 {
						t.Fatalf("%s: run needs one --config, got %q", name, s.Command)
					}
					host := mountedFile(t, dir, s, cfgPath[0])
					cfg, err := sidecar.LoadFile(host)
					if err != nil {
						t.Fatalf("%s: %s: %v", name, host, err)
					}
					sidecars = append(sidecars, cfg)
					frontDoorPorts = append(frontDoorPorts, struct{ svc, port string }{name, portOf(t, cfg.Listen)},
						struct{ svc, port string }{name, portOf(t, cfg.AdminListen)})
					u, _ := url.Parse(cfg.Upstream)
					if want := mcpListenFor(c, owner(name)); want != "" && u.Host != want {
						t.Errorf("%s: upstream %s is not the demo MCP server at %s", name, cfg.Upstream, want)
					}
					if s.StopGracePeriod == "" {
						t.Errorf("%s: set stop_grace_period above shutdown_timeout", name)
					} else if d, err := time.ParseDuration(s.StopGracePeriod); err != nil || d <= time.Duration(cfg.ShutdownTimeout) {
						t.Errorf("%s: stop_grace_period %s must exceed shutdown_timeout %s", name, s.StopGracePeriod, time.Duration(cfg.ShutdownTimeout))
					}
				case len(s.Command) > 0 && s.Command[0] == "demo-mcp":
					l := flagValues(s.Command, "listen")
					if len(l) != 1 || !strings.HasPrefix(l[0], "127.0.0.1:") {
						t.Errorf("%s: the demo MCP server should listen on 127.0.0.1 only, got %q", name, s.Command)
					} else {
						mcpListen[owner(name)] = l[0]
					}
				case s.Build != nil && s.Build.Dockerfile == "Dockerfile.caddy":
					host := mountedFile(t, dir, s, "/etc/caddy/Caddyfile")
					fds := adaptCaddyfile(t, host, mustRead(t, host))
					for _, fd := range fds {
						caddyResources = append(caddyResources, fd.Resource)
						u, _ := url.Parse(fd.Resource)
						frontDoorPorts = append(frontDoorPorts, struct{ svc, port string }{name, u.Port()})
					}
				}
			}
			for _, fp := range frontDoorPorts {
				if !published[owner(fp.svc)][fp.port] {
					t.Errorf("%s listens on %s but %s does not publish it", fp.svc, fp.port, owner(fp.svc))
				}
			}
			for _, cfg := range sidecars {
				u, _ := url.Parse(cfg.Resource)
				if u.Hostname() != "localhost" || u.Port() != portOf(t, cfg.Listen) {
					t.Errorf("resource %s should be http://localhost:<listen port>/…", cfg.Resource)
				}
			}
			checkIssuers(t, c, sidecars, caddyResources)
		})
	}
}

// mcpListenFor is the --listen of the demo-mcp service in ns's namespace.
func mcpListenFor(c composeFile, ns string) string {
	for _, s := range c.Services {
		if len(s.Command) > 0 && s.Command[0] == "demo-mcp" && (s.NetworkMode == "service:"+ns || s.NetworkMode == "") {
			if l := flagValues(s.Command, "listen"); len(l) == 1 {
				return l[0]
			}
		}
	}
	return ""
}

// checkIssuers: the dev-as service issues tokens for exactly the front
// doors' resources under the issuer they trust; Keycloak's fixed hostname
// gives the issuer the sidecar trusts.
func checkIssuers(t *testing.T, c composeFile, sidecars []*sidecar.Config, caddyResources []string) {
	t.Helper()
	for name, s := range c.Services {
		switch {
		case len(s.Command) > 0 && s.Command[0] == "dev-as":
			iss := flagValues(s.Command, "issuer")
			res := flagValues(s.Command, "resource")
			want := slices.Clone(caddyResources)
			for _, cfg := range sidecars {
				want = append(want, cfg.Resource)
				if len(iss) != 1 || cfg.AuthorizationServers[0].Issuer != iss[0] {
					t.Errorf("%s: issuer %q, the sidecar trusts %q", name, iss, cfg.AuthorizationServers[0].Issuer)
				}
			}
			slices.Sort(want)
			slices.Sort(res)
			if !slices.Equal(res, want) {
				t.Errorf("%s: resources %q, the front doors are %q", name, res, want)
			}
		case strings.HasPrefix(s.Image, "quay.io/keycloak/keycloak:"):
			host := s.Environment["KC_HOSTNAME"]
			port := flagValues(s.Command, "http-port")
			u, err := url.Parse(host)
			if err != nil || len(port) != 1 || u.Port() != port[0] {
				t.Errorf("%s: KC_HOSTNAME %q should name the --http-port %q", name, host, port)
			}
			for _, cfg := range sidecars {
				if got := cfg.AuthorizationServers[0].Issuer; got != host+"/realms/mcp" {
					t.Errorf("the sidecar trusts %s, Keycloak issues %s/realms/mcp", got, host)
				}
			}
		}
	}
}

// ---- Dockerfiles ----

func TestDockerfiles(t *testing.T) {
	cases := []struct {
		file, binary, pkg string
	}{
		{"Dockerfile", "/usr/local/bin/mcp-sidecar", "./cmd/mcp-sidecar"},
		{"Dockerfile.caddy", "/usr/bin/caddy", "./cmd/caddy"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			body := string(mustRead(t, filepath.Join(repoRoot, tc.file)))
			froms := regexp.MustCompile(`(?m)^FROM\s+(.*)$`).FindAllStringSubmatch(body, -1)
			if len(froms) != 2 {
				t.Fatalf("want a two-stage build, got %d FROM lines", len(froms))
			}
			if !strings.Contains(froms[0][1], "golang:1.26") {
				t.Errorf("builder %q is not golang:1.26", froms[0][1])
			}
			// (deploy/images_test.go checks the digest pins.)
			if final, _, _ := strings.Cut(froms[1][1], "@"); !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
				t.Errorf("final stage %q is not distroless/static:nonroot", froms[1][1])
			}
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w`, "-o /out/", tc.pkg,
				"ENTRYPOINT [\"" + tc.binary + "\"]", "\nEXPOSE "} {
				if !strings.Contains(body, want) {
					t.Errorf("missing %q", want)
				}
			}
			final := body[strings.LastIndex(body, "\nFROM "):]
			user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(final)
			if user == nil || strings.HasPrefix(user[1], "0") || strings.HasPrefix(user[1], "root") {
				t.Errorf("final stage USER = %v, want a non-root user", user)
			}
			if _, err := os.Stat(filepath.Join(repoRoot, tc.pkg, "main.go")); err != nil {
				t.Errorf("built package: %v", err)
			}
		})
	}
	ignore := string(mustRead(t, filepath.Join(repoRoot, ".dockerignore")))
	for _, want := range []string{".git", ".tools", "node_modules"} {
		if !strings.Contains(ignore, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd", "pkg", "internal", "caddymodule"} {
		if regexp.MustCompile(`(?m)^/?` + regexp.QuoteMeta(keep) + `/?$`).MatchString(ignore) {
			t.Errorf(".dockerignore excludes %s, which the build needs", keep)
		}
	}
}

// ---- Kubernetes ----

type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec yaml.Node         `yaml:"spec"`
}

type k8sDeploymentSpec struct {
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
			SecurityContext               struct {
				RunAsNonRoot bool  `yaml:"runAsNonRoot"`
				RunAsUser    int   `yaml:"runAsUser"`
				FSGroup      int64 `yaml:"fsGroup"`
			} `yaml:"securityContext"`
			Containers []k8sContainer `yaml:"containers"`
			Volumes    []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
				Secret *struct {
					SecretName  string `yaml:"secretName"`
					DefaultMode int    `yaml:"defaultMode"`
				} `yaml:"secret"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Lifecycle      struct {
		PreStop struct {
			Sleep struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
}

type k8sServiceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort string `yaml:"targetPort"`
	} `yaml:"ports"`
}

// decodeAll decodes every document of a multi-document YAML file.
func decodeAll(t *testing.T, name string, b []byte) []k8sObject {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []k8sObject
	for i := 0; ; i++ {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
			t.Fatalf("%s: document %d lacks kind, apiVersion or metadata.name", name, i)
		}
		out = append(out, o)
	}
	return out
}

// TestKubernetesManifests decodes every Kubernetes file and checks the
// sidecar pod: the ConfigMap's config validates (its secret files read
// from the Secret volume's mount path), the probes hit /healthz and
// /readyz on the admin port that config sets, the Service targets the
// front door's port, and the shutdown timings nest (endpoint removal,
// drain, grace period, MCP server outliving the drain).
func TestKubernetesManifests(t *testing.T) {
	files := findFiles(t, `\.ya?ml$`)
	var k8sFiles []string
	for _, f := range files {
		if strings.HasPrefix(filepath.ToSlash(f), "kubernetes/") {
			k8sFiles = append(k8sFiles, f)
		}
	}
	wantFiles(t, k8sFiles, "kubernetes/mcp-server.yaml")
	for _, f := range k8sFiles {
		decodeAll(t, f, mustRead(t, f))
	}
	objs := decodeAll(t, "kubernetes/mcp-server.yaml", mustRead(t, filepath.FromSlash("kubernetes/mcp-server.yaml")))
	byKind := map[string]k8sObject{}
	for _, o := range objs {
		if _, dup := byKind[o.Kind]; dup {
			t.Fatalf("two %s objects", o.Kind)
		}
		byKind[o.Kind] = o
	}
	cm, dep, svcObj := byKind["ConfigMap"], byKind["Deployment"], byKind["Service"]
	if cm.Kind == "" || dep.Kind == "" || svcObj.Kind == "" {
		t.Fatalf("want a ConfigMap, a Deployment and a Service, got %v", slices.Sorted(maps.Keys(byKind)))
	}
	var spec k8sDeploymentSpec
	if err := dep.Spec.Decode(&spec); err != nil {
		t.Fatal(err)
	}
	var svc k8sServiceSpec
	if err := svcObj.Spec.Decode(&svc); err != nil {
		t.Fatal(err)
	}
	pod := spec.Template.Spec
	if fmt.Sprint(spec.Selector.MatchLabels) != fmt.Sprint(svc.Selector) || !labelsMatch(spec.Selector.MatchLabels, spec.Template.Metadata.Labels) {
		t.Errorf("selectors %v / %v do not match the pod labels %v", spec.Selector.MatchLabels, svc.Selector, spec.Template.Metadata.Labels)
	}
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 {
		t.Errorf("pod must run as non-root")
	}

	var side *k8sContainer
	var others []k8sContainer
	for i := range pod.Containers {
		c := &pod.Containers[i]
		if len(c.Args) > 0 && c.Args[0] == "run" {
			side = c
		} else {
			others = append(others, *c)
		}
		if c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation || !c.SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("container %s: want allowPrivilegeEscalation false and a read-only root filesystem", c.Name)
		}
	}
	if side == nil || len(others) != 1 {
		t.Fatalf("want the mcp-sidecar container (args run …) and one MCP server container")
	}
	mounts := map[string]string{} // volume name -> mount path
	for _, m := range side.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("mount %s should be read-only", m.Name)
		}
		mounts[m.Name] = m.MountPath
	}
	var cmName, secretMount string
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil:
			cmName = v.ConfigMap.Name
			if v.ConfigMap.Name != cm.Metadata.Name {
				t.Errorf("volume %s names ConfigMap %s, the file defines %s", v.Name, v.ConfigMap.Name, cm.Metadata.Name)
			}
			cfgPath := flagValues(side.Args, "config")
			if len(cfgPath) != 1 {
				t.Fatalf("sidecar args %q: want one --config", side.Args)
			}
			dir, file := path.Split(cfgPath[0])
			if strings.TrimSuffix(dir, "/") != mounts[v.Name] || cm.Data[file] == "" {
				t.Errorf("--config %s is not the ConfigMap key %s mounted at %s", cfgPath[0], file, mounts[v.Name])
			}
		case v.Secret != nil:
			secretMount = mounts[v.Name]
			if secretMount == "" {
				t.Errorf("secret volume %s is not mounted in the sidecar", v.Name)
			}
			if pod.SecurityContext.FSGroup == 0 || v.Secret.DefaultMode&0o040 == 0 {
				t.Errorf("the secret files must be group-readable with an fsGroup (mode %o, fsGroup %d)", v.Secret.DefaultMode, pod.SecurityContext.FSGroup)
			}
		}
	}
	if cmName == "" || secretMount == "" {
		t.Fatalf("want a ConfigMap volume and a Secret volume")
	}

	// The embedded config, as sidecar.Parse would read it, with the
	// secret files served from the Secret volume's mount path.
	var cfg sidecar.Config
	decodeStrict(t, "ConfigMap sidecar.yaml", []byte(cm.Data["sidecar.yaml"]), &cfg)
	var read []string
	readFile := func(p string) ([]byte, error) {
		read = append(read, p)
		if path.Dir(p) != secretMount {
			return nil, fmt.Errorf("%s is not in the Secret volume %s", p, secretMount)
		}
		return []byte("0123456789abcdef0123456789abcdef\n"), nil
	}
	if err := cfg.Check(func(string) string { return "" }, readFile); err != nil {
		t.Fatalf("ConfigMap sidecar.yaml: %v", err)
	}
	// session_key is resolved when the proxy is built (`validate` does not
	// read it): resolve it here the same way.
	if cfg.SessionKey == nil {
		t.Fatal("the Kubernetes config should set session_key (replicas share it)")
	}
	if key, err := cfg.SessionKey.Resolve("session_key", func(string) string { return "" }, readFile); err != nil || len(key) < 16 {
		t.Errorf("session_key: %v (%d bytes)", err, len(key))
	}
	if len(read) < 2 {
		t.Errorf("want the session key and a secret header read from the Secret volume, read %q", read)
	}
	readme := string(mustRead(t, filepath.FromSlash("kubernetes/README.md")))
	for _, p := range read {
		if !strings.Contains(readme, path.Base(p)+"=") {
			t.Errorf("kubernetes/README.md does not create the Secret key %s", path.Base(p))
		}
	}

	ports := map[string]int{}
	for _, p := range side.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if strconv.Itoa(ports["admin"]) != portOf(t, cfg.AdminListen) || strconv.Itoa(ports["http"]) != portOf(t, cfg.Listen) {
		t.Errorf("container ports %v do not match listen %s / admin_listen %s", ports, cfg.Listen, cfg.AdminListen)
	}
	if side.LivenessProbe == nil || side.LivenessProbe.HTTPGet.Path != "/healthz" || side.LivenessProbe.HTTPGet.Port != "admin" {
		t.Errorf("liveness probe: want GET /healthz on the admin port, got %+v", side.LivenessProbe)
	}
	if side.ReadinessProbe == nil || side.ReadinessProbe.HTTPGet.Path != "/readyz" || side.ReadinessProbe.HTTPGet.Port != "admin" {
		t.Errorf("readiness probe: want GET /readyz on the admin port, got %+v", side.ReadinessProbe)
	}
	if len(svc.Ports) != 1 || svc.Ports[0].TargetPort != "http" {
		t.Errorf("the Service should target the front door's named port http, got %+v", svc.Ports)
	}

	// The MCP server: on loopback, the sidecar's upstream.
	mcp := others[0]
	up, _ := url.Parse(cfg.Upstream)
	if l := flagValues(mcp.Args, "listen"); len(l) != 1 || l[0] != up.Host || !strings.HasPrefix(l[0], "127.0.0.1:") {
		t.Errorf("MCP server args %q: want --listen=%s (loopback, the sidecar's upstream)", mcp.Args, up.Host)
	}
	if len(mcp.Ports) != 0 {
		t.Errorf("the MCP server exposes ports %v; only the sidecar should", mcp.Ports)
	}

	// SIGTERM drain: endpoints go first (preStop), then the sidecar drains
	// for shutdown_timeout while the MCP server still answers, all within
	// the grace period.
	drain := time.Duration(cfg.ShutdownTimeout)
	sidePre := time.Duration(side.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	mcpPre := time.Duration(mcp.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second
	if sidePre <= 0 {
		t.Errorf("the sidecar needs a preStop sleep so endpoints are removed before the drain")
	}
	if mcpPre < sidePre+drain {
		t.Errorf("the MCP server's preStop (%v) should outlast the sidecar's preStop + drain (%v)", mcpPre, sidePre+drain)
	}
	if grace <= sidePre+drain || grace <= mcpPre {
		t.Errorf("terminationGracePeriodSeconds %v is not above preStop + shutdown_timeout (%v) and %v", grace, sidePre+drain, mcpPre)
	}
}

func labelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// ---- Keycloak realm export ----

type kcMapper struct {
	Name           string            `json:"name"`
	Protocol       string            `json:"protocol"`
	ProtocolMapper string            `json:"protocolMapper"`
	Config         map[string]string `json:"config"`
}

type kcScope struct {
	Name            string            `json:"name"`
	Protocol        string            `json:"protocol"`
	Attributes      map[string]string `json:"attributes"`
	ProtocolMappers []kcMapper        `json:"protocolMappers"`
}

type kcClient struct {
	ClientID                  string            `json:"clientId"`
	Enabled                   bool              `json:"enabled"`
	PublicClient              bool              `json:"publicClient"`
	StandardFlowEnabled       bool              `json:"standardFlowEnabled"`
	ImplicitFlowEnabled       bool              `json:"implicitFlowEnabled"`
	DirectAccessGrantsEnabled bool              `json:"directAccessGrantsEnabled"`
	ServiceAccountsEnabled    bool              `json:"serviceAccountsEnabled"`
	ClientAuthenticatorType   string            `json:"clientAuthenticatorType"`
	Secret                    string            `json:"secret"`
	RedirectURIs              []string          `json:"redirectUris"`
	Attributes                map[string]string `json:"attributes"`
	DefaultClientScopes       []string          `json:"defaultClientScopes"`
	OptionalClientScopes      []string          `json:"optionalClientScopes"`
}

type kcRealm struct {
	Realm                       string     `json:"realm"`
	Enabled                     bool       `json:"enabled"`
	SSLRequired                 string     `json:"sslRequired"`
	DefaultDefaultClientScopes  []string   `json:"defaultDefaultClientScopes"`
	DefaultOptionalClientScopes []string   `json:"defaultOptionalClientScopes"`
	Clients                     []kcClient `json:"clients"`
	ClientScopes                []kcScope  `json:"clientScopes"`
	Users                       []struct {
		Username    string `json:"username"`
		Enabled     bool   `json:"enabled"`
		Credentials []struct {
			Type      string `json:"type"`
			Value     string `json:"value"`
			Temporary bool   `json:"temporary"`
		} `json:"credentials"`
	} `json:"users"`
}

// TestKeycloakRealmExport checks the realm the walkthrough imports: the MCP
// clients, the mcp:read / mcp:write scopes with an audience mapper naming
// the compose front door's resource in access tokens only, and the
// built-in scopes Keycloak stops creating once an export lists any.
func TestKeycloakRealmExport(t *testing.T) {
	setExampleEnv(t)
	b := mustRead(t, filepath.FromSlash("keycloak/realm-mcp.json"))
	var realm kcRealm
	var loose map[string]any
	if err := json.Unmarshal(b, &loose); err != nil {
		t.Fatalf("realm-mcp.json is not JSON: %v", err)
	}
	if err := json.Unmarshal(b, &realm); err != nil {
		t.Fatal(err)
	}
	cfg, err := sidecar.LoadFile(filepath.FromSlash("keycloak/sidecar.compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	resource := cfg.Resource
	if realm.Realm != "mcp" || !realm.Enabled || !strings.HasSuffix(cfg.AuthorizationServers[0].Issuer, "/realms/"+realm.Realm) {
		t.Errorf("realm %q (enabled %v) is not the issuer %s", realm.Realm, realm.Enabled, cfg.AuthorizationServers[0].Issuer)
	}
	scopes := map[string]kcScope{}
	for _, s := range realm.ClientScopes {
		if s.Protocol != "openid-connect" {
			t.Errorf("scope %s: protocol %q", s.Name, s.Protocol)
		}
		scopes[s.Name] = s
	}
	// Without "basic" (Keycloak >= 25) access tokens have no sub.
	hasMapper := func(scope, mapper string) *kcMapper {
		for _, m := range scopes[scope].ProtocolMappers {
			if m.ProtocolMapper == mapper {
				return &m
			}
		}
		return nil
	}
	for _, want := range [][2]string{
		{"basic", "oidc-sub-mapper"}, {"profile", "oidc-usermodel-attribute-mapper"}, {"email", "oidc-usermodel-attribute-mapper"},
		{"roles", "oidc-usermodel-realm-role-mapper"}, {"roles", "oidc-audience-resolve-mapper"}, {"web-origins", "oidc-allowed-origins-mapper"},
		{"acr", "oidc-acr-mapper"}, {"service_account", "oidc-usersessionmodel-note-mapper"},
	} {
		if hasMapper(want[0], want[1]) == nil {
			t.Errorf("built-in scope %s lacks %s", want[0], want[1])
		}
	}
	for _, name := range []string{"mcp:read", "mcp:write"} {
		s, ok := scopes[name]
		if !ok {
			t.Errorf("no client scope %s", name)
			continue
		}
		if !slices.Contains(cfg.ScopesSupported, name) {
			t.Errorf("scope %s is not in the sidecar's scopes_supported", name)
		}
		if s.Attributes["include.in.token.scope"] != "true" {
			t.Errorf("%s: include.in.token.scope must be true (the front door reads scope)", name)
		}
		m := hasMapper(name, "oidc-audience-mapper")
		if m == nil {
			t.Errorf("%s has no oidc-audience-mapper", name)
			continue
		}
		if m.Config["included.custom.audience"] != resource {
			t.Errorf("%s: audience %q, the front door's resource is %q", name, m.Config["included.custom.audience"], resource)
		}
		if m.Config["access.token.claim"] != "true" || m.Config["id.token.claim"] != "false" {
			t.Errorf("%s: the audience must go into access tokens and not ID tokens: %v", name, m.Config)
		}
	}
	if !slices.Contains(realm.DefaultDefaultClientScopes, "mcp:read") || !slices.Contains(realm.DefaultDefaultClientScopes, "basic") {
		t.Errorf("realm default scopes %q: dynamically registered clients need basic and mcp:read", realm.DefaultDefaultClientScopes)
	}
	clients := map[string]kcClient{}
	for _, c := range realm.Clients {
		clients[c.ClientID] = c
		for _, s := range append(slices.Clone(c.DefaultClientScopes), c.OptionalClientScopes...) {
			if _, ok := scopes[s]; !ok && s != "offline_access" {
				t.Errorf("client %s names undefined scope %s", c.ClientID, s)
			}
		}
		if !slices.Contains(c.DefaultClientScopes, "basic") || !slices.Contains(c.DefaultClientScopes, "mcp:read") {
			t.Errorf("client %s: default scopes %q need basic and mcp:read", c.ClientID, c.DefaultClientScopes)
		}
		if c.ImplicitFlowEnabled || c.DirectAccessGrantsEnabled || !c.Enabled {
			t.Errorf("client %s: implicit and password grants off, enabled", c.ClientID)
		}
	}
	pub, ok := clients["mcp-client"]
	if !ok || !pub.PublicClient || !pub.StandardFlowEnabled || pub.Attributes["pkce.code.challenge.method"] != "S256" || len(pub.RedirectURIs) == 0 {
		t.Errorf("mcp-client: want a public client with the code flow, PKCE S256 and redirect URIs: %+v", pub)
	}
	// The MCP Inspector's callbacks (web UI 6274, CLI 6276 on localhost and
	// on its 127.0.0.1 default) and port-less loopback URIs, which Keycloak
	// matches on any port (RFC 8252 §7.3).
	for _, u := range []string{"http://localhost:6274/oauth/callback", "http://localhost:6276/oauth/callback", "http://127.0.0.1:6276/oauth/callback",
		"http://localhost/oauth/callback", "http://127.0.0.1/oauth/callback"} {
		if !slices.Contains(pub.RedirectURIs, u) {
			t.Errorf("mcp-client: redirect URIs %q lack %s", pub.RedirectURIs, u)
		}
	}
	cc, ok := clients["mcp-cli"]
	if !ok || cc.PublicClient || !cc.ServiceAccountsEnabled || cc.Secret == "" || cc.StandardFlowEnabled {
		t.Errorf("mcp-cli: want a confidential client-credentials client: %+v", cc)
	}
	if len(realm.Users) != 1 || realm.Users[0].Credentials[0].Temporary {
		t.Errorf("want one user with a non-temporary password")
	}
	// The walkthrough's commands use these very values.
	readme := string(mustRead(t, filepath.FromSlash("keycloak/README.md")))
	iss := cfg.AuthorizationServers[0].Issuer
	for _, want := range []string{iss + "/protocol/openid-connect/token", "mcp-cli:" + cc.Secret, resource,
		realm.Users[0].Username + " / " + realm.Users[0].Credentials[0].Value} {
		if !strings.Contains(readme, want) {
			t.Errorf("keycloak/README.md does not mention %q", want)
		}
	}
}

// TestExampleREADMEs: every example directory has a README that mentions
// each of its files.
func TestExampleREADMEs(t *testing.T) {
	for _, dir := range []string{"keycloak", "workos", "kubernetes"} {
		readme := string(mustRead(t, filepath.Join(dir, "README.md")))
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() != "README.md" && !strings.Contains(readme, e.Name()) {
				t.Errorf("%s/README.md does not mention %s", dir, e.Name())
			}
		}
		if !strings.Contains(readme, `"name":"whoami"`) {
			t.Errorf("%s/README.md does not end in an authenticated tool call", dir)
		}
	}
	top := string(mustRead(t, filepath.Join(repoRoot, "README.md")))
	for _, link := range []string{"examples/keycloak/", "examples/workos/", "examples/kubernetes/", "docker-compose.yml"} {
		if !strings.Contains(top, link) {
			t.Errorf("README.md does not link %s", link)
		}
	}
}
