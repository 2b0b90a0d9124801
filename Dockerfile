# statelesx container image (multi-stage). Build: docker build -t statelesx .
# Run with the host's network so DHCP broadcasts and TFTP reach the boot LAN:
#   docker run --network host -v statelesx-data:/var/lib/statelesx -v /srv/esxi-images:/srv/statelesx/images statelesx
# No Docker engine runs on the machines this project is developed and tested on: this file is
# reviewed, not exercised in CI (see README).

FROM node:20-bookworm-slim AS build
WORKDIR /src
# better-sqlite3 and argon2 build native addons when no prebuilt binary can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# Loaders served to BIOS/UEFI clients (pxelinux, syslinux.efi, iPXE), bsdtar for ISO import,
# libcap2-bin for setcap, curl for the health check.
RUN apt-get update && apt-get install -y --no-install-recommends \
      pxelinux syslinux-common syslinux-efi ipxe libarchive-tools libcap2-bin curl \
    && rm -rf /var/lib/apt/lists/* \
    # Let the unprivileged user bind 67/69/4011 without root.
    && setcap cap_net_bind_service,cap_net_raw+ep "$(readlink -f "$(command -v node)")" \
    && useradd --system --home /var/lib/statelesx --create-home --shell /usr/sbin/nologin statelesx \
    && mkdir -p /srv/statelesx/images /srv/statelesx/tftp /etc/statelesx/clusters \
    && chown -R statelesx:statelesx /srv/statelesx /var/lib/statelesx
WORKDIR /opt/statelesx
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# Console templates and static files are read from src/web at run time (see src/web/app.ts).
COPY --from=build /src/src/web/views ./src/web/views
COPY --from=build /src/src/web/public ./src/web/public
COPY package.json ./
COPY schemas ./schemas
COPY scripts ./scripts
COPY docker/statelesx.yaml /etc/statelesx/statelesx.yaml
USER statelesx
VOLUME ["/var/lib/statelesx", "/srv/statelesx/images"]
EXPOSE 67/udp 69/udp 4011/udp 8080/tcp 1974/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["node", "--max-semi-space-size=2", "/opt/statelesx/dist/cli/main.js"]
CMD ["serve", "--config", "/etc/statelesx/statelesx.yaml"]
