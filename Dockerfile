# The Agrilume service. Build: docker build -t agrilume .   (docker-compose.yml builds it for you)

# Build stage: every dependency, to build the web console (Vite) into web/dist.
FROM node:20-bookworm-slim AS console
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/build-web.mjs ./scripts/
COPY web ./web
# npm ci, or npm install where npm ci refuses the lock file's optional platform packages (npm/cli#9342);
# either runs `prepare`, which builds the console.
RUN npm ci --no-audit --no-fund || npm install --no-audit --no-fund
RUN test -f web/dist/index.html

# Runtime stage: production dependencies only, and the built console.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY scripts/build-web.mjs ./scripts/
RUN npm ci --omit=dev --no-audit --no-fund || npm install --omit=dev --no-audit --no-fund
COPY devices ./devices
COPY src ./src
COPY tsconfig.json ./
COPY --from=console /app/web/dist ./web/dist
RUN mkdir -p /data && chown node:node /data
USER node
ENV AGRILUME_DATA_DIR=/data
EXPOSE 1883 8080
HEALTHCHECK --interval=15s --timeout=5s --retries=5 CMD node -e "fetch('http://127.0.0.1:8080/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "src/main.ts"]
