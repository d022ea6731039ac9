// Package examples holds the deployment examples (identity providers,
// docker compose, Kubernetes) as files. It has no code: its tests load the
// example configurations exactly as shipped and check them, and check that
// tokens shaped like Keycloak's and WorkOS AuthKit's are accepted or refused
// by them.
package examples
