# Artifact Keeper node image. The build stage compiles the TypeScript sources to dist/ (`npm ci`
# runs `prepare`, which is `npm run build`); the runtime holds dist/, the migrations and the
# production dependencies only (no tsx, no TypeScript), and bin/ak.mjs runs dist/.
#   docker build -t artifact-keeper .
#   docker run --read-only --tmpfs /tmp -v ak-data:/data -p 8080:8080 -p 8081:8081 artifact-keeper
# docker-compose.mesh.yml runs three of them as one mesh.

# --- build: all dependencies (better-sqlite3 compiles its native addon here), the compiled
# sources, then prune the dev dependencies
FROM node:20-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY node ./node
COPY store ./store
COPY mesh ./mesh
COPY scheduler ./scheduler
COPY formats ./formats
# `npm ci` runs `prepare` (npm run build): dist/ and dist/.build-stamp
RUN npm ci --no-audit --no-fund \
 && test -f dist/.build-stamp \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: production node_modules and the compiled build only, as the unprivileged 'node' user
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
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root migrations ./migrations
# The data directory is the only writable place (run with --read-only and a tmpfs on /tmp).
# Without the sources beside it, bin/ak.mjs always runs dist/ (bin/build-info.mjs).
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.AK_HTTP_PORT || 8080) + '/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/ak.mjs"]
CMD ["serve"]
