# syntax=docker/dockerfile:1
# Build: docker build -t scimbridge .
# Run:   docker run -p 8080:8080 -v /path/to/config:/etc/scimbridge:ro scimbridge

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/scimbridge ./cmd/scimbridge

# distroless static: CA certificates, tzdata, /etc/passwd with "nonroot" (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/scimbridge /scimbridge
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/scimbridge"]
CMD ["serve", "--config", "/etc/scimbridge/config.yaml"]
