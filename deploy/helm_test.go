package deploy_test

import (
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const chart = "deploy/helm/mcp-frontdoor"

// The chart needs Kubernetes 1.30 (kubeVersion): helm built from source
// assumes 1.20 unless told.
const kubeVersion = "1.30.0"

func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	return goRun(t, helmModule, args...)
}

// TestHelmChart lints the chart (helm lint --strict) and renders it (helm
// template) with the defaults, every optional part switched on
// (ci/full-values.yaml), the README's demo (demo-values.yaml) and the
// watch reload; every object is decoded strictly into its Kubernetes API
// type and the pod is checked as a whole (checkBundle).
func TestHelmChart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds helm from the module proxy (-short)")
	}
	for _, tc := range []struct {
		name string
		args []string
		want want
		more func(t *testing.T, b *bundle)
	}{
		{
			name: "defaults",
			want: want{pdb: true, netpol: true, rollout: true, secretFromChart: true, mcpServerLoopbackArgs: true},
			more: func(t *testing.T, b *bundle) {
				dep := b.deployments[0]
				if *dep.Spec.Replicas < 2 {
					t.Errorf("default replicas %d: want at least 2 (with the PodDisruptionBudget)", *dep.Spec.Replicas)
				}
				// The chart generates the shared session key.
				if len(b.secrets) != 1 || len(secretValue(t, b.secrets[0], "session-key")) < 32 {
					t.Errorf("want the chart's Secret with a generated session-key")
				}
				for _, c := range dep.Spec.Template.Spec.Containers {
					if !strings.HasPrefix(c.Image, "mcp-frontdoor/mcp-sidecar:v") {
						t.Errorf("container %s: image %s, want the sidecar image at the chart's appVersion", c.Name, c.Image)
					}
				}
				if dep.Spec.Template.Annotations["prometheus.io/port"] != "9091" {
					t.Errorf("want prometheus.io annotations for the admin port")
				}
			},
		},
		{
			name: "full",
			args: []string{"-f", chart + "/ci/full-values.yaml"},
			want: want{pdb: true, netpol: true, serviceMonitor: true, rollout: true, secretFromChart: true, extraContainers: 1},
			more: func(t *testing.T, b *bundle) {
				pod := b.deployments[0].Spec.Template.Spec
				side, others := sidecarOf(t, &pod)
				if !strings.Contains(side.Image, "@sha256:") {
					t.Errorf("image.digest: sidecar image %s", side.Image)
				}
				mcp := others[0]
				// containerSecurityContext merged with the MCP server's override.
				if sc := mcp.SecurityContext; *sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
					t.Errorf("mcpServer.securityContext should override readOnlyRootFilesystem only: %+v", sc)
				}
				if mcp.Image != "registry.example.com/tools/my-mcp-server:1.4.2" || len(mcp.Env) != 2 || mcp.StartupProbe == nil {
					t.Errorf("MCP server container: %+v", mcp)
				}
				if b.pdbs[0].Spec.MinAvailable == nil || b.pdbs[0].Spec.MinAvailable.IntValue() != 2 {
					t.Errorf("podDisruptionBudget.minAvailable: %+v", b.pdbs[0].Spec)
				}
				if b.monitors[0].Labels["release"] != "kube-prometheus-stack" {
					t.Errorf("serviceMonitor.labels: %v", b.monitors[0].Labels)
				}
				if secretValue(t, b.secrets[0], "session-key") != "0123456789abcdef0123456789abcdef" {
					t.Errorf("a session-key in secrets.data is used as it is")
				}
				if _, ok := b.deployments[0].Spec.Template.Annotations["prometheus.io/scrape"]; ok {
					t.Errorf("metrics.podAnnotations false")
				}
			},
		},
		{
			name: "demo",
			args: []string{"-f", "deploy/helm/demo-values.yaml"},
			want: want{netpol: true, rollout: true, secretFromChart: true, mcpServerLoopbackArgs: true, extraContainers: 1},
			more: func(t *testing.T, b *bundle) {
				pod := b.deployments[0].Spec.Template.Spec
				_, others := sidecarOf(t, &pod)
				as := others[1]
				if as.Name != "dev-as" || flagValue(as.Args, "issuer") != "http://localhost:9090" ||
					!strings.HasPrefix(flagValue(as.Args, "listen"), "127.0.0.1:") || flagValue(as.Args, "resource") != "http://localhost:8080/mcp" {
					t.Errorf("dev-as container: %+v", as)
				}
			},
		},
		{
			name: "watch",
			args: []string{"--set", "reloadOnConfigChange=watch"},
			want: want{pdb: true, netpol: true, secretFromChart: true, mcpServerLoopbackArgs: true},
		},
		{
			name: "existing secret, no network policy, no PDB",
			args: []string{"--set", "secrets.existingSecret=my-secret", "--set", "networkPolicy.enabled=false", "--set", "podDisruptionBudget.enabled=false"},
			want: want{rollout: true, mcpServerLoopbackArgs: true},
			more: func(t *testing.T, b *bundle) {
				if len(b.secrets) != 0 {
					t.Errorf("with existingSecret the chart renders no Secret")
				}
				for _, v := range b.deployments[0].Spec.Template.Spec.Volumes {
					if v.Secret != nil && v.Secret.SecretName != "my-secret" {
						t.Errorf("secret volume %s names %s", v.Name, v.Secret.SecretName)
					}
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lintArgs := append([]string{"lint", "--strict", "--kube-version", kubeVersion, chart}, tc.args...)
			if out, err := helm(t, lintArgs...); err != nil {
				t.Fatalf("helm lint: %v", err)
			} else if !strings.Contains(string(out), "0 chart(s) failed") {
				t.Fatalf("helm lint: %s", out)
			}
			out, err := helm(t, append([]string{"template", "mcp", chart, "--namespace", "tools", "--kube-version", kubeVersion}, tc.args...)...)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			b := newBundle(decodeAll(t, "helm template "+tc.name, out))
			checkBundle(t, b, tc.want)
			if tc.more != nil {
				tc.more(t, b)
			}
		})
	}
}

