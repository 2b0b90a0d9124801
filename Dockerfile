# statelesx container image (multi-stage). Build: docker build -t statelesx .
# Run with the host's network so DHCP broadcasts and TFTP reach the boot LAN:
#   docker run --network host -v statelesx-data:/var/lib/statelesx -v statelesx-clusters:/etc/statelesx/clusters \
#     -v /srv/esxi-images:/srv/statelesx/images statelesx
# Bind-mounted host directories must be writable by uid/gid 1974 (the statelesx user below).
# No Docker engine runs on the machines this project is developed and tested on: this file is
# reviewed, not exercised in CI (see README).

FROM node:20-bookworm-slim AS build
WORKDIR /src
# better-sqlite3 and argon2 build native addons when no prebuilt binary can be fetched, and our
# own addons (binding.gyp: TFTP data plane, HTTP sendfile, malloc_trim; built by the install script of
# npm ci) always are: every source binding.gyp names must be here, or none is built.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json binding.gyp ./
COPY src/boot/tftp/native ./src/boot/tftp/native
COPY src/boot/http/native ./src/boot/http/native
COPY src/memory/native ./src/memory/native
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
    # Let the unprivileged user bind udp/67, 69, 4011 and tcp/80 (HTTP boot) without root. Only that: DHCP, TFTP and
    # proxyDHCP use ordinary UDP sockets (replies to clients without an address are broadcast,
    # never injected as raw frames), so no raw sockets and no CAP_NET_RAW.
    && setcap cap_net_bind_service+ep "$(readlink -f "$(command -v node)")" \
    # A fixed uid/gid (1974, the phone-home port) so bind-mounted volumes can be chowned to it.
    && groupadd --system --gid 1974 statelesx \
    && useradd --system --uid 1974 --gid 1974 --home /var/lib/statelesx --create-home --shell /usr/sbin/nologin statelesx \
    # The clusters directory is written at run time (console editor, one-click "Add to cluster").
    && mkdir -p /srv/statelesx/images /srv/statelesx/tftp /etc/statelesx/clusters \
    && chown -R statelesx:statelesx /srv/statelesx /var/lib/statelesx /etc/statelesx/clusters
WORKDIR /opt/statelesx
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/build/Release/tftp_dataplane.node ./build/Release/tftp_dataplane.node
COPY --from=build /src/build/Release/http_sendfile.node ./build/Release/http_sendfile.node
COPY --from=build /src/build/Release/malloc_trim.node ./build/Release/malloc_trim.node
# Console templates and static files are read from src/web at run time (see src/web/app.ts).
COPY --from=build /src/src/web/views ./src/web/views
COPY --from=build /src/src/web/public ./src/web/public
COPY package.json ./
COPY schemas ./schemas
COPY scripts ./scripts
COPY docker/statelesx.yaml /etc/statelesx/statelesx.yaml
USER statelesx
# Data (SQLite store), cluster files (written by the console) and images (written by image import).
VOLUME ["/var/lib/statelesx", "/etc/statelesx/clusters", "/srv/statelesx/images"]
EXPOSE 67/udp 69/udp 4011/udp 80/tcp 8080/tcp 1974/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["node", "--max-semi-space-size=2", "/opt/statelesx/dist/cli/main.js"]
CMD ["serve", "--config", "/etc/statelesx/statelesx.yaml"]
