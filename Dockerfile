# syntax=docker/dockerfile:1
# Multi-stage build of a static usersvc binary on distroless (nonroot).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
    -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
    -o /out/usersvc ./cmd/usersvc

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usersvc /usersvc
USER 65532:65532
EXPOSE 5002
# The embedded store needs a writable /data (mount a volume); Neo4j needs none.
ENV LISTEN_ADDR=:5002 EMBEDDED_DB_PATH=/data/usersvc.db
HEALTHCHECK --interval=30s --timeout=6s CMD ["/usersvc", "check", "http://127.0.0.1:5002/livez"]
ENTRYPOINT ["/usersvc"]
