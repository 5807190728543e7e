# Build the service, then run it on a small Debian image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin contactsync

FROM debian:bookworm-slim
# curl: the health checks of docker-compose.yml
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/contactsync /usr/local/bin/contactsync
# The service runs as an unprivileged user that owns only its data directory.
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin contactsync \
    && mkdir -p /data && chown contactsync:contactsync /data && chmod 700 /data
USER contactsync
ENV CONTACTSYNC_LISTEN=0.0.0.0:8080 CONTACTSYNC_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["contactsync"]
CMD ["serve"]
