# Artifact Keeper node image. The sources are TypeScript run by tsx (a production dependency):
# there is no build step beyond installing dependencies.
#   docker build -t artifact-keeper .
#   docker run --read-only --tmpfs /tmp -v ak-data:/data -p 8080:8080 -p 8081:8081 artifact-keeper
# docker-compose.mesh.yml runs three of them as one mesh.

# --- build: all dependencies (better-sqlite3 compiles its native addon here), then prune dev ones
FROM node:20-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: production node_modules and the sources only, as the unprivileged 'node' user
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    AK_DATA_DIR=/data \
    AK_HTTP_HOST=0.0.0.0 \
    AK_HTTP_PORT=8080 \
    AK_MESH_HOST=0.0.0.0 \
    AK_MESH_PORT=8081
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root node ./node
COPY --chown=root:root store ./store
COPY --chown=root:root mesh ./mesh
COPY --chown=root:root scheduler ./scheduler
COPY --chown=root:root formats ./formats
COPY --chown=root:root migrations ./migrations
# The data directory is the only writable place (run with --read-only and a tmpfs on /tmp,
# where tsx keeps its transform cache).
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.AK_HTTP_PORT || 8080) + '/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/ak.mjs"]
CMD ["serve"]
