# syntax=docker/dockerfile:1.7
# Static binaries (musl) on distroless: no shell, no libc, non-root.
#   docker build -t ghcr.io/sso-operator/sso-operator:0.1.0 .

FROM --platform=$BUILDPLATFORM rust:1.89-bookworm AS builder
ARG TARGETARCH
# ring builds C and assembly for the target: musl-gcc for amd64, a cross gcc for arm64.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools gcc-aarch64-linux-gnu \
 && rm -rf /var/lib/apt/lists/*
RUN case "$TARGETARCH" in \
      amd64) echo x86_64-unknown-linux-musl > /rust-target ;; \
      arm64) echo aarch64-unknown-linux-musl > /rust-target ;; \
      *) echo "unsupported TARGETARCH=$TARGETARCH" >&2; exit 1 ;; \
    esac \
 && rustup target add "$(cat /rust-target)"
ENV CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=musl-gcc \
    CC_x86_64_unknown_linux_musl=musl-gcc
WORKDIR /src
# Everything .dockerignore lets through: Cargo wants every declared target (tests, benches)
# to exist even when it only builds the two binaries.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    target="$(cat /rust-target)" \
 && cargo build --release --locked --target "$target" --bin sso-operator --bin auth0-emulator \
 && mkdir -p /out \
 && cp "target/$target/release/sso-operator" "target/$target/release/auth0-emulator" /out/

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="sso-operator" \
      org.opencontainers.image.description="Kubernetes operator for enterprise SAML SSO connections in Auth0" \
      org.opencontainers.image.source="https://github.com/sso-operator/sso-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/sso-operator /sso-operator
COPY --from=builder /out/auth0-emulator /auth0-emulator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/sso-operator"]
CMD ["run"]
