package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const releaseScript = "scripts/release.sh"

// TestReleaseScriptSyntax: scripts/release.sh parses, and `make release`
// runs it.
func TestReleaseScriptSyntax(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	out, err := exec.Command("bash", "-n", filepath.Join(repoRoot, releaseScript)).CombinedOutput()
	if err != nil {
		t.Fatalf("bash -n %s: %v\n%s", releaseScript, err, out)
	}
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "\nrelease:") || !strings.Contains(string(mk), releaseScript) {
		t.Errorf("Makefile: want a release target that runs %s", releaseScript)
	}
}

// TestRelease runs the release recipe for this machine's platform only
// (the full matrix is the same command four times) and checks what it
// produces: static binaries stamped with the version and the commit,
// SHA256SUMS that verify, the release notes, and the image commands.
// Both binaries are then run: `mcp-sidecar version`, `caddy version`, and
// `caddy mcp-healthcheck` (the Caddy image's HEALTHCHECK) against a
// running Caddy.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries with -trimpath (-short)")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dist := filepath.Join(t.TempDir(), "dist")
	const ver = "v0.0.0-releasetest"
	platform := runtime.GOOS + "/" + runtime.GOARCH
	cmd := exec.Command("bash", releaseScript)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "VERSION="+ver, "PLATFORMS="+platform, "BINARIES=mcp-sidecar caddy", "DIST="+dist, "IMAGES=print")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", releaseScript, err, out)
	}
	for _, want := range []string{
		"docker build --build-arg VERSION=" + ver, "-f Dockerfile.caddy -t mcp-frontdoor/caddy:" + ver,
		"docker buildx build --platform linux/amd64,linux/arm64", "To publish (not done here)",
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// SHA256SUMS covers every file and verifies.
	sums := map[string]string{}
	f, err := os.Open(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		sums[name] = sum
	}
	f.Close()
	ents, _ := os.ReadDir(dist)
	for _, e := range ents {
		if e.Name() == "SHA256SUMS" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dist, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if sums[e.Name()] != hex.EncodeToString(h[:]) {
			t.Errorf("SHA256SUMS: %s is %q, the file hashes to %x", e.Name(), sums[e.Name()], h)
		}
	}
	suffix := "_" + ver + "_" + runtime.GOOS + "_" + runtime.GOARCH
	sidecarBin := filepath.Join(dist, "mcp-sidecar"+suffix)
	caddyBin := filepath.Join(dist, "caddy"+suffix)
	for _, b := range []string{sidecarBin, caddyBin} {
		if _, ok := sums[filepath.Base(b)]; !ok {
			t.Fatalf("%s is not in SHA256SUMS (%v)", filepath.Base(b), sums)
		}
		if runtime.GOOS == "linux" {
			checkStatic(t, b)
		}
	}
	notes, err := os.ReadFile(filepath.Join(dist, "RELEASE_NOTES.md"))
	if err != nil || !bytes.HasPrefix(notes, []byte("## [")) {
		t.Errorf("RELEASE_NOTES.md: %v %q", err, notes)
	}

	// The stamp: version, and the commit when this is a git checkout.
	rev := ""
	if b, err := exec.Command("git", "-C", repoRoot, "rev-parse", "HEAD").Output(); err == nil {
		rev = strings.TrimSpace(string(b))
	}
	got := run(t, sidecarBin, "version")
	wantPrefix := "mcp-sidecar " + ver + " ("
	if rev != "" {
		wantPrefix += "revision " + rev[:12]
	}
	if !strings.HasPrefix(got, wantPrefix) || !strings.Contains(got, platform) {
		t.Errorf("mcp-sidecar version = %q, want %q… with %s", got, wantPrefix, platform)
	}
	if got := run(t, caddyBin, "version"); !strings.HasPrefix(got, "mcp-frontdoor "+strings.TrimPrefix(wantPrefix, "mcp-sidecar ")) || !strings.Contains(got, "with Caddy v2.") {
		t.Errorf("caddy version = %q", got)
	}
	if rev != "" {
		// -buildvcs=true: the Go build info has the commit too.
		if got := run(t, "go", "version", "-m", sidecarBin); !strings.Contains(got, "vcs.revision="+rev) || !strings.Contains(got, "-trimpath=true") || !strings.Contains(got, "CGO_ENABLED=0") {
			t.Errorf("go version -m: want vcs.revision=%s, -trimpath=true and CGO_ENABLED=0:\n%s", rev, got)
		}
	}

	// The Caddy image's HEALTHCHECK: `caddy mcp-healthcheck` against a
	// running Caddy's admin API, then against none.
	port := freePort(t)
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	home := t.TempDir()
	cfg := filepath.Join(home, "caddy.json")
	if err := os.WriteFile(cfg, []byte(`{"admin":{"listen":"`+admin+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	caddyRun := exec.CommandContext(ctx, caddyBin, "run", "--config", cfg)
	caddyRun.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
	var caddyLog bytes.Buffer
	caddyRun.Stdout, caddyRun.Stderr = &caddyLog, &caddyLog
	if err := caddyRun.Start(); err != nil {
		t.Fatal(err)
	}
	healthy := func() error {
		c := exec.Command(caddyBin, "mcp-healthcheck", "--address", admin, "--timeout", "2s")
		c.Env = caddyRun.Env
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := healthy()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy mcp-healthcheck never succeeded: %v\ncaddy log:\n%s", err, caddyLog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = caddyRun.Process.Kill()
	_ = caddyRun.Wait()
	if err := healthy(); err == nil {
		t.Errorf("caddy mcp-healthcheck succeeded with Caddy stopped")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// checkStatic: a CGO_ENABLED=0 binary needs no dynamic loader or library.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	if f.Section(".interp") != nil || len(libs) > 0 {
		t.Errorf("%s is not static (interpreter or libraries %v)", filepath.Base(path), libs)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
