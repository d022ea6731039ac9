package rs

// Names for the external tests (package rs_test) only. This file is compiled
// by go test alone, so none of these is part of the package's API: callers
// outside rs tell failures apart with errors.As(err, &*Error) and its
// Status, Code and Reason.

// The failure classes, compared field by field by the tests' wantErr.
var (
	ErrMissingToken             = errMissingToken
	ErrMultipleTokens           = errMultipleTokens
	ErrMalformedHeader          = errMalformedHeader
	ErrTokenInQuery             = errTokenInQuery
	ErrMalformedToken           = errMalformedToken
	ErrUntrustedIssuer          = errUntrustedIssuer
	ErrAlgorithm                = errAlgorithm
	ErrTokenType                = errTokenType
	ErrSignature                = errSignature
	ErrExpired                  = errExpired
	ErrNotYetValid              = errNotYetValid
	ErrIssuedInFuture           = errIssuedInFuture
	ErrMissingExp               = errMissingExp
	ErrAudience                 = errAudience
	ErrMissingSubject           = errMissingSubject
	ErrNotAccessToken           = errNotAccessToken
	ErrInactive                 = errInactive
	ErrIntrospectionUnavailable = errIntrospectionUnavailable
	ErrKeysUnavailable          = errKeysUnavailable
)

const (
	CodeInvalidToken = codeInvalidToken
	MaxTokenBytes    = maxTokenBytes
)

// Helpers tested directly.
var (
	Discover          = discover
	RFC8414URL        = rfc8414URL
	NormalizeAudience = normalizeAudience
)

// Body returns the document a MetadataHandler serves.
func (h *MetadataHandler) Body() []byte { return h.body }
