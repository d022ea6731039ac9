package errormap

import (
	"slices"
	"strings"
)

// Kind is an error kind from Arcade's ErrorKind taxonomy
// (arcade_core.errors.ErrorKind). The value of every constant equals its
// Arcade name, so a Kind can be put on the wire as is.
type Kind string

// The full Arcade ErrorKind list, in Arcade's declaration order.
const (
	// Toolkit.
	KindToolkitLoadFailed Kind = "TOOLKIT_LOAD_FAILED"

	// Tool definition.
	KindToolBadDefinition   Kind = "TOOL_DEFINITION_BAD_DEFINITION"
	KindToolBadInputSchema  Kind = "TOOL_DEFINITION_BAD_INPUT_SCHEMA"
	KindToolBadOutputSchema Kind = "TOOL_DEFINITION_BAD_OUTPUT_SCHEMA"

	// Tool runtime.
	KindToolBadInputValue   Kind = "TOOL_RUNTIME_BAD_INPUT_VALUE"
	KindToolBadOutputValue  Kind = "TOOL_RUNTIME_BAD_OUTPUT_VALUE"
	KindToolRetry           Kind = "TOOL_RUNTIME_RETRY"
	KindToolContextRequired Kind = "TOOL_RUNTIME_CONTEXT_REQUIRED"
	// KindToolFatal is the kind of Arcade's FatalToolError (never retried).
	KindToolFatal Kind = "TOOL_RUNTIME_FATAL"

	// Upstream: the upstream answered with an HTTP error status.
	KindUpstreamBadRequest      Kind = "UPSTREAM_RUNTIME_BAD_REQUEST"
	KindUpstreamAuthError       Kind = "UPSTREAM_RUNTIME_AUTH_ERROR"
	KindUpstreamNotFound        Kind = "UPSTREAM_RUNTIME_NOT_FOUND"
	KindUpstreamValidationError Kind = "UPSTREAM_RUNTIME_VALIDATION_ERROR" // defined by Arcade, never assigned
	KindUpstreamRateLimit       Kind = "UPSTREAM_RUNTIME_RATE_LIMIT"
	KindUpstreamServerError     Kind = "UPSTREAM_RUNTIME_SERVER_ERROR"
	KindUpstreamUnmapped        Kind = "UPSTREAM_RUNTIME_UNMAPPED"

	// Network transport: no complete HTTP response came back.
	KindNetworkTimeout     Kind = "NETWORK_TRANSPORT_RUNTIME_TIMEOUT"
	KindNetworkUnreachable Kind = "NETWORK_TRANSPORT_RUNTIME_UNREACHABLE"
	KindNetworkUnmapped    Kind = "NETWORK_TRANSPORT_RUNTIME_UNMAPPED"

	// Fallback.
	KindUnknown Kind = "UNKNOWN"
)

// AllKinds lists every Kind in Arcade's declaration order. It returns a
// fresh slice on every call.
func AllKinds() []Kind {
	return []Kind{
		KindToolkitLoadFailed,
		KindToolBadDefinition, KindToolBadInputSchema, KindToolBadOutputSchema,
		KindToolBadInputValue, KindToolBadOutputValue, KindToolRetry, KindToolContextRequired, KindToolFatal,
		KindUpstreamBadRequest, KindUpstreamAuthError, KindUpstreamNotFound, KindUpstreamValidationError,
		KindUpstreamRateLimit, KindUpstreamServerError, KindUpstreamUnmapped,
		KindNetworkTimeout, KindNetworkUnreachable, KindNetworkUnmapped,
		KindUnknown,
	}
}

// Valid reports whether k is one of the kinds in AllKinds.
func (k Kind) Valid() bool { return slices.Contains(AllKinds(), k) }

// IsToolkit reports whether k has the "TOOLKIT_" prefix.
func (k Kind) IsToolkit() bool { return strings.HasPrefix(string(k), "TOOLKIT_") }

// IsTool reports whether k has the "TOOL_" prefix (tool definition and tool
// runtime kinds; "TOOLKIT_" does not match).
func (k Kind) IsTool() bool { return strings.HasPrefix(string(k), "TOOL_") }

// IsUpstream reports whether k has the "UPSTREAM_" prefix.
func (k Kind) IsUpstream() bool { return strings.HasPrefix(string(k), "UPSTREAM_") }

// IsNetworkTransport reports whether k has the "NETWORK_TRANSPORT_" prefix.
func (k Kind) IsNetworkTransport() bool {
	return strings.HasPrefix(string(k), "NETWORK_TRANSPORT_")
}
