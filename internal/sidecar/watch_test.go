package sidecar_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/jwkstest"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar"
	"github.com/mcp-frontdoor/mcp-frontdoor/internal/sidecar/sidecartest"
)

// kubeVolume is a directory laid out as the kubelet lays out a ConfigMap
// or Secret volume: the files live in a timestamped directory, ..data is
// a symlink to it, and each file name is a symlink to ..data/name.
type kubeVolume struct {
	dir, cur string
	n        atomic.Int64
}

func newKubeVolume(t *testing.T, files map[string]string) *kubeVolume {
	t.Helper()
	v := &kubeVolume{dir: t.TempDir()}
	v.cur = v.writeDir(t, files)
	if err := os.Symlink(v.cur, filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// writeDir writes files into a new ..<timestamp> directory; its name.
func (v *kubeVolume) writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	name := time.Now().Format("..2006_01_02_15_04_05.000000000") + fmt.Sprint(v.n.Add(1))
	if err := os.Mkdir(filepath.Join(v.dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(v.dir, name, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

// update swaps the volume's content as the kubelet does: a new
// timestamped directory, a ..data_tmp symlink to it renamed over ..data
// (atomic), then the old directory removed.
func (v *kubeVolume) update(t *testing.T, files map[string]string) {
	t.Helper()
	next := v.writeDir(t, files)
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(next, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(v.dir, v.cur)); err != nil {
		t.Fatal(err)
	}
	v.cur = next
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watchLogger is a JSON logger into a buffer whose level follows
// log_level, as NewLogger's does.
func watchLogger() (*zap.Logger, zap.AtomicLevel, *lockedWriter) {
	lw := &lockedWriter{w: &bytes.Buffer{}}
	lvl := zap.NewAtomicLevelAt(zap.InfoLevel)
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(lw), lvl)
	return zap.New(core, sidecar.ReloadableLevel(lvl)), lvl, lw
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// TestWatchKubernetesVolumeSwap: the config file and a secret file, both
// in kubelet-style volumes, are swapped atomically; the sidecar reloads
// each change on its own (no SIGHUP), refuses a bad config with the old
// one serving, applies log_level, and does not reload unchanged content.
func TestWatchKubernetesVolumeSwap(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := newUpstream(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	resource := base + "/mcp"
	secrets := newKubeVolume(t, map[string]string{"api-key": "key-one\n"})
	conf := func(name, level string) map[string]string {
		return map[string]string{"sidecar.yaml": fmt.Sprintf(`listen: %s
admin_listen: "off"
drain_delay: 0s
log_level: %s
upstream: %s
resource: %s
resource_name: %s
authorization_servers:
  - issuer: %s
    jwks_uri: %s
secret_headers:
  - header: X-Api-Key
    file: %s
`, ln.Addr(), level, up.url, resource, name, as.Issuer, as.JWKSURL(), filepath.Join(secrets.dir, "api-key"))}
	}
	cm := newKubeVolume(t, conf("One", "info"))
	path := filepath.Join(cm.dir, "sidecar.yaml")
	cfg, err := sidecar.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log, lvl, logs := watchLogger()
	app := sidecartest.Serve(t, cfg, log, nil, ln, nil)
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	go func() { watchDone <- app.WatchConfig(ctx, path) }()
	t.Cleanup(func() {
		cancel()
		if err := <-watchDone; err != nil {
			t.Errorf("WatchConfig: %v", err)
		}
	})
	waitFor(t, "the watch to start", func() bool { return strings.Contains(logs.String(), "config watch: watching") })

	prm := func() string {
		_, body := do(t, "GET", base+"/.well-known/oauth-protected-resource/mcp", nil, "")
		return body
	}
	tok := k.Sign(t, jwt.MapClaims{"iss": as.Issuer, "sub": "alice", "aud": resource, "exp": time.Now().Add(time.Hour).Unix()}, nil)
	apiKey := func() string {
		resp, _ := do(t, "POST", resource, http.Header{"Authorization": {"Bearer " + tok}}, pingBody)
		if resp.StatusCode != 200 {
			t.Fatalf("request = %d", resp.StatusCode)
		}
		return up.last(t).header.Get("X-Api-Key")
	}
	reloads := func() int { return strings.Count(logs.String(), "configuration reloaded") }
	if !strings.Contains(prm(), `"resource_name":"One"`) || apiKey() != "key-one" {
		t.Fatalf("before: %s", prm())
	}

	// The ConfigMap changes.
	cm.update(t, conf("Two", "info"))
	waitFor(t, "resource_name Two", func() bool { return strings.Contains(prm(), `"resource_name":"Two"`) })
	if n := reloads(); n != 1 {
		t.Fatalf("%d reloads for one update", n)
	}

	// A bad config is refused; the running one keeps serving.
	cm.update(t, map[string]string{"sidecar.yaml": "upstream: ftp://nope\n"})
	waitFor(t, "the refusal", func() bool { return strings.Contains(logs.String(), "configuration refused") })
	if !strings.Contains(prm(), `"resource_name":"Two"`) || apiKey() != "key-one" {
		t.Fatalf("after a refused config: %s", prm())
	}

	// log_level applies on reload.
	cm.update(t, conf("Three", "debug"))
	waitFor(t, "resource_name Three", func() bool { return strings.Contains(prm(), `"resource_name":"Three"`) })
	if lvl.Level() != zap.DebugLevel {
		t.Fatalf("log level after reload = %v", lvl.Level())
	}
	if l, ok := app.LogLevel(); !ok || l != zap.DebugLevel {
		t.Fatalf("App.LogLevel = %v %v", l, ok)
	}

	// The Secret changes: the new value reaches the upstream.
	secrets.update(t, map[string]string{"api-key": "key-two\n"})
	waitFor(t, "the new secret upstream", func() bool { return apiKey() == "key-two" })

	// Same content again: files are re-read, nothing is reloaded.
	n := reloads()
	cm.update(t, conf("Three", "debug"))
	waitFor(t, "the unchanged check", func() bool { return strings.Contains(logs.String(), "config watch: files unchanged") })
	if reloads() != n {
		t.Fatal("unchanged content was reloaded")
	}
}

// TestWatchPlainFileAndSwitchOff: a config file written in place is
// reloaded; watch_config: false stops the watch (SIGHUP still reloads,
// and turns it back on).
func TestWatchPlainFileAndSwitchOff(t *testing.T) {
	k := jwkstest.NewKey(t, "k", "ES256")
	as := jwkstest.NewServer(t, k)
	up := newUpstream(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sidecar.yaml")
	write := func(name, extra string) {
		y := fmt.Sprintf("listen: %s\nadmin_listen: \"off\"\ndrain_delay: 0s\nupstream: %s\nresource: http://%s/mcp\nresource_name: %s\nauthorization_servers:\n  - issuer: %s\n    jwks_uri: %s\n%s",
			ln.Addr(), up.url, ln.Addr(), name, as.Issuer, as.JWKSURL(), extra)
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("One", "")
	cfg, err := sidecar.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log, _, logs := watchLogger()
	app := sidecartest.Serve(t, cfg, log, nil, ln, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = app.WatchConfig(ctx, path) }()
	hup := make(chan os.Signal, 1)
	go app.WatchReload(ctx, hup, path)
	waitFor(t, "the watch to start", func() bool { return strings.Contains(logs.String(), "config watch: watching") })
	name := func() string { return app.Config().ResourceName }

	write("Two", "watch_config: false\n")
	waitFor(t, "resource_name Two", func() bool { return name() == "Two" })
	write("Three", "watch_config: false\n")
	time.Sleep(4 * sidecar.WatchDebounce)
	if name() != "Two" {
		t.Fatalf("reloaded with watch_config: false (%s)", name())
	}
	hup <- os.Interrupt // SIGHUP
	waitFor(t, "the SIGHUP reload", func() bool { return name() == "Three" })
	if !strings.Contains(logs.String(), "config watch: stopped") {
		t.Fatal("no log line for the stopped watch")
	}
	write("Four", "")
	hup <- os.Interrupt // watch_config back on
	waitFor(t, "the watch to resume", func() bool { return strings.Contains(logs.String(), "config watch: resumed") })
	if name() != "Four" {
		t.Fatalf("after SIGHUP: %s", name())
	}
	write("Five", "")
	waitFor(t, "resource_name Five", func() bool { return name() == "Five" })
}

// TestStdioSecretFileChangeRestartsBridge: a reload after a stdio
// secret_env file changed starts a new bridge (a kept one would pass the
// old value to new processes); an unchanged file keeps the bridge.
func TestStdioSecretFileChangeRestartsBridge(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "token")
	if err := os.WriteFile(secret, []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sidecar.yaml")
	y := "drain_delay: 0s\nresource: http://127.0.0.1:8080/mcp\nauthorization_servers:\n  - issuer: https://as.example.com\nstdio:\n  command: [/bin/cat]\n  secret_env:\n    - name: TOKEN\n      file: " + secret + "\n"
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := sidecar.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	app, err := sidecar.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.FrontDoor().Close(context.Background()) }()
	b1 := app.FrontDoor().Bridge()
	if err := app.ReloadFile(path); err != nil {
		t.Fatal(err)
	}
	if app.FrontDoor().Bridge() != b1 {
		t.Fatal("an unchanged reload replaced the stdio bridge")
	}
	if err := os.WriteFile(secret, []byte("two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := app.ReloadFile(path); err != nil {
		t.Fatal(err)
	}
	if app.FrontDoor().Bridge() == b1 {
		t.Fatal("a changed secret_env file kept the old stdio bridge")
	}
}
