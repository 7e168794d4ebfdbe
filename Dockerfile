# The Agrilume service. Build: docker build -t agrilume .   (docker-compose.yml builds it for you)
# Node 24, an LTS line (package.json's engines lists every version the code runs on).

# Build stage: every dependency; compiles the service (tsc) and the web console (Vite) into dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# (the one install script among the dependencies, esbuild's, only checks and links a binary esbuild finds without it;
# without scripts this layer does not depend on the sources copied below)
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-web.mjs ./scripts/
COPY web ./web
COPY devices ./devices
COPY src ./src
RUN npm run build && test -f dist/src/bin.js && test -f dist/web/dist/index.html

# Runtime stage: production dependencies (no TypeScript, tsx, Vite or Preact) and the compiled JavaScript with the
# built console, and the launcher of the backup and restore scripts, nothing else. No production dependency has an install script.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# npm run backup / npm run restore: runs dist/src/bin.js here (no tsx), docs/DATA.md
COPY scripts/agrilume.mjs ./scripts/
RUN mkdir -p /data && chown node:node /data
USER node
ENV AGRILUME_DATA_DIR=/data
EXPOSE 1883 8080
HEALTHCHECK --interval=15s --timeout=5s --retries=5 CMD node -e "fetch('http://127.0.0.1:8080/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/src/bin.js"]
