package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	strictjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

const repoRoot = ".."

// The tools, built from the Go module proxy by `go run` (the first build
// takes a minute or two; Go caches the executables after that).
const (
	helmModule      = "helm.sh/helm/v3/cmd/helm@v3.22.0"
	kustomizeModule = "sigs.k8s.io/kustomize/kustomize/v5@v5.8.2"
)

// goRun runs a pinned tool with go run in the repository root, with its
// own HOME-like directories, and returns stdout.
func goRun(t *testing.T, module string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"run", module}, args...)...)
	cmd.Dir = repoRoot
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig"), // never a real cluster
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %v\n%s%s", module, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// ---- strict decoding into the API types ----

// serviceMonitor is the part of the Prometheus Operator's
// monitoring.coreos.com/v1 ServiceMonitor the chart uses (the operator's
// Go types are not a dependency of this module). Decoding it strictly
// still refuses any field the chart might misspell.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		JobLabel  string `json:"jobLabel,omitempty"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
			HonorLabels   bool   `json:"honorLabels,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// apiTypes maps "apiVersion kind" to a new value of its Go type.
var apiTypes = map[string]func() any{
	"apps/v1 Deployment":                      func() any { return new(appsv1.Deployment) },
	"v1 Service":                              func() any { return new(corev1.Service) },
	"v1 ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1 Secret":                               func() any { return new(corev1.Secret) },
	"v1 ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"policy/v1 PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1 NetworkPolicy":      func() any { return new(networkingv1.NetworkPolicy) },
	"monitoring.coreos.com/v1 ServiceMonitor": func() any { return new(serviceMonitor) },
}

// decodeObject decodes one YAML document into its API type as the API
// server's strict field validation does: duplicate keys, unknown fields
// and fields spelt in another case are errors.
func decodeObject(doc []byte) (any, error) {
	js, err := sigsyaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := strictjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
		return nil, err
	}
	newObj, ok := apiTypes[tm.APIVersion+" "+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("apiVersion %q kind %q: not a type these tests know", tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	strict, err := strictjson.UnmarshalStrict(js, obj, strictjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", tm.Kind, err)
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("%s: %v", tm.Kind, errors.Join(strict...))
	}
	if meta, ok := obj.(metav1.Object); ok && meta.GetName() == "" {
		return nil, fmt.Errorf("%s without metadata.name", tm.Kind)
	}
	return obj, nil
}

// splitYAML splits a multi-document stream, dropping empty documents.
func splitYAML(b []byte) [][]byte {
	var out [][]byte
	for _, doc := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(b), -1) {
		if strings.TrimSpace(stripComments(doc)) != "" {
			out = append(out, []byte(doc))
		}
	}
	return out
}

func stripComments(doc string) string {
	var keep []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// decodeAll decodes every object of a rendered stream strictly.
func decodeAll(t *testing.T, name string, b []byte) []any {
	t.Helper()
	var objs []any
	for i, doc := range splitYAML(b) {
		obj, err := decodeObject(doc)
		if err != nil {
			t.Fatalf("%s: document %d: %v\n%s", name, i, err, doc)
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		t.Fatalf("%s: no objects", name)
	}
	return objs
}

// TestStrictDecoding: the decoder the deployment tests use refuses what
// the API server's strict field validation refuses.
func TestStrictDecoding(t *testing.T) {
	good := "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{name: http, port: 80, targetPort: http}]\n"
	if _, err := decodeObject([]byte(good)); err != nil {
		t.Fatalf("valid Service: %v", err)
	}
	for name, doc := range map[string]string{
		"unknown field":       "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {prots: []}\n",
		"misspelt case":       "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {Ports: []}\n",
		"duplicate key":       "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {}\nspec: {}\n",
		"wrong type":          "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: two}\n",
		"unknown kind":        "apiVersion: v1\nkind: Frobnicator\nmetadata: {name: f}\n",
		"no name":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
		"servicemonitor typo": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\nspec: {endpoints: [{prot: admin}]}\n",
	} {
		if _, err := decodeObject([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
}

// ---- the pod and its neighbours ----

// bundle is one rendering: the objects by kind.
type bundle struct {
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	serviceAccounts []*corev1.ServiceAccount
	pdbs            []*policyv1.PodDisruptionBudget
	netpols         []*networkingv1.NetworkPolicy
	monitors        []*serviceMonitor
}

func newBundle(objs []any) *bundle {
	b := &bundle{}
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			b.deployments = append(b.deployments, o)
		case *corev1.Service:
			b.services = append(b.services, o)
		case *corev1.ConfigMap:
			b.configMaps = append(b.configMaps, o)
		case *corev1.Secret:
			b.secrets = append(b.secrets, o)
		case *corev1.ServiceAccount:
			b.serviceAccounts = append(b.serviceAccounts, o)
		case *policyv1.PodDisruptionBudget:
			b.pdbs = append(b.pdbs, o)
		case *networkingv1.NetworkPolicy:
			b.netpols = append(b.netpols, o)
		case *serviceMonitor:
			b.monitors = append(b.monitors, o)
		}
	}
	return b
}

// want says what a rendering should look like beyond the invariants.
type want struct {
	pdb, netpol, serviceMonitor bool
	rollout                     bool // checksum annotations, watch_config false; else none and true
	rolloutByName               bool // kustomize: the ConfigMap's name carries its hash instead
	secretFromChart             bool // the Secret is rendered (else it exists already)
	mcpServerLoopbackArgs       bool // the MCP server's args say --listen=<upstream host>
	extraContainers             int
}

// sidecarOf returns the mcp-sidecar container (args "run …") and the others.
func sidecarOf(t *testing.T, pod *corev1.PodSpec) (*corev1.Container, []corev1.Container) {
	t.Helper()
	var side *corev1.Container
	var others []corev1.Container
	for i := range pod.Containers {
		c := &pod.Containers[i]
		if len(c.Args) > 0 && c.Args[0] == "run" {
			if side != nil {
				t.Fatalf("two containers run the sidecar")
			}
			side = c
		} else {
			others = append(others, *c)
		}
	}
	if side == nil {
		t.Fatalf("no mcp-sidecar container (args run …)")
	}
	return side, others
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func portOf(t *testing.T, hostport string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	return int32(n)
}

func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(podLabels))
}

// checkBundle checks one rendering of the sidecar pattern and returns the
// sidecar's parsed config.
func checkBundle(t *testing.T, b *bundle, w want) *sidecar.Config {
	t.Helper()
	if len(b.deployments) != 1 || len(b.configMaps) != 1 {
		t.Fatalf("want one Deployment and one ConfigMap, got %d and %d", len(b.deployments), len(b.configMaps))
	}
	dep := b.deployments[0]
	pod := &dep.Spec.Template.Spec
	podLabels := dep.Spec.Template.Labels
	if !selects(dep.Spec.Selector, podLabels) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", dep.Spec.Selector, podLabels)
	}

	// Security: non-root, no token, nothing writable or privileged.
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 || psc.FSGroup == nil {
		t.Errorf("pod securityContext: want runAsNonRoot, a non-zero runAsUser and an fsGroup: %+v", psc)
	}
	if psc != nil && (psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
		t.Errorf("pod securityContext: want seccompProfile RuntimeDefault")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken: want false")
	}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 ||
			(sc.Privileged != nil && *sc.Privileged) {
			t.Errorf("container %s: want allowPrivilegeEscalation false and all capabilities dropped: %+v", c.Name, sc)
		}
		if c.Resources.Requests == nil && c.Resources.Limits == nil && c.Name != "log-shipper" {
			t.Errorf("container %s has no resources", c.Name)
		}
	}

	side, others := sidecarOf(t, pod)
	if sc := side.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("the sidecar's root filesystem must be read-only")
	}
	if len(others) != 1+w.extraContainers {
		t.Fatalf("want the MCP server and %d extra containers beside the sidecar, got %d", w.extraContainers, len(others))
	}

	// Volumes: the config from the ConfigMap, secrets from the Secret.
	mounts := map[string]string{}
	for _, m := range side.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("sidecar mount %s should be read-only", m.Name)
		}
		mounts[m.Name] = m.MountPath
	}
	cm := b.configMaps[0]
	cfgPath := flagValue(side.Args, "config")
	var cfgText, secretMount string
	var secretName string
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil:
			if v.ConfigMap.Name != cm.Name {
				t.Errorf("volume %s names ConfigMap %s, the rendering has %s", v.Name, v.ConfigMap.Name, cm.Name)
			}
			if dir, file := path.Split(cfgPath); strings.TrimSuffix(dir, "/") == mounts[v.Name] {
				cfgText = cm.Data[file]
			}
		case v.Secret != nil:
			secretMount, secretName = mounts[v.Name], v.Secret.SecretName
			if secretMount == "" {
				t.Errorf("secret volume %s is not mounted in the sidecar", v.Name)
			}
			if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o040 == 0 || *v.Secret.DefaultMode&0o007 != 0 {
				t.Errorf("the secret files must be group-readable (fsGroup) and not world-readable")
			}
		}
	}
	if cfgText == "" {
		t.Fatalf("--config %s is not a key of the ConfigMap mounted in the sidecar", cfgPath)
	}

	// The config, as the sidecar reads it, with its secret files served
	// from the Secret.
	var secretData map[string][]byte
	if w.secretFromChart {
		for _, s := range b.secrets {
			if s.Name == secretName {
				secretData = s.Data
				for k, v := range s.StringData {
					secretData[k] = []byte(v)
				}
			}
		}
		if secretData == nil {
			t.Fatalf("the pod mounts Secret %q, which the rendering lacks", secretName)
		}
	}
	var cfg sidecar.Config
	dec := yaml.NewDecoder(strings.NewReader(cfgText))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("sidecar.yaml: %v\n%s", err, cfgText)
	}
	readFile := func(p string) ([]byte, error) {
		dir, key := path.Split(p)
		if secretMount == "" || strings.TrimSuffix(dir, "/") != secretMount {
			return nil, fmt.Errorf("%s is not in the Secret volume (%s)", p, secretMount)
		}
		if secretData == nil { // an existing Secret: any key
			return []byte("0123456789abcdef0123456789abcdef"), nil
		}
		v, ok := secretData[key]
		if !ok {
			return nil, fmt.Errorf("the Secret has no key %s", key)
		}
		return v, nil
	}
	if err := cfg.Check(func(string) string { return "" }, readFile); err != nil {
		t.Fatalf("sidecar.yaml does not validate: %v\n%s", err, cfgText)
	}
	if cfg.SessionKey == nil {
		t.Errorf("sidecar.yaml: want a session_key shared by the replicas")
	} else if key, err := cfg.SessionKey.Resolve("session_key", func(string) string { return "" }, readFile); err != nil || len(key) < 16 {
		t.Errorf("session_key: %v (%d bytes)", err, len(key))
	}

	// Ports and probes.
	ports := map[string]int32{}
	for _, p := range side.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != portOf(t, cfg.ListenAddr()) || ports["admin"] != portOf(t, cfg.AdminAddr()) {
		t.Errorf("container ports %v do not match listen %s / admin_listen %s", ports, cfg.ListenAddr(), cfg.AdminAddr())
	}
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{side.LivenessProbe, "/healthz"}, {side.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("admin") {
			t.Errorf("want a probe GET %s on the admin port, got %+v", p.path, p.probe)
		}
	}

	// The MCP server: the sidecar's upstream, on loopback, no ports.
	mcp := others[0]
	up, err := url.Parse(cfg.Upstream)
	if err != nil || up.Hostname() != "127.0.0.1" {
		t.Errorf("upstream %q: want the MCP server on the pod's loopback", cfg.Upstream)
	}
	if w.mcpServerLoopbackArgs && flagValue(mcp.Args, "listen") != up.Host {
		t.Errorf("MCP server args %q: want --listen=%s (the sidecar's upstream)", mcp.Args, up.Host)
	}
	if len(mcp.Ports) != 0 {
		t.Errorf("the MCP server declares ports %v; only the sidecar's are reachable", mcp.Ports)
	}

	// SIGTERM: the MCP server outlives the sidecar's drain, all within the
	// grace period.
	drain := cfg.Drain() + cfg.Shutdown()
	var mcpPre time.Duration
	if mcp.Lifecycle != nil && mcp.Lifecycle.PreStop != nil && mcp.Lifecycle.PreStop.Sleep != nil {
		mcpPre = time.Duration(mcp.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	grace := 30 * time.Second
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if mcpPre < drain {
		t.Errorf("the MCP server's preStop sleep (%v) should outlast the sidecar's drain_delay + shutdown_timeout (%v)", mcpPre, drain)
	}
	if grace <= mcpPre || grace <= drain {
		t.Errorf("terminationGracePeriodSeconds (%v) should exceed the MCP server's preStop (%v) and the drain (%v)", grace, mcpPre, drain)
	}

	// Reload: roll on change, or let the sidecar watch its files.
	ann := dep.Spec.Template.Annotations
	switch {
	case w.rolloutByName:
	case w.rollout:
		if ann["checksum/config"] == "" || cfg.Watch() {
			t.Errorf("rollout: want a checksum/config annotation and watch_config false (annotations %v, watch %v)", ann, cfg.Watch())
		}
		if w.secretFromChart && ann["checksum/secret"] == "" {
			t.Errorf("rollout: want a checksum/secret annotation for the chart's Secret")
		}
	default:
		for k := range ann {
			if strings.HasPrefix(k, "checksum/") {
				t.Errorf("watch: the pod template has %s, which would roll the pods on a change", k)
			}
		}
		if !cfg.Watch() {
			t.Errorf("watch: want watch_config true")
		}
	}

	// Services: the front door only, and the admin port only in the
	// ServiceMonitor's headless Service.
	var front, metrics *corev1.Service
	for _, s := range b.services {
		if !selects(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}, podLabels) {
			t.Errorf("Service %s does not select the pods", s.Name)
		}
		for _, p := range s.Spec.Ports {
			switch p.TargetPort {
			case intstr.FromString("http"):
				front = s
			case intstr.FromString("admin"):
				metrics = s
				if s.Spec.ClusterIP != corev1.ClusterIPNone || s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
					t.Errorf("Service %s exposes the admin port: it must be headless, for the ServiceMonitor", s.Name)
				}
			default:
				t.Errorf("Service %s targets %v: only the named ports http and admin are expected", s.Name, p.TargetPort.String())
			}
		}
		if len(s.Spec.Ports) != 1 {
			t.Errorf("Service %s: want exactly one port, got %d", s.Name, len(s.Spec.Ports))
		}
	}
	if front == nil {
		t.Errorf("no Service for the front door")
	}
	if (metrics != nil) != w.serviceMonitor {
		t.Errorf("metrics Service present %v, want %v (only with the ServiceMonitor)", metrics != nil, w.serviceMonitor)
	}
	if len(b.monitors) != boolInt(w.serviceMonitor) {
		t.Fatalf("want %d ServiceMonitors, got %d", boolInt(w.serviceMonitor), len(b.monitors))
	}
	for _, m := range b.monitors {
		if metrics == nil || !selects(&m.Spec.Selector, metrics.Labels) {
			t.Errorf("ServiceMonitor %s does not select the metrics Service", m.Name)
		} else if selects(&m.Spec.Selector, front.Labels) {
			t.Errorf("ServiceMonitor %s also selects the front door's Service", m.Name)
		}
		if len(m.Spec.Endpoints) != 1 || m.Spec.Endpoints[0].Port != metrics.Spec.Ports[0].Name || m.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor %s: want one endpoint, /metrics on the admin port: %+v", m.Name, m.Spec.Endpoints)
		}
	}

	// PodDisruptionBudget.
	if len(b.pdbs) != boolInt(w.pdb) {
		t.Fatalf("want %d PodDisruptionBudgets, got %d", boolInt(w.pdb), len(b.pdbs))
	}
	for _, p := range b.pdbs {
		if !selects(p.Spec.Selector, podLabels) {
			t.Errorf("PodDisruptionBudget %s does not select the pods", p.Name)
		}
		if (p.Spec.MaxUnavailable == nil) == (p.Spec.MinAvailable == nil) {
			t.Errorf("PodDisruptionBudget %s: want exactly one of maxUnavailable and minAvailable", p.Name)
		}
	}

	// NetworkPolicy: only the front door, and the admin port only from
	// named peers.
	if len(b.netpols) != boolInt(w.netpol) {
		t.Fatalf("want %d NetworkPolicies, got %d", boolInt(w.netpol), len(b.netpols))
	}
	for _, np := range b.netpols {
		checkNetworkPolicy(t, np, podLabels)
	}

	// The ServiceAccount the pod names exists, without a token either.
	for _, sa := range b.serviceAccounts {
		if sa.Name == pod.ServiceAccountName && (sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken) {
			t.Errorf("ServiceAccount %s: want automountServiceAccountToken false", sa.Name)
		}
	}
	return &cfg
}

func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, podLabels map[string]string) {
	t.Helper()
	if !selects(&np.Spec.PodSelector, podLabels) {
		t.Errorf("NetworkPolicy %s does not select the pods", np.Name)
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("NetworkPolicy %s: want policyTypes Ingress", np.Name)
	}
	frontRules := 0
	for i, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			t.Errorf("NetworkPolicy %s rule %d admits every port", np.Name, i)
		}
		for _, p := range r.Ports {
			if p.Port == nil {
				t.Errorf("NetworkPolicy %s rule %d admits every port", np.Name, i)
				continue
			}
			switch *p.Port {
			case intstr.FromString("http"):
				frontRules++
			case intstr.FromString("admin"):
				if len(r.From) == 0 {
					t.Errorf("NetworkPolicy %s rule %d admits the admin port from anywhere", np.Name, i)
				}
				for _, peer := range r.From {
					if peer.IPBlock != nil || (peer.NamespaceSelector == nil && peer.PodSelector == nil) {
						t.Errorf("NetworkPolicy %s rule %d: the admin port only from selected pods or namespaces", np.Name, i)
					}
				}
			default:
				t.Errorf("NetworkPolicy %s rule %d admits port %s: only the front door (http) and the admin port are expected", np.Name, i, p.Port.String())
			}
		}
	}
	if frontRules != 1 {
		t.Errorf("NetworkPolicy %s: want one rule for the front door port, got %d", np.Name, frontRules)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func secretValue(t *testing.T, s *corev1.Secret, key string) string {
	t.Helper()
	if v, ok := s.StringData[key]; ok {
		return v
	}
	v, ok := s.Data[key]
	if !ok {
		t.Fatalf("Secret %s has no key %s", s.Name, key)
	}
	return string(v)
}
