# The reference legacy backend: PHP-FPM 8.2 + Imagick (Debian's packages) behind its own nginx
# over FastCGI, started by the same code as in tests and `npm start` (stack/legacy.ts, via
# scripts/stack.ts with STACK_PARTS=legacy). It lives outside legacy/ because legacy/ holds the
# PHP application only. Build context: the repo root.
FROM node:20-bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx php-fpm php-imagick php-cli ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
COPY image-service/package.json image-service/
COPY gateway/package.json gateway/
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

COPY tsconfig.json ./
COPY legacy legacy
COPY common common
COPY stack stack
COPY image-service/src image-service/src
COPY scripts scripts
COPY gateway/src gateway/src
COPY nginx nginx

ENV NODE_ENV=production STACK_PARTS=legacy STACK_SEED=false STACK_VAR_DIR=/var/lib/stack
EXPOSE 8081
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s CMD curl -fsS http://127.0.0.1:8081/image/health || exit 1
CMD ["node", "--import", "tsx", "scripts/stack.ts"]
