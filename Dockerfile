# target-app, the shop and the harness: multi-stage build, non-root runtime. The image runs
# target-app; the shop's services run it with `entrypoint: [shop]` and their role
# (docker-compose.yml), and a distributed run's coordinator and workers with `harness`
# (harness/deploy/kubernetes; the scenario library is in /scenarios).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config cmake clang && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY wire wire
COPY target-app target-app
COPY harness harness
COPY shop shop
RUN cargo build --release -p target-app --bin target-app -p shop --bin shop -p harness --bin harness

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home app
COPY --from=build /src/target/release/target-app /src/target/release/shop /src/target/release/harness /usr/local/bin/
COPY scenarios /scenarios
USER app
ENV HOST=0.0.0.0 PORT=8000 LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=6 CMD curl -fsS http://127.0.0.1:8000/health/live || exit 1
ENTRYPOINT ["/usr/local/bin/target-app"]
