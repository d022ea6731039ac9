package examples

import "github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"

// normalizeInto replaces *c by its normalized copy.
func normalizeInto(c *rs.Config) error {
	n, err := c.Normalized()
	*c = n
	return err
}
