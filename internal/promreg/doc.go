// Package promreg holds the one Prometheus helper the front door's packages
// share: Register, which registers a collector or, when an equal collector
// is already registered (the same Caddy directive in several sites, a config
// reload), hands back the one that is there, as Caddy's reverse proxy does.
// It knows nothing about tokens or MCP.
package promreg
