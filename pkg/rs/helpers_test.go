package rs_test

import "github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"

// normalizeInto replaces *c by its normalized copy (tests build a config
// and then use it as the compiled one).
func normalizeInto(c *rs.Config) error {
	n, err := c.Normalized()
	*c = n
	return err
}
