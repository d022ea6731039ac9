package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/version"
	"github.com/mcp-frontdoor/mcp-frontdoor/pkg/rs"
)

// LogSampling samples the access log (the "request" line per request of
// the logger "proxy") when set: per second, the first Initial lines, then
// every Thereafter-th (0: none). Unset, every request is logged. Audit
// events, refusal warnings, reloads and key-state lines are never sampled.
type LogSampling struct {
	Initial    int `yaml:"initial"`
	Thereafter int `yaml:"thereafter"`
}

// TracingOptions turn on OpenTelemetry traces (the `tracing` key): a span
// per request with children for token validation, the policy and the
// upstream, exported with OTLP. The standard OTEL_* variables configure
// the exporter (OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS, _TIMEOUT,
// _CERTIFICATE, _PROTOCOL, and their _TRACES_ forms), the sampler
// (OTEL_TRACES_SAMPLER, _ARG) and the resource (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES); these keys override them.
type TracingOptions struct {
	// Enabled turns tracing on (default false).
	Enabled bool `yaml:"enabled"`
	// Protocol is "http/protobuf" (default) or "grpc".
	Protocol string `yaml:"protocol"`
	// Endpoint is the collector's URL, e.g. http://otel-collector:4318
	// (default: the OTEL_* variables, else localhost:4318 / :4317).
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the fraction of new traces recorded, 0 to 1; a
	// caller's sampled traceparent is followed (default: OTEL_TRACES_SAMPLER,
	// else every trace).
	SampleRatio *float64 `yaml:"sample_ratio"`
}

// Protocols of TracingOptions.
const (
	protocolHTTP = "http/protobuf"
	protocolGRPC = "grpc"
)

// checkObservability checks log_sampling and tracing.
func (c *Config) checkObservability() []error {
	var errs []error
	if s := c.LogSampling; s != nil {
		if s.Initial < 1 {
			errs = append(errs, &rs.FieldError{Field: "log_sampling.initial", Msg: "must be at least 1"})
		}
		if s.Thereafter < 0 {
			errs = append(errs, &rs.FieldError{Field: "log_sampling.thereafter", Msg: "must not be negative"})
		}
	}
	if t := c.Tracing; t != nil {
		switch t.Protocol {
		case "", protocolHTTP, "http", protocolGRPC:
		default:
			errs = append(errs, &rs.FieldError{Field: "tracing.protocol", Msg: fmt.Sprintf("%q is not one of http/protobuf, grpc", t.Protocol)})
		}
		if t.Endpoint != "" {
			if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, &rs.FieldError{Field: "tracing.endpoint", Msg: fmt.Sprintf("%q must be an http:// or https:// URL", t.Endpoint)})
			}
		}
		if r := t.SampleRatio; r != nil && (*r < 0 || *r > 1) {
			errs = append(errs, &rs.FieldError{Field: "tracing.sample_ratio", Msg: "must be between 0 and 1"})
		}
	}
	return errs
}

// accessLog is the logger of the line per request: the front door's
// "proxy" logger, sampled only when log_sampling says so.
func accessLog(log *zap.Logger, s *LogSampling) *zap.Logger {
	l := log.Named("proxy")
	if s == nil {
		return l
	}
	return l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Second, s.Initial, s.Thereafter)
	}))
}

// tracers owns the sidecar's tracer provider: one per tracing
// configuration, kept across reloads that leave it unchanged.
type tracers struct {
	mu   sync.Mutex
	opts *TracingOptions // of cur (nil: tracing off)
	cur  *sdktrace.TracerProvider
	// newProvider builds a provider (tests replace it).
	newProvider func(TracingOptions) (*sdktrace.TracerProvider, error)
}

// provider returns the tracer provider for o (nil: tracing off) and a
// function to call once the configuration is in use (true) or refused
// (false); a replaced provider is flushed and shut down a minute later,
// when the requests of the old configuration are done.
func (t *tracers) provider(o *TracingOptions, log *zap.Logger) (trace.TracerProvider, func(bool), error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o != nil && !o.Enabled {
		o = nil
	}
	if reflect.DeepEqual(o, t.opts) {
		if t.cur == nil {
			return nil, func(bool) {}, nil
		}
		return t.cur, func(bool) {}, nil
	}
	var tp *sdktrace.TracerProvider
	if o != nil {
		build := t.newProvider
		if build == nil {
			build = newTracerProvider
		}
		var err error
		if tp, err = build(*o); err != nil {
			return nil, nil, &rs.FieldError{Field: "tracing", Msg: err.Error()}
		}
	}
	commit := func(ok bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !ok {
			shutdownLater(tp, 0, log)
			return
		}
		old := t.cur
		t.cur, t.opts = tp, cloneTracing(o)
		shutdownLater(old, time.Minute, log)
		if tp != nil {
			log.Info("tracing on", zap.String("protocol", protocolOf(*o)), zap.String("endpoint", o.Endpoint))
		} else {
			log.Info("tracing off")
		}
	}
	if tp == nil {
		return nil, commit, nil
	}
	return tp, commit, nil
}

// shutdown flushes and stops the current provider (at the end of Serve).
func (t *tracers) shutdown(ctx context.Context) error {
	t.mu.Lock()
	tp := t.cur
	t.mu.Unlock()
	if tp == nil {
		return nil
	}
	return tp.Shutdown(ctx)
}

func shutdownLater(tp *sdktrace.TracerProvider, after time.Duration, log *zap.Logger) {
	if tp == nil {
		return
	}
	go func() {
		time.Sleep(after)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("tracing: flushing the previous exporter", zap.Error(err))
		}
	}()
}

func cloneTracing(o *TracingOptions) *TracingOptions {
	if o == nil {
		return nil
	}
	c := *o
	if o.SampleRatio != nil {
		r := *o.SampleRatio
		c.SampleRatio = &r
	}
	return &c
}

// protocolOf is the exporter protocol: the option, else the OTEL_*
// variables, else http/protobuf.
func protocolOf(o TracingOptions) string {
	p := o.Protocol
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p == "" {
			p = strings.TrimSpace(os.Getenv(v))
		}
	}
	if p == protocolGRPC {
		return protocolGRPC
	}
	return protocolHTTP
}

// newTracerProvider builds the OTLP exporter and a batching provider.
func newTracerProvider(o TracingOptions) (*sdktrace.TracerProvider, error) {
	ctx := context.Background()
	var exp sdktrace.SpanExporter
	var err error
	if protocolOf(o) == protocolGRPC {
		var opts []otlptracegrpc.Option
		if o.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(o.Endpoint))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	} else {
		var opts []otlptracehttp.Option
		if o.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimSuffix(o.Endpoint, "/")+"/v1/traces"))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	// The service name defaults to mcp-sidecar; OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES (detected after it) win.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "mcp-sidecar"), attribute.String("service.version", version.Get().Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	if o.SampleRatio != nil {
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*o.SampleRatio))))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}
