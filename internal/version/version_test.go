package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func settings(kv ...string) []debug.BuildSetting {
	var out []debug.BuildSetting
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

const rev = "0123456789abcdef0123456789abcdef01234567"

func TestFromBuildInfo(t *testing.T) {
	plat := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name  string
		bi    *debug.BuildInfo
		stamp Stamp
		want  Info
		str   string
	}{
		{
			name: "no build info",
			want: Info{Version: Devel, GoVersion: runtime.Version(), Platform: plat},
			str:  "(devel) (" + runtime.Version() + " " + plat + ")",
		},
		{
			name: "go run: devel, no vcs",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: ModulePath, Version: Devel}},
			want: Info{Version: Devel, GoVersion: "go1.26.0", Platform: plat},
			str:  "(devel) (go1.26.0 " + plat + ")",
		},
		{
			name: "tagged checkout with -buildvcs",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: ModulePath, Version: "v0.2.0"},
				Settings: settings("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-01-02T03:04:05Z", "vcs.modified", "false")},
			want: Info{Version: "v0.2.0", Revision: rev, Time: "2026-01-02T03:04:05Z", GoVersion: "go1.26.0", Platform: plat},
			str:  "v0.2.0 (revision 0123456789ab, 2026-01-02T03:04:05Z, go1.26.0 " + plat + ")",
		},
		{
			name: "modified tree: go's +dirty is not repeated",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: ModulePath, Version: "v0.2.1-0.20260102030405-0123456789ab+dirty"},
				Settings: settings("vcs.revision", rev, "vcs.modified", "true")},
			want: Info{Version: "v0.2.1-0.20260102030405-0123456789ab+dirty", Revision: rev, Modified: true, GoVersion: "go1.26.0", Platform: plat},
			str:  "v0.2.1-0.20260102030405-0123456789ab+dirty (revision 0123456789ab, go1.26.0 " + plat + ")",
		},
		{
			name: "modified tree without a version",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: ModulePath, Version: Devel},
				Settings: settings("vcs.revision", rev, "vcs.modified", "true")},
			want: Info{Version: Devel, Revision: rev, Modified: true, GoVersion: "go1.26.0", Platform: plat},
			str:  "(devel) (revision 0123456789ab+modified, go1.26.0 " + plat + ")",
		},
		{
			name: "as a dependency (xcaddy): the module's version from Deps",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "caddy", Version: Devel},
				Deps: []*debug.Module{{Path: "github.com/caddyserver/caddy/v2", Version: "v2.11.9"}, {Path: ModulePath, Version: "v0.3.0"}}},
			want: Info{Version: "v0.3.0", GoVersion: "go1.26.0", Platform: plat},
		},
		{
			name: "as a replaced dependency: no version claimed",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "caddy", Version: Devel},
				Deps: []*debug.Module{{Path: ModulePath, Version: "v0.3.0", Replace: &debug.Module{Path: "../mcp-frontdoor"}}}},
			want: Info{Version: Devel, GoVersion: "go1.26.0", Platform: plat},
		},
		{
			name: "ldflags win over the build info",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: ModulePath, Version: Devel},
				Settings: settings("vcs.revision", "ffff", "vcs.modified", "true")},
			stamp: Stamp{Version: "v1.0.0", Revision: rev, Time: "2026-03-04T05:06:07Z", Modified: "false"},
			want:  Info{Version: "v1.0.0", Revision: rev, Time: "2026-03-04T05:06:07Z", GoVersion: "go1.26.0", Platform: plat},
			str:   "v1.0.0 (revision 0123456789ab, 2026-03-04T05:06:07Z, go1.26.0 " + plat + ")",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FromBuildInfo(tc.bi, tc.stamp)
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if tc.str != "" && got.String() != tc.str {
				t.Errorf("String() = %q, want %q", got.String(), tc.str)
			}
		})
	}
}

// The test binary itself: a build of this module, with the -ldflags
// variables unset.
func TestGet(t *testing.T) {
	got := Get()
	if got.Version == "" || got.GoVersion != runtime.Version() || !strings.Contains(got.String(), runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("Get() = %+v", got)
	}
}
