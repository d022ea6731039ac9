// Package version reports what build of mcp-frontdoor is running: the
// release version and the VCS revision it was built from.
//
// Both come from the Go build info ([debug.ReadBuildInfo]): the main
// module's version (set by `go build` from a VCS tag since Go 1.24, or by
// `go install …@vX.Y.Z`) and the vcs.revision, vcs.time and vcs.modified
// settings that `go build -buildvcs=true` records. A release build (see
// scripts/release.sh) also stamps them with -ldflags, which win over the
// build info and work where it has none (a Docker build without .git):
//
//	-X github.com/mcp-frontdoor/mcp-frontdoor/internal/version.Version=v0.2.0
//	-X github.com/mcp-frontdoor/mcp-frontdoor/internal/version.Revision=<git rev-parse HEAD>
//	-X github.com/mcp-frontdoor/mcp-frontdoor/internal/version.Time=<commit time, RFC 3339>
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags "-X …/internal/version.NAME=VALUE"; empty means "from
// the build info".
var (
	// Version is the release version, e.g. v0.2.0.
	Version = ""
	// Revision is the VCS revision (commit hash) the binary was built from.
	Revision = ""
	// Time is the revision's commit time (RFC 3339).
	Time = ""
	// Modified is "true" when the work tree had uncommitted changes.
	Modified = ""
)

// Devel is the version of a build that has none (`go build` or `go run`
// outside a tagged checkout).
const Devel = "(devel)"

// ModulePath is the Go module these binaries are built from.
const ModulePath = "github.com/mcp-frontdoor/mcp-frontdoor"

// Info describes a build.
type Info struct {
	Version   string `json:"version"`            // v0.2.0, a pseudo-version, or (devel)
	Revision  string `json:"revision,omitempty"` // full commit hash
	Time      string `json:"time,omitempty"`     // commit time, RFC 3339
	Modified  bool   `json:"modified,omitempty"` // built from a work tree with local changes
	GoVersion string `json:"go"`                 // the Go toolchain, e.g. go1.26.0
	Platform  string `json:"platform"`           // GOOS/GOARCH
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return FromBuildInfo(bi, Stamp{Version: Version, Revision: Revision, Time: Time, Modified: Modified})
}

// String is Get().String().
func String() string { return Get().String() }

// Stamp is what -ldflags set; each non-empty field wins over the build info.
type Stamp struct {
	Version, Revision, Time, Modified string
}

// FromBuildInfo combines bi (which may be nil) with the -ldflags stamp.
func FromBuildInfo(bi *debug.BuildInfo, s Stamp) Info {
	info := Info{Version: Devel, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	var modified string
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if v := bi.Main.Version; v != "" && v != Devel {
			info.Version = v
		} else if bi.Main.Path != ModulePath {
			// Built as a dependency (xcaddy, `go install` of another main
			// module): this module's version is in the dependency list.
			for _, d := range bi.Deps {
				if d.Path == ModulePath {
					if d.Replace == nil && d.Version != "" {
						info.Version = d.Version
					}
					break
				}
			}
		}
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				info.Revision = kv.Value
			case "vcs.time":
				info.Time = kv.Value
			case "vcs.modified":
				modified = kv.Value
			}
		}
	}
	if s.Version != "" {
		info.Version = s.Version
	}
	if s.Revision != "" {
		info.Revision = s.Revision
	}
	if s.Time != "" {
		info.Time = s.Time
	}
	if s.Modified != "" {
		modified = s.Modified
	}
	info.Modified = modified == "true"
	return info
}

// String renders info on one line:
//
//	v0.2.0 (revision 0123456789ab, 2026-01-02T03:04:05Z, go1.26.0 linux/amd64)
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	b.WriteString(" (")
	if i.Revision != "" {
		rev := i.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(&b, "revision %s", rev)
		// Go already stamps "+dirty" into the version of a modified tree.
		if i.Modified && !strings.HasSuffix(i.Version, "+dirty") {
			b.WriteString("+modified")
		}
		if i.Time != "" {
			fmt.Fprintf(&b, ", %s", i.Time)
		}
		b.WriteString(", ")
	}
	fmt.Fprintf(&b, "%s %s)", i.GoVersion, i.Platform)
	return b.String()
}