// TestHelmChartRefuses: values the chart must not render.
func TestHelmChartRefuses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds helm from the module proxy (-short)")
	}
	for name, tc := range map[string]struct {
		args []string
		msg  string
	}{
		"reload mode":        {[]string{"--set", "reloadOnConfigChange=restart"}, "reloadOnConfigChange"},
		"misspelt value":     {[]string{"--set", "sidecar.adminport=9100"}, "adminport"},
		"image digest":       {[]string{"--set", "image.digest=latest"}, "digest"},
		"old Kubernetes":     {[]string{"--kube-version", "1.29.0"}, "kubeVersion"},
		"no config":          {[]string{"--set", "config=null"}, "config"},
		"relative mountPath": {[]string{"--set", "secrets.mountPath=run/secrets"}, "mountPath"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"template", "mcp", chart}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "--kube-version") {
				args = append(args, "--kube-version", kubeVersion)
			}
			out, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template %v rendered:\n%s", tc.args, out)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error does not mention %s: %v", tc.msg, err)
			}
		})
	}
}

// TestHelmDemoWalkthrough: the README's walk from `helm install` to a tool
// call names what the chart renders for those values: the Deployment it
// port-forwards to, the ports (the front door's and dev-as's), the image
// it builds, the resource and the issuer in the token request and the
// tool call.
func TestHelmDemoWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds helm from the module proxy (-short)")
	}
	readme := readmeSection(t, readRepoFile(t, "README.md"), "Deployment")
	install := regexp.MustCompile(`helm install (\S+) (\S+) -f (\S+)`).FindStringSubmatch(readme)
	if install == nil {
		t.Fatal("no helm install in the Deployment section")
	}
	out, err := helm(t, "template", install[1], install[2], "-f", install[3], "--kube-version", kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	b := newBundle(decodeAll(t, "demo", out))
	cfg := checkBundle(t, b, want{netpol: true, rollout: true, secretFromChart: true, mcpServerLoopbackArgs: true, extraContainers: 1})
	dep := b.deployments[0]
	pod := dep.Spec.Template.Spec
	side, others := sidecarOf(t, &pod)
	as := others[1]

	for _, want := range []string{"rollout status deployment/" + dep.Name, "port-forward deployment/" + dep.Name + " "} {
		if !strings.Contains(readme, want) {
			t.Errorf("README: want %q (the chart names the Deployment %s)", want, dep.Name)
		}
	}
	pf := regexp.MustCompile(`port-forward \S+ (\d+):(\d+) (\d+):(\d+)`).FindStringSubmatch(readme)
	if pf == nil {
		t.Fatal("README: no port-forward of two ports")
	}
	resource, _ := url.Parse(cfg.Resource)
	issuer, _ := url.Parse(cfg.AuthorizationServers[0].Issuer)
	var httpPort int32
	for _, p := range side.Ports {
		if p.Name == "http" {
			httpPort = p.ContainerPort
		}
	}
	_, asPort, _ := net.SplitHostPort(flagValue(as.Args, "listen"))
	if pf[1] != resource.Port() || pf[2] != strconv.Itoa(int(httpPort)) || pf[3] != issuer.Port() || pf[4] != asPort {
		t.Errorf("README port-forward %s: want %s:%d (resource %s, front door) and %s:%s (issuer %s, dev-as)",
			pf[0], resource.Port(), httpPort, cfg.Resource, issuer.Port(), asPort, issuer)
	}
	if resource.Hostname() != "localhost" || issuer.Hostname() != "localhost" || flagValue(as.Args, "issuer") != issuer.String() {
		t.Errorf("resource %s and issuer %s should be localhost URLs, the same inside the pod and through port-forward", resource, issuer)
	}
	for _, want := range []string{
		"-d resource=" + cfg.Resource + " " + issuer.String() + "/token",
		"curl -sS " + cfg.Resource + " ",
		"http://localhost:" + resource.Port() + "/.well-known/oauth-protected-resource" + resource.Path,
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README: want %q", want)
		}
	}
	if flagValue(as.Args, "resource") != cfg.Resource {
		t.Errorf("dev-as issues tokens for %s, the resource is %s", flagValue(as.Args, "resource"), cfg.Resource)
	}
	build := regexp.MustCompile(`docker build -t (\S+) \.`).FindStringSubmatch(readme)
	if build == nil || !strings.Contains(readme, "kind load docker-image "+build[1]) {
		t.Fatalf("README: want docker build -t IMAGE . and kind load docker-image IMAGE")
	}
	for _, c := range pod.Containers {
		if c.Image != build[1] {
			t.Errorf("container %s runs %s, the README builds %s", c.Name, c.Image, build[1])
		}
	}
}
