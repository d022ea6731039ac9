package sidecar

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// Defaults of the operational keys (watch_config, drain_delay, readiness,
// admin_detail, admin_allow).
const (
	// DefaultDrainDelay is drain_delay unset: long enough for a
	// Kubernetes endpoint removal to reach kube-proxy and most ingress
	// controllers before the listener closes.
	DefaultDrainDelay = 5 * time.Second
	// ReadinessAny: /readyz is ready once any issuer's keys are loaded.
	ReadinessAny = "any"
	// ReadinessAll: /readyz is ready once every issuer's keys are loaded.
	ReadinessAll = "all"
)

// Watch reports whether the config file (and the files its secrets come
// from) is watched for changes: watch_config, default true.
func (c *Config) Watch() bool { return c.WatchConfig == nil || *c.WatchConfig }

// Drain is drain_delay with its default (0 is allowed: no delay).
func (c *Config) Drain() time.Duration {
	if c.DrainDelay == nil {
		return DefaultDrainDelay
	}
	return time.Duration(*c.DrainDelay)
}

// ReadinessPolicy is readiness with its default: ReadinessAny or
// ReadinessAll.
func (c *Config) ReadinessPolicy() string { return or(c.Readiness, ReadinessAny) }

// AdminDetails reports whether /readyz shows each issuer's state:
// admin_detail, default true.
func (c *Config) AdminDetails() bool { return c.AdminDetail == nil || *c.AdminDetail }

// adminAllow parses admin_allow: CIDRs, or single IPs (a /32 or /128).
func (c *Config) adminAllow() ([]netip.Prefix, []error) {
	var out []netip.Prefix
	var errs []error
	for i, s := range c.AdminAllow {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			errs = append(errs, &rs.FieldError{Field: fmt.Sprintf("admin_allow[%d]", i), Msg: fmt.Sprintf("%q is not a CIDR (10.0.0.0/8) or an IP address", c.AdminAllow[i])})
			continue
		}
		out = append(out, p.Masked())
	}
	return out, errs
}

// checkOps validates the operational keys.
func (c *Config) checkOps() []error {
	var errs []error
	if c.DrainDelay != nil && *c.DrainDelay < 0 {
		errs = append(errs, &rs.FieldError{Field: "drain_delay", Msg: "must not be negative"})
	}
	switch c.ReadinessPolicy() {
	case ReadinessAny, ReadinessAll:
	default:
		errs = append(errs, &rs.FieldError{Field: "readiness", Msg: fmt.Sprintf("%q is not one of any, all", c.Readiness)})
	}
	_, aerrs := c.adminAllow()
	return append(errs, aerrs...)
}
