# syntax=docker/dockerfile:1
# target-app, the shop and the harness: multi-stage build, non-root runtime. The image runs
# target-app; the shop's services run it with `entrypoint: [shop]` and their role
# (docker-compose.yml), and a distributed run's coordinator and workers with `harness`
# (harness/deploy/kubernetes; the scenario library is in /scenarios).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config cmake clang && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY wire wire
COPY kit kit
COPY target-app target-app
COPY harness harness
COPY shop shop
# BuildKit cache mounts keep the registry and the compiled dependencies between builds, so a
# source change recompiles the workspace's own crates, not every dependency. --locked: exactly
# the dependency versions Cargo.lock names.
RUN --mount=type=cache,target=/usr/local/cargo/registry --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked -p target-app --bin target-app -p shop --bin shop -p harness --bin harness \
    && mkdir -p /out && cp target/dist/target-app target/dist/shop target/dist/harness /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home app
COPY --from=build /out/target-app /out/shop /out/harness /usr/local/bin/
COPY scenarios /scenarios
USER app
ENV HOST=0.0.0.0 PORT=8000 LOG_FORMAT=json
EXPOSE 8000
# The binary checks itself (`target-app health`); the shop's services override it in compose.
HEALTHCHECK --interval=10s --timeout=3s --retries=6 CMD ["/usr/local/bin/target-app", "health"]
ENTRYPOINT ["/usr/local/bin/target-app"]
