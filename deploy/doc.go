// Package deploy holds the deployment material, and its tests:
//
//   - helm/mcp-frontdoor: the Helm chart (an MCP server and mcp-sidecar in
//     one pod), helm/demo-values.yaml for the README's walkthrough;
//   - kustomize/base: the same as plain manifests, a kustomize base.
//
// The tests (go test ./deploy) lint and render the chart with helm, build
// the kustomize base with kustomize (both from the Go module proxy, pinned),
// decode every object strictly into its Kubernetes API type (unknown or
// duplicate fields are errors), and check that the pieces fit: the
// sidecar's config validates with its secret files, probes and the Service
// hit the right ports, the NetworkPolicy admits only the front door (and
// the admin port only from monitoring), the drain timings nest. They also
// check the Dockerfiles (digest-pinned bases, HEALTHCHECK), the release
// recipe (scripts/release.sh) and the project documents.
package deploy
