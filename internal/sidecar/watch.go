package sidecar

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/stdiobridge"
)

// WatchDebounce is how long the config watch waits after the last change
// it sees before it re-reads the files: a Kubernetes volume update, an
// editor's save or a `cp` are bursts of events.
const WatchDebounce = 250 * time.Millisecond

// WatchConfig reloads the config file at path when it changes, or when a
// file its secrets come from changes (secret_headers[].file,
// session_key.file, introspection client_secret.file, stdio
// secret_env[].file, rate_limits.store_password.file; not audit.file, an
// output), until ctx is done. It is what watch_config turns on; SIGHUP
// (WatchReload) keeps working alongside.
//
// The directories holding those files are watched, not the files: the
// kubelet updates a ConfigMap or Secret volume by writing a new
// timestamped directory (..2026_01_02_03_04_05.123) and renaming a
// ..data_tmp symlink over ..data, while sidecar.yaml stays a symlink to
// ..data/sidecar.yaml; the watched names never change themselves. So an
// event on a watched name, or on a name starting with "..", starts the
// debounce; then every watched file is read and hashed, and only when a
// hash differs is the config reloaded (ReloadFile: a bad config is logged
// and refused, the running one keeps serving). The set of files follows
// the running configuration and the file on disk (a config naming a
// secret file that is not there yet is retried when it appears);
// watch_config: false in the running configuration stops watching
// (SIGHUP turns it back on).
func (a *App) WatchConfig(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("config watch: %w", err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config watch: %w", err)
	}
	defer fw.Close()
	w := &configWatch{a: a, path: abs, fw: fw, added: map[string]bool{}, last: map[string]string{}}
	w.reconcile()
	w.started = true
	a.log.Info("config watch: watching the config file and its secret files", zap.String("config", abs),
		zap.Int("files", len(w.files)), zap.Bool("watch_config", w.on))
	var (
		timer *time.Timer
		fire  <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if !w.relevant(ev) {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(WatchDebounce)
			} else {
				timer.Reset(WatchDebounce)
			}
			fire = timer.C
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			a.log.Warn("config watch", zap.Error(err))
		case <-a.ops.reloaded:
			w.reconcile() // a reload (SIGHUP or ours) may name other files
		case <-fire:
			fire = nil
			w.check()
		}
	}
}

// configWatch is WatchConfig's state; only its goroutine uses it.
type configWatch struct {
	a    *App
	path string // the config file, absolute
	fw   *fsnotify.Watcher
	// files are the watched files (absolute); names maps each watched
	// directory to the base names of its watched files.
	files []string
	names map[string]map[string]bool
	added map[string]bool   // directories the watcher has
	last  map[string]string // file → content hash when last looked at
	// on: the running configuration has watch_config; started: the
	// first reconcile is done.
	on, started bool
}

// wanted is the files to watch: the config file and the files named by
// the running configuration and by the file on disk.
func (w *configWatch) wanted() []string {
	cur := w.a.Config()
	if !cur.Watch() {
		return nil
	}
	set := map[string]bool{w.path: true}
	add := func(c *Config) {
		for _, f := range referencedFiles(c) {
			if abs, err := filepath.Abs(f); err == nil {
				set[abs] = true
			}
		}
	}
	add(cur)
	if b, err := os.ReadFile(w.path); err == nil {
		var disk Config
		if decodeYAML(b, &disk) == nil {
			add(&disk)
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// reconcile makes the watched directories those of wanted(); a file new
// to the watch is hashed now, so only later changes count.
func (w *configWatch) reconcile() {
	files := w.wanted()
	names := map[string]map[string]bool{}
	for _, f := range files {
		d := filepath.Dir(f)
		if names[d] == nil {
			names[d] = map[string]bool{}
		}
		names[d][filepath.Base(f)] = true
	}
	for d := range w.added {
		if names[d] == nil {
			_ = w.fw.Remove(d)
			delete(w.added, d)
		}
	}
	for d := range names {
		if w.added[d] {
			continue
		}
		if err := w.fw.Add(d); err != nil {
			w.a.log.Warn("config watch: cannot watch a directory; changes there need SIGHUP", zap.String("dir", d), zap.Error(err))
			continue
		}
		w.added[d] = true
	}
	last := make(map[string]string, len(files))
	for _, f := range files {
		if h, ok := w.last[f]; ok {
			last[f] = h
		} else {
			last[f] = hashFile(f)
		}
	}
	w.files, w.names, w.last = files, names, last
	on := len(files) > 0 // watch_config of the running configuration
	switch {
	case !w.started || on == w.on:
	case on:
		w.a.log.Info("config watch: resumed", zap.String("config", w.path))
	default:
		w.a.log.Info("config watch: stopped (watch_config: false); SIGHUP still reloads", zap.String("config", w.path))
	}
	w.on = on
}

// relevant reports whether ev may change a watched file: an event on its
// name or on a kubelet ..name in its directory (a pure chmod is not).
func (w *configWatch) relevant(ev fsnotify.Event) bool {
	if w.added[ev.Name] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		delete(w.added, ev.Name) // the directory itself went; re-added on the next reconcile
		return true
	}
	if ev.Op == fsnotify.Chmod {
		return false
	}
	names := w.names[filepath.Dir(ev.Name)]
	if names == nil {
		return false
	}
	base := filepath.Base(ev.Name)
	return names[base] || strings.HasPrefix(base, "..")
}

// check re-reads the watched files after a debounce and reloads when one
// of them changed.
func (w *configWatch) check() {
	changed := false
	now := make(map[string]string, len(w.files))
	for _, f := range w.files {
		now[f] = hashFile(f)
		if now[f] != w.last[f] {
			changed = true
		}
	}
	if !changed {
		w.a.log.Debug("config watch: files unchanged", zap.String("config", w.path))
		return
	}
	w.last = now
	w.a.log.Info("config watch: a watched file changed; reloading", zap.String("config", w.path))
	_ = w.a.ReloadFile(w.path) // logs a refusal itself
	w.reconcile()
}

// hashFile is the SHA-256 of a file's content, or a marker saying it
// could not be read (so its appearance is a change).
func hashFile(f string) string {
	b, err := os.ReadFile(f)
	if err != nil {
		return "unreadable"
	}
	s := sha256.Sum256(b)
	return string(s[:])
}

// referencedFiles lists the files a configuration reads secrets from
// (not audit.file, which it writes).
func referencedFiles(c *Config) []string {
	var out []string
	add := func(f string) {
		if f != "" {
			out = append(out, f)
		}
	}
	for _, h := range c.SecretHeaders {
		add(h.File)
	}
	if c.SessionKey != nil {
		add(c.SessionKey.File)
	}
	for _, as := range c.AuthorizationServers {
		if as.Introspection != nil {
			add(as.Introspection.ClientSecret.File)
		}
	}
	if c.Stdio != nil {
		for _, s := range c.Stdio.SecretEnv {
			add(s.File)
		}
	}
	if c.RateLimits != nil && c.RateLimits.StorePassword != nil {
		add(c.RateLimits.StorePassword.File)
	}
	return out
}

// secretFilesDigest identifies the contents of the stdio secret_env files
// (a kept stdio bridge would pass the old values to new processes).
func secretFilesDigest(o *stdiobridge.Options) string {
	if o == nil {
		return ""
	}
	var b strings.Builder
	for _, s := range o.SecretEnv {
		if s.File != "" {
			b.WriteString(s.Name + "=" + hashFile(s.File) + "\x00")
		}
	}
	return b.String()
}
