// Package parity holds the parity table: configurations that both front
// doors (the sidecar's YAML and the Caddy module's Caddyfile) must refuse
// or accept identically, naming the same option path. It has only tests.
package parity
