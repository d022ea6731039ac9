package errormap

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

// These tests produce real errors from net/http on loopback, to check that
// the classification holds for the shapes the Transport actually returns.

func roundTrip(t *testing.T, tr *http.Transport, ctx context.Context, rawURL string) error {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("round trip to %s succeeded", rawURL)
	}
	return err
}

func TestLiveTransportErrors(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block) // runs first: release handlers before Close waits for them

	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the client's "bad certificate" alert
	tlsSrv.StartTLS()
	defer tlsSrv.Close()

	// A server that wants a client certificate: the client learns it from
	// the alert the server sends (a *net.OpError "remote error").
	mtlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	mtlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	mtlsSrv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}
	mtlsSrv.StartTLS()
	defer mtlsSrv.Close()

	// A TLS 1.2-only server for a TLS 1.3-only client: protocol_version alert.
	oldTLS := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	oldTLS.Config.ErrorLog = log.New(io.Discard, "", 0)
	oldTLS.TLS = &tls.Config{MaxVersion: tls.VersionTLS12}
	oldTLS.StartTLS()
	defer oldTLS.Close()

	// Accepts TCP connections and never says a word.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	defer hangup.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	slowURL, _ := url.Parse(slow.URL)

	tests := []struct {
		name string
		run  func() error
		want Kind
	}{
		{"connection refused", func() error {
			return roundTrip(t, &http.Transport{}, context.Background(), "http://"+closedAddr+"/mcp")
		}, KindNetworkUnreachable},
		{"response header timeout", func() error {
			return roundTrip(t, &http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond}, context.Background(), slow.URL)
		}, KindNetworkTimeout},
		{"context deadline", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			return roundTrip(t, &http.Transport{}, ctx, slow.URL)
		}, KindNetworkTimeout},
		{"client canceled", func() error {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return roundTrip(t, &http.Transport{}, ctx, slow.URL)
		}, ""},
		{"unknown certificate authority", func() error {
			return roundTrip(t, &http.Transport{}, context.Background(), tlsSrv.URL)
		}, KindToolFatal},
		{"https to a plain http server", func() error {
			return roundTrip(t, &http.Transport{}, context.Background(), "https://"+slowURL.Host+"/")
		}, KindToolFatal},
		{"client certificate required (alert received)", func() error {
			tr := mtlsSrv.Client().Transport.(*http.Transport).Clone()
			return roundTrip(t, tr, context.Background(), mtlsSrv.URL)
		}, KindToolFatal},
		{"protocol version alert", func() error {
			tr := oldTLS.Client().Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.MinVersion = tls.VersionTLS13
			return roundTrip(t, tr, context.Background(), oldTLS.URL)
		}, KindToolFatal},
		{"TLS handshake timeout", func() error {
			tr := &http.Transport{TLSHandshakeTimeout: 50 * time.Millisecond}
			return roundTrip(t, tr, context.Background(), "https://"+mute.Addr().String()+"/")
		}, KindNetworkTimeout},
		{"server hangs up without a response", func() error {
			return roundTrip(t, &http.Transport{}, context.Background(), hangup.URL)
		}, KindNetworkUnmapped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			t.Logf("%T: %v", err, err)
			if got := FromTransport(err); got.Kind != tc.want {
				t.Errorf("FromTransport(%T %q).Kind = %q, want %q", err, err, got.Kind, tc.want)
			}
		})
	}
}

func TestLiveReverseProxyErrorHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ln.Close()

	var got Failure
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		got = FromTransport(err)
		w.WriteHeader(http.StatusBadGateway)
	}
	rec := httptest.NewRecorder()
	rp.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/mcp", nil))
	if got.Kind != KindNetworkUnreachable || !got.CanRetry || got.Message != MessageUnreachable {
		t.Errorf("ReverseProxy refused: %+v", got)
	}
}
