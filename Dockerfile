# RustyClaw gateway image: the core install (no heavy extras) in a venv, run as a non-root user.
#
#   docker build -t rustyclaw .                                   # python:3.11-slim base
#   docker build --build-arg EXTRAS=postgres,voice -t rustyclaw .  # with extras
#   podman build --format docker --build-arg BASE=localhost/rustyclaw-base:bookworm -t rustyclaw .
#
# BASE needs python3 (>= 3.11) with the venv module; CI passes a Debian minbase made locally with
# mmdebstrap (scripts/services.d/25-rustyclaw-base.sh), so the build pulls nothing from a registry.
# `--format docker` for podman: the OCI format drops HEALTHCHECK.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
# Comma-separated extras from pyproject.toml, e.g. "postgres" or "postgres,voice"; empty: core only.
ARG EXTRAS=postgres
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/rustyclaw
WORKDIR /src
# Dependencies first, from pyproject.toml alone: a code change does not re-download them.
COPY pyproject.toml deploy/requirements.py ./
RUN python3 requirements.py "$EXTRAS" > /tmp/requirements.txt
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (never stored in a layer):
#   --secret id=pip_cert,src=/etc/ssl/certs/ca-certificates.crt
RUN --mount=type=secret,id=pip_cert,required=false \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    /opt/rustyclaw/bin/pip install -r /tmp/requirements.txt
COPY . .
# No compiler in a slim base: setup.py then installs the pure-Python twins of the ext/ hot paths.
RUN --mount=type=secret,id=pip_cert,required=false \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    /opt/rustyclaw/bin/pip install --no-deps . && /opt/rustyclaw/bin/rustyclaw --help >/dev/null

FROM ${BASE}
ENV PATH=/opt/rustyclaw/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RUSTYCLAW_HOME=/var/lib/rustyclaw
# A fixed uid/gid so volume ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 rustyclaw \
 && useradd --system --uid 10001 --gid rustyclaw --home-dir /var/lib/rustyclaw --no-create-home \
      --shell /usr/sbin/nologin rustyclaw \
 && mkdir -p /etc/rustyclaw /var/lib/rustyclaw \
 && chown rustyclaw:rustyclaw /var/lib/rustyclaw
COPY --from=build /opt/rustyclaw /opt/rustyclaw
COPY deploy/config.yaml /etc/rustyclaw/config.yaml
USER rustyclaw:rustyclaw
WORKDIR /var/lib/rustyclaw
# /etc/rustyclaw: config.yaml (and secrets); /var/lib/rustyclaw: sessions, database, workspace.
VOLUME ["/etc/rustyclaw", "/var/lib/rustyclaw"]
EXPOSE 18789
# /readyz answers 200 once the gateway serves HTTP (channel and model detail in the body).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RUSTYCLAW_PORT', '18789') + '/readyz', timeout=4)"]
CMD ["rustyclaw", "serve", "--config", "/etc/rustyclaw/config.yaml"]
