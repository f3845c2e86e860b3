# wugan: the hub with its built-in insurance center and bank (or external ones, see
# packaging/README.md). Multi-stage: build with the Rust toolchain, run on Debian slim as a
# non-root user with the data folder on a volume.
#
#   docker build -t wugan .
#   docker run -p 8080:8080 -v wugan-data:/var/lib/wugan -e WUGAN_DATA_KEY=<64 hex digits> wugan

FROM rust:bookworm AS build
WORKDIR /src
COPY . .
RUN cargo install --locked --path crates/wugan --root /out

FROM debian:bookworm-slim
# ca-certificates: TLS to external partners; curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/wugan --shell /usr/sbin/nologin wugan \
 && install -d -m 0700 -o wugan -g wugan /var/lib/wugan
COPY --from=build /out/bin/wugan /usr/local/bin/wugan
COPY packaging/wugan.json /etc/wugan/wugan.json
COPY examples/ /usr/local/share/wugan/examples/
USER wugan
WORKDIR /var/lib/wugan
VOLUME ["/var/lib/wugan"]
ENV WUGAN_LOG=info \
    WUGAN_CONFIG=/etc/wugan/wugan.json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["wugan"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/wugan"]
