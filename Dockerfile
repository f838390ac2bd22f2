# One image for every service; compose.yaml picks the service with its command:
#   node dist/catalog/main.js | node dist/order/main.js | node dist/frontend/main.js
# Built in two stages: the build stage bundles the TypeScript (npm run build) with the dev
# dependencies; the runtime stage has only the bundles and the production dependencies,
# runs as the unprivileged `node` user, and keeps its data on the /data volume. No tsx and no
# TypeScript at run time. NODE_VERSION: the package declares Node 20, 22, 24 and 26; only the
# machine's Node 20 is tested here (no container engine on it), so pick the line you run.
# The services bind 0.0.0.0 here, so each refuses to start without the cluster secret: pass it at
# run time, never in the image (-e CLUSTER_SECRET_FILE=/run/secrets/cluster_secret with the file
# mounted there, or -e CLUSTER_SECRET=...); compose.yaml does it with a compose secret.
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY catalog catalog
COPY frontend frontend
COPY order order
COPY shared shared
COPY scripts/build.ts scripts/build.ts
COPY scripts/lib/build scripts/lib/build
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    DATA_DIR=/data \
    LOG_FORMAT=json
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# A named volume mounted here starts as a copy of this directory, owned by `node`.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
# frontend public and internal, catalog, replicas 1-3 (each service uses only its own)
EXPOSE 8000 8002 8001 8011 8012 8013
STOPSIGNAL SIGTERM
CMD ["node", "dist/frontend/main.js"]
