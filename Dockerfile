# connect-tokens: multi-stage build, small non-root runtime image.
#   docker build -t connect-tokens .
#   docker run -p 8080:8080 -v ct-data:/data connect-tokens serve --demo
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo .cargo
COPY src src
COPY templates templates
COPY static static
COPY migrations migrations
# The manifest names benchmark targets under tests/.
COPY tests/bench tests/bench
RUN cargo build --release --locked --bin connect-tokens \
 && strip target/release/connect-tokens

FROM debian:bookworm-slim
# CA certificates: webhook deliveries to https:// receivers verify against the system's roots.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin connect \
 && mkdir -p /data && chown connect /data
COPY --from=build /src/target/release/connect-tokens /usr/local/bin/connect-tokens
USER 10001
VOLUME ["/data"]
# The names contain "TOKENS"; the values are a path and an address, not secrets.
# hadolint ignore=DL3064
# With --tls-cert / CONNECT_TOKENS_TLS_CERT, set CONNECT_TOKENS_HEALTHCHECK_URL to https://….
ENV CONNECT_TOKENS_DATA_DIR=/data \
    CONNECT_TOKENS_BIND=0.0.0.0:8080 \
    CONNECT_TOKENS_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["connect-tokens", "healthcheck"]
ENTRYPOINT ["connect-tokens"]
CMD ["serve"]
