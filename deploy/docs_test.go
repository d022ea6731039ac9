package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readmeSection returns the README's "## title" section.
func readmeSection(t *testing.T, readme, title string) string {
	t.Helper()
	start := strings.Index(readme, "\n## "+title+"\n")
	if start < 0 {
		t.Fatalf("README.md has no section %q", title)
	}
	rest := readme[start+1:]
	if end := strings.Index(rest[3:], "\n## "); end >= 0 {
		rest = rest[:end+3]
	}
	return rest
}

// TestProjectDocs: the license, the changelog, the security policy, and the
// README's deployment and release sections with their links.
func TestProjectDocs(t *testing.T) {
	license := readRepoFile(t, "LICENSE")
	for _, want := range []string{"Apache License", "Version 2.0, January 2004", "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "END OF TERMS AND CONDITIONS"} {
		if !strings.Contains(license, want) {
			t.Errorf("LICENSE is not the Apache License 2.0 text (no %q)", want)
		}
	}

	changelog := readRepoFile(t, "CHANGELOG.md")
	if !strings.Contains(changelog, "https://keepachangelog.com/en/1.1.0/") || !strings.Contains(changelog, "\n## [Unreleased]\n") {
		t.Errorf("CHANGELOG.md: want the Keep a Changelog format with an [Unreleased] section")
	}
	for _, h := range regexp.MustCompile(`(?m)^## \[([^\]]+)\](.*)$`).FindAllStringSubmatch(changelog, -1) {
		if h[1] != "Unreleased" && (!regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(h[1]) || !regexp.MustCompile(`^ - \d{4}-\d{2}-\d{2}$`).MatchString(h[2])) {
			t.Errorf("CHANGELOG.md: release heading %q: want ## [X.Y.Z] - YYYY-MM-DD", h[0])
		}
		if !strings.Contains(changelog, "\n["+h[1]+"]: ") {
			t.Errorf("CHANGELOG.md: no link reference for [%s]", h[1])
		}
	}

	readme := readRepoFile(t, "README.md")
	security := readRepoFile(t, "SECURITY.md")
	if !strings.Contains(security, "README.md#security-model") || !strings.Contains(readme, "\n## Security model\n") {
		t.Errorf("SECURITY.md should link the README's Security model section")
	}
	if !strings.Contains(security, "\n## Reporting a vulnerability\n") {
		t.Errorf("SECURITY.md should say how to report a vulnerability")
	}

	// The first screen's two commands stay as they are.
	for _, cmd := range []string{"go run ./cmd/mcp-sidecar dev ", "make test "} {
		if !strings.Contains(readme[:2000], "\n"+cmd) {
			t.Errorf("README.md's first screen lost %q", cmd)
		}
	}
	for _, link := range []string{"(LICENSE)", "(CHANGELOG.md)", "(SECURITY.md)", "(#deployment)", "(#versions-and-releases)"} {
		if !strings.Contains(readme, link) {
			t.Errorf("README.md does not link %s", link)
		}
	}
	deploy := readmeSection(t, readme, "Deployment")
	for _, want := range []string{"helm install demo deploy/helm/mcp-frontdoor -f deploy/helm/demo-values.yaml", "kubectl port-forward", "grant_type=client_credentials", "Authorization: Bearer $TOKEN", `"method":"tools/call"`, "kubectl apply -k deploy/kustomize/base"} {
		if !strings.Contains(deploy, want) {
			t.Errorf("README.md's Deployment section lacks %q", want)
		}
	}
	releases := readmeSection(t, readme, "Versions and releases")
	for _, want := range []string{"mcp-sidecar version", "caddy version", "list-modules", "make release", "SHA256SUMS"} {
		if !strings.Contains(releases, want) {
			t.Errorf("README.md's Versions and releases section lacks %q", want)
		}
	}
	// Every relative link of the two sections exists.
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`).FindAllStringSubmatch(deploy+releases, -1) {
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("README.md links %s: %v", m[1], err)
		}
	}
}
