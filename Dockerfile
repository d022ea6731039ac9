# syntax=docker/dockerfile:1
# mcp-sidecar: a static binary on distroless/static, running as non-root.
#
#   docker build -t mcp-sidecar .
#   docker run --rm -v "$PWD/sidecar.yaml:/etc/mcp-sidecar/sidecar.yaml:ro" -p 8080:8080 mcp-sidecar
#
# The same image runs the demo commands (`dev-as`, `demo-mcp`) used by
# docker-compose.yml.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=docker
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/mcp-sidecar ./cmd/mcp-sidecar

# distroless/static: CA certificates (for https issuers and JWKS), tzdata,
# /etc/passwd with the nonroot user (65532); no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mcp-sidecar /usr/local/bin/mcp-sidecar
USER 65532:65532
# 8080: the front door; 9091: /healthz, /readyz, /metrics (set listen and
# admin_listen to 0.0.0.0:… in the config to reach them from outside).
EXPOSE 8080 9091
ENTRYPOINT ["/usr/local/bin/mcp-sidecar"]
CMD ["run", "--config", "/etc/mcp-sidecar/sidecar.yaml"]
