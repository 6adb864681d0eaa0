# The bot's image. The build stage builds the wheel from this tree and installs it into a
# virtualenv at /opt/genai-bot; only that virtualenv reaches the final stage, which has no
# compiler, no pip and no source tree (the runbooks, Game Day scenarios and migrations come
# from the wheel's package data).
#
# It runs as user 10001 with a read-only root file system: only /tmp (mount a tmpfs or an
# emptyDir) and the /data volume (the SQLite database) are written. With PostgreSQL
# (GENAI_DATABASE_URL=postgresql+psycopg://...) /data is not needed.
#
#   make image      (docker or podman; VERSION is pyproject.toml's)
#   docker run --read-only --tmpfs /tmp -v genai-data:/data -p 3000:3000 \
#     -e GENAI_SLACK__BOT_TOKEN=xoxb-... -e GENAI_SLACK__APP_TOKEN=xapp-... genai-ops-bot:0.1.0
#
# Few instructions on purpose: a builder without overlays (buildah on vfs, as in CI) copies
# the whole root file system for every one.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
# For this stage's pip only (build arguments never reach the final image): the CA bundle
# to trust, as a path mounted into the build (`-v /host/ca.crt:/path:ro`), and the package
# index, when they are not the defaults. Empty, they change nothing.
ARG PIP_CERT=
ARG PIP_INDEX_URL=
# The dependencies first, from pyproject.toml alone: a change to the code reuses this layer.
COPY pyproject.toml /src/
RUN export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_DEFAULT_TIMEOUT=180 \
 && python3 -m venv /opt/genai-bot \
 && python3 -c 'import sys, tomllib; print(*tomllib.load(sys.stdin.buffer)["project"]["dependencies"], sep="\n")' \
      </src/pyproject.toml >/tmp/requirements.txt \
 && /opt/genai-bot/bin/pip install -r /tmp/requirements.txt
# .dockerignore lets in pyproject.toml, README.md, bot/ and commands/ only.
COPY . /src/
# The wheel, then the venv made ready for a read-only file system: bytecode compiled ahead
# (unchecked-hash: valid whatever the files' times), pip and setuptools gone.
RUN export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_DEFAULT_TIMEOUT=180 \
 && cd /src \
 && /opt/genai-bot/bin/pip wheel --no-deps --wheel-dir /dist . \
 && /opt/genai-bot/bin/pip install /dist/genai_ops_bot-*.whl \
 && /opt/genai-bot/bin/pip check \
 && /opt/genai-bot/bin/python -m pip uninstall -y -q pip setuptools \
 && find /opt/genai-bot -name __pycache__ -type d -prune -exec rm -rf {} + \
 && /opt/genai-bot/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
      /opt/genai-bot/lib

FROM ${BASE}
ARG VERSION=unknown
LABEL org.opencontainers.image.title="genai-ops-bot" \
      org.opencontainers.image.description="Slack chat-ops bot for a GenAI/GPU platform" \
      org.opencontainers.image.source="https://github.com/genai-ops/genai-ops-bot" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 genai \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin genai \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0750 /data
ENV PATH=/opt/genai-bot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GENAI_DATABASE_URL=sqlite:////data/genai-bot.db
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 3000
ENTRYPOINT ["genai-bot"]
CMD ["run"]
# Last, so that a change to the code rebuilds this layer alone.
COPY --from=build /opt/genai-bot /opt/genai-bot
