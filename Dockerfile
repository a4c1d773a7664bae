# Raylane image: Ray 2.60 (Python 3.11) plus the raylane package.
#
# Used by the KubeRay manifests in cluster/ for the head, every worker group, migrations and
# RayJobs. There is deliberately no `raylane up` CMD: on Kubernetes the RayService starts Ray
# and deploys the Serve app (raylane.serve.deployments:build_app) itself, and KubeRay sets
# each container's command. `raylane up` also returns once everything is started in the
# background, so it could not be a container's main process anyway.
#
#   docker build -t raylane:0.1.0 .
#   docker run --rm raylane:0.1.0 raylane --help

# The web console is built with Node into the package (raylane/serve/console_dist), as
# `make install` does; only the built files reach the image.
FROM node:20-slim AS console
WORKDIR /src/console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY console ./
RUN npm run build

FROM rayproject/ray:2.60.0-py311

# The base image runs as `ray` (uid 1000, group `users`, gid 100), with Python in
# /home/ray/anaconda3 owned by that user, so installs below need no root.
USER ray
RUN mkdir -p /home/ray/app /home/ray/data
WORKDIR /home/ray/app

# CPU-only torch first: an unpinned torch would pull a multi-GB CUDA build. Its own layer, so
# code changes do not re-download it.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users raylane ./raylane
COPY --from=console --chown=ray:users /src/raylane/serve/console_dist ./raylane/serve/console_dist

# llama-cpp-python compiles from source and the CPU base image ships no C++ compiler: install
# one for this step only and remove it in the same layer (keeping the OpenMP runtime the
# compiled library links against). Finally drop the base image's passwordless sudo, so the
# runtime user is not root-equivalent.
RUN sudo apt-get update \
 && sudo apt-get install -y --no-install-recommends build-essential libgomp1 \
 && sudo apt-mark manual libgomp1 \
 && pip install --no-cache-dir . \
 && sudo apt-get purge -y --auto-remove build-essential \
 && sudo rm -rf /var/lib/apt/lists/* \
 && sudo sed -i '/^ray ALL=NOPASSWD: ALL$/d' /etc/sudoers

ENV RAYLANE_DATA_DIR=/home/ray/data \
    PYTHONUNBUFFERED=1

# 8000: Serve HTTP (the API). 8265: Ray dashboard and Job API.
EXPOSE 8000 8265

# For plain `docker run` only (Kubernetes ignores HEALTHCHECK and uses the RayService's own
# probes). Healthy when /api/health answers 200; a 503 or no answer raises and fails the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RAYLANE_API__PORT', '8000') + '/api/health', timeout=4)"

# No CMD: the base image's default (a shell) applies; KubeRay supplies the real command.
