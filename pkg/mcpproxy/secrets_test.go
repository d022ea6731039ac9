package mcpproxy

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// TestIdentityThenSecretsIsApply: the two halves a logging proxy uses
// (identity on the request, secrets on the outgoing copy) together set
// exactly what Apply sets, and the identity half sets no secret.
func TestIdentityThenSecretsIsApply(t *testing.T) {
	env := map[string]string{"K": "k-123"}
	in, err := NewInjector(IdentityHeaders{Claims: map[string]string{"X-MCP-Email": "email"}},
		[]SecretHeader{{Header: "X-Api-Key", Env: "K"}, {Header: "X-Tenant", Value: "acme"}},
		func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := &rs.Identity{Subject: "alice", Claims: map[string]any{"email": "a@example.com"}}
	client := func() http.Header {
		return http.Header{"Authorization": {"Bearer t"}, "X-Api-Key": {"spoof"}, "X_tenant": {"spoof"}, "X-Other": {"kept"}}
	}
	want := client()
	in.Apply(want, id)

	h := client()
	in.applyIdentity(h, id)
	for _, k := range []string{"X-Api-Key", "X-Tenant", "X_tenant", "Authorization"} {
		if v, ok := h[k]; ok {
			t.Errorf("identity half left %s = %q", k, v)
		}
	}
	g := &Guard{inject: in}
	s := g.Secrets()
	if s.Delivered() {
		t.Fatal("delivered before Inject")
	}
	ctx := WithSecrets(context.Background(), s)
	if SecretsFrom(ctx) != s || SecretsFrom(context.Background()) != nil {
		t.Fatal("SecretsFrom does not return what WithSecrets stored")
	}
	SecretsFrom(ctx).Inject(h)
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("identity + secrets = %v\nApply           = %v", h, want)
	}
	if !s.Delivered() {
		t.Fatal("not delivered after Inject")
	}
	if out := fmt.Sprintf("%v %+v %#v %s", s, s, s, s); strings.Contains(out, "k-123") || strings.Contains(out, "acme") {
		t.Fatalf("formatting Secrets shows a value: %s", out)
	}

	none, err := NewInjector(IdentityHeaders{}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := (&Guard{inject: none}).Secrets(); s != nil || WithSecrets(context.Background(), s) != context.Background() {
		t.Fatal("no secret_headers should give no Secrets")
	}
}
