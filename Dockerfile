# syntax=docker/dockerfile:1
# Multi-stage build: compile TypeScript once, ship only production dependencies, run as non-root.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY drizzle ./drizzle
# the operator commands, compiled (`npm run cli` needs tsx, a dev dependency the image does not have):
# `docker compose exec api partner-ledger replay --dry-run`
RUN chmod +x dist/src/cli.js && ln -s /app/dist/src/cli.js /usr/local/bin/partner-ledger
USER node
EXPOSE 3000
# /healthz answers in the api role; the worker service in docker-compose.yml turns this off
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM reaches node directly (exec form): it stops taking work and finishes what is in flight
CMD ["node", "dist/src/main.js"]
