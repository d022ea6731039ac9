package errormap

import "testing"

func TestKindValuesEqualNames(t *testing.T) {
	want := []string{
		"TOOLKIT_LOAD_FAILED",
		"TOOL_DEFINITION_BAD_DEFINITION", "TOOL_DEFINITION_BAD_INPUT_SCHEMA", "TOOL_DEFINITION_BAD_OUTPUT_SCHEMA",
		"TOOL_RUNTIME_BAD_INPUT_VALUE", "TOOL_RUNTIME_BAD_OUTPUT_VALUE", "TOOL_RUNTIME_RETRY",
		"TOOL_RUNTIME_CONTEXT_REQUIRED", "TOOL_RUNTIME_FATAL",
		"UPSTREAM_RUNTIME_BAD_REQUEST", "UPSTREAM_RUNTIME_AUTH_ERROR", "UPSTREAM_RUNTIME_NOT_FOUND",
		"UPSTREAM_RUNTIME_VALIDATION_ERROR", "UPSTREAM_RUNTIME_RATE_LIMIT", "UPSTREAM_RUNTIME_SERVER_ERROR",
		"UPSTREAM_RUNTIME_UNMAPPED",
		"NETWORK_TRANSPORT_RUNTIME_TIMEOUT", "NETWORK_TRANSPORT_RUNTIME_UNREACHABLE", "NETWORK_TRANSPORT_RUNTIME_UNMAPPED",
		"UNKNOWN",
	}
	got := AllKinds()
	if len(got) != len(want) {
		t.Fatalf("AllKinds has %d kinds, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("AllKinds()[%d] = %q, want %q", i, got[i], want[i])
		}
		if !got[i].Valid() {
			t.Errorf("%q not Valid", got[i])
		}
	}
	if Kind("").Valid() || Kind("NOPE").Valid() {
		t.Error("invalid kind reported Valid")
	}
	// Spot-check the named constants the brief fixes.
	if KindUpstreamServerError != "UPSTREAM_RUNTIME_SERVER_ERROR" || KindNetworkTimeout != "NETWORK_TRANSPORT_RUNTIME_TIMEOUT" {
		t.Error("constant value mismatch")
	}
}

func TestKindPrefixes(t *testing.T) {
	for _, k := range AllKinds() {
		s := string(k)
		has := func(p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
		if k.IsToolkit() != has("TOOLKIT_") || k.IsTool() != has("TOOL_") ||
			k.IsUpstream() != has("UPSTREAM_") || k.IsNetworkTransport() != has("NETWORK_TRANSPORT_") {
			t.Errorf("%s: prefix helpers disagree", k)
		}
	}
	if KindToolkitLoadFailed.IsTool() {
		t.Error("TOOLKIT_ counted as TOOL_")
	}
	if !KindUpstreamRateLimit.IsUpstream() || KindUpstreamRateLimit.IsNetworkTransport() {
		t.Error("rate limit prefix")
	}
	if !KindNetworkUnmapped.IsNetworkTransport() || KindNetworkUnmapped.IsUpstream() {
		t.Error("network prefix")
	}
	if KindUnknown.IsTool() || KindUnknown.IsUpstream() || KindUnknown.IsNetworkTransport() || KindUnknown.IsToolkit() {
		t.Error("UNKNOWN has a prefix")
	}
}
