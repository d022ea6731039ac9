package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const kustomizeBase = "kustomize/base"

// kustomization is the part of kustomize's Kustomization the base uses,
// decoded strictly.
type kustomization struct {
	APIVersion         string   `yaml:"apiVersion"`
	Kind               string   `yaml:"kind"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	Images []struct {
		Name    string `yaml:"name"`
		NewTag  string `yaml:"newTag"`
		NewName string `yaml:"newName"`
		Digest  string `yaml:"digest"`
	} `yaml:"images"`
}

// TestKustomizeBaseFiles decodes every manifest of the kustomize base
// strictly into its API type, and the kustomization itself: every YAML
// file in the directory is a resource or a generator input.
func TestKustomizeBaseFiles(t *testing.T) {
	var k kustomization
	b, err := os.ReadFile(filepath.Join(kustomizeBase, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: apiVersion %q kind %q", k.APIVersion, k.Kind)
	}
	listed := slices.Clone(k.Resources)
	for _, g := range k.ConfigMapGenerator {
		listed = append(listed, g.Files...)
	}
	ents, err := os.ReadDir(kustomizeBase)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name := e.Name()
		if name == "kustomization.yaml" || !strings.HasSuffix(name, ".yaml") {
			continue
		}
		if !slices.Contains(listed, name) {
			t.Errorf("%s is not listed in kustomization.yaml", name)
		}
	}
	for _, r := range k.Resources {
		b, err := os.ReadFile(filepath.Join(kustomizeBase, r))
		if err != nil {
			t.Fatalf("resource %s: %v", r, err)
		}
		decodeAll(t, r, b)
	}
}

// TestKustomizeBuild builds the base with kustomize (from the module
// proxy) and checks the result as the chart's renderings are checked:
// the generated ConfigMap's hashed name reaches the Deployment, the config
// validates, the NetworkPolicy admits only the front door.
func TestKustomizeBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kustomize from the module proxy (-short)")
	}
	out, err := goRun(t, kustomizeModule, "build", "deploy/"+kustomizeBase)
	if err != nil {
		t.Fatal(err)
	}
	b := newBundle(decodeAll(t, "kustomize build", out))
	// The Secret is created by hand (kustomization.yaml's header): any key.
	cfg := checkBundle(t, b, want{pdb: true, netpol: true, mcpServerLoopbackArgs: true, rolloutByName: true})
	if !cfg.Watch() {
		t.Errorf("the base's Secret is not hashed: the sidecar should watch its secret files")
	}
	if cm := b.configMaps[0]; !strings.HasPrefix(cm.Name, "mcp-frontdoor-config-") {
		t.Errorf("ConfigMap %s: want the generator's hashed name (a config change rolls the pods)", cm.Name)
	}
	for _, c := range b.deployments[0].Spec.Template.Spec.Containers {
		if !strings.HasSuffix(c.Image, ":v0.1.0") {
			t.Errorf("container %s: image %s, want the images: tag", c.Name, c.Image)
		}
	}
}
