package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/version"
)

var (
	fromLine    = regexp.MustCompile(`(?im)^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$`)
	pinnedImage = regexp.MustCompile(`^[a-z0-9./_-]+(?::[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$`)
)

// TestDockerfiles: both images start from digest-pinned bases, stamp the
// version into internal/version, and carry a HEALTHCHECK that runs a
// binary the image has (exec form: distroless has no shell).
func TestDockerfiles(t *testing.T) {
	for _, tc := range []struct {
		file, binary, healthcheck string
	}{
		{"Dockerfile", "/usr/local/bin/mcp-sidecar", `CMD ["/usr/local/bin/mcp-sidecar", "healthcheck"]`},
		{"Dockerfile.caddy", "/usr/bin/caddy", `CMD ["/usr/bin/caddy", "mcp-healthcheck"]`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(repoRoot, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			froms := fromLine.FindAllStringSubmatch(text, -1)
			if len(froms) < 2 {
				t.Fatalf("want a build stage and a final stage, found %d FROM lines", len(froms))
			}
			stages := map[string]bool{}
			for _, f := range froms {
				if !stages[f[1]] && !pinnedImage.MatchString(f[1]) {
					t.Errorf("FROM %s: pin the base image by digest (image:tag@sha256:<64 hex>)", f[1])
				}
				if f[2] != "" {
					stages[f[2]] = true
				}
			}
			if final := froms[len(froms)-1][1]; !strings.HasPrefix(final, "gcr.io/distroless/static-debian12:nonroot@") {
				t.Errorf("final stage %s: want distroless/static nonroot", final)
			}
			if !strings.Contains(text, "COPY --from=build /out/") || !strings.Contains(text, " "+tc.binary+"\n") {
				t.Errorf("the image should contain %s", tc.binary)
			}
			for _, v := range []string{"Version=${VERSION}", "Revision=${REVISION}"} {
				if !strings.Contains(text, "-X "+version.ModulePath+"/internal/version."+v) {
					t.Errorf("the build should stamp -X %s/internal/version.%s", version.ModulePath, v)
				}
			}
			var hc []string
			for _, l := range strings.Split(strings.ReplaceAll(text, "\\\n", " "), "\n") {
				if strings.HasPrefix(l, "HEALTHCHECK") {
					hc = append(hc, l)
				}
			}
			if len(hc) != 1 || !strings.HasSuffix(strings.TrimSpace(hc[0]), tc.healthcheck) {
				t.Errorf("want one HEALTHCHECK ending in %s, got %q", tc.healthcheck, hc)
			}
			if !strings.Contains(text, "crane digest") {
				t.Errorf("say how to refresh the pinned digests")
			}
		})
	}
}
