package examples

import (
	"os"
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
)

// TestReadmePolicyExample: the README's complete policy example is a
// valid sidecar config (with a resource, an issuer and an upstream).
func TestReadmePolicyExample(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "### A complete policy")
	if !ok {
		t.Fatal("README has no complete policy example")
	}
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	block, _, _ := strings.Cut(rest, "```")
	block = strings.ReplaceAll(block, "/var/log/mcp-frontdoor/audit.jsonl", t.TempDir()+"/audit.jsonl")
	cfg := "upstream: http://127.0.0.1:3000\nresource: https://mcp.example.com/mcp\nauthorization_servers:\n  - issuer: https://as.example.com\n" + block
	if _, err := sidecar.Parse([]byte(cfg)); err != nil {
		t.Fatalf("the README's policy example does not validate: %v\n%s", err, cfg)
	}
}
