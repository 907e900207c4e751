# Klaxon's image: a release build in the Rust image, then the binary alone on Debian slim with
# the two libraries it loads (libpq, CA certificates), run as an unprivileged user.
#
#   docker build -t klaxon .
#   docker run -p 8080:8080 -v klaxon-data:/var/lib/klaxon/data klaxon     # SQLite in a volume
#
# With PostgreSQL and several instances: docker-compose.yml. Build and runtime stages use the
# same Debian release, so the binary finds the C library it was linked against.

FROM rust:1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin klaxon

FROM debian:bookworm-slim AS runtime
# curl is there for the HEALTHCHECK only. The user has a fixed numeric id, so that
# orchestrators can check it is not root, and owns the data folder (a new named volume mounted
# there takes its owner from the image).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 klaxon \
    && useradd --uid 10001 --gid 10001 --no-log-init --shell /usr/sbin/nologin \
        --home-dir /var/lib/klaxon --create-home klaxon \
    && install -d -o klaxon -g klaxon -m 0750 /var/lib/klaxon/data
COPY --from=build /src/target/release/klaxon /usr/local/bin/klaxon
USER 10001:10001
WORKDIR /var/lib/klaxon
# Listen on the container's interfaces; without a DATABASE_URL from outside, SQLite keeps its
# file in the data folder. Every other setting keeps Klaxon's default unless given with -e.
ENV KLAXON_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/klaxon/data/klaxon.db
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--show-error", "--max-time", "2", "http://127.0.0.1:8080/healthz"]
# Arguments after the image name go to klaxon: `docker run ... klaxon export > dump.json`.
ENTRYPOINT ["/usr/local/bin/klaxon"]
