#!/usr/bin/env bash
# The end-to-end test's server, run by test/peers/pxe-boot-check inside its server namespace
# (PXE_* variables come from the harness, E2E_* from the test). Starts the vCenter simulator on
# this namespace's loopback (strict mode, the test VMs' UUIDs mapped to their FQDNs), writes a
# statelesx.yaml for this run, and runs `statelesx serve` in the foreground (full DHCP on pxe0).
#
# Optional:
#   E2E_BOOT_DEFAULTS=1     every boot setting at its default (test/e2e/uefi-native-defaults.test.ts):
#                           no dhcp.boot-files, no boot: section, no loader-dirs — the loaders come
#                           from Debian's default loader directories, nothing is copied to tftp-root.
#   E2E_DHCP_MODE=proxy     (test/e2e/uefi-http-boot.test.ts) dnsmasq on PXE_ADDR hands out the
#                           addresses with no boot options; statelesx runs dhcp.mode proxy beside it
#                           on a second address, E2E_PROXY_ADDR (default: PXE_ADDR's .2), which it
#                           listens on and advertises. Default: full (statelesx is the DHCP server).
#   E2E_ARM64_LOADER=FILE   dhcp.boot-files.uefi-arm64 (option 93 arch 11: test/e2e/arm64-uefi-pxe.test.ts)
# The lifecycle test, test/e2e/lifecycle-e2e.test.ts:
#   E2E_ENGINE_DEFAULTS=1   every engine setting at its default (notably engine.thumbprint-policy)
#                           except engine.esxi-sdk-url, which points at the simulator's ESXi SDK
#                           (the namespace has no DNS for the hosts' FQDNs; TLS SNI stays the FQDN).
#                           Without it: thumbprint-policy trust-on-first-use, as pxe-e2e has it.
#   E2E_BOOT_HOSTS="FQDN=PEMFILE ..."  before statelesx starts, the simulator's first-boot hook
#                           for each host with that certificate + key (its image's host-ssl pair):
#                           the simulated host presents the certificate the VM's initrd carries.
# Several servers on one store (test/e2e/two-servers-pxe.test.ts):
#   E2E_SERVER_B=1          a second `statelesx serve`, server B, on E2E_SERVER_B_ADDR (default
#                           PXE_ADDR's .3, added to pxe0): no DHCP, its own data-dir, images-dir,
#                           tftp-root and clusters-dir under $E2E_DIR/b (images copied there by the
#                           test, cluster files from the store), the same store as A
#                           (STATELESX_DATABASE_URL from the test's environment) and the same ports
#                           on its own address. Server A then listens on PXE_ADDR only and names B in
#                           the hosts' statelesx.server= (initiator.advertise-address). B's log:
#                           $PXE_WORKDIR/server-b.log; A's stays the harness's server.log.
set -euo pipefail
: "${PXE_WORKDIR:?run by pxe-boot-check}" "${E2E_DIR:?}" "${E2E_VC_PASSWORD:?}" "${E2E_ESXI_PASSWORD:?}"
repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
run=$PXE_WORKDIR

vc_args=(-l 127.0.0.1:0 -tls -username e2e-vc -password "$E2E_VC_PASSWORD")
for m in ${E2E_HOST_UUIDS:-}; do vc_args+=(-host-uuid "$m"); done
vc_out=$("$repo/test/peers/vcsim/start" "${vc_args[@]}")
sdk=$(awk '/^url /{print $2}' <<<"$vc_out" | sed -E 's#//[^@/]*@#//#')
thumb=$(awk '/^thumbprint /{print $2}' <<<"$vc_out")
vcpid=$(awk '/^pid /{print $2}' <<<"$vc_out")
trap 'kill "$vcpid" 2>/dev/null || true' EXIT
esx=$(awk '/^esx-url /{print $2}' <<<"$vc_out")
printf 'sdk=%s\nthumbprint=%s\nusername=e2e-vc\npassword=%s\npid=%s\nesx=%s\n' "$sdk" "$thumb" "$E2E_VC_PASSWORD" "$vcpid" "$esx" >"$run/vcsim.env"
for b in ${E2E_BOOT_HOSTS:-}; do
  curl -sS -k --fail-with-body -X POST -H 'Content-Type: application/x-pem-file' --data-binary "@${b#*=}" \
    "${sdk%/sdk}/vcsim-test/boot?name=${b%%=*}" || { echo "netns-server: vcsim boot hook for ${b%%=*} failed" >&2; exit 1; }
  echo
done
if [ "${E2E_ENGINE_DEFAULTS:-}" = 1 ]; then
  engine_yaml="engine:
  esxi-sdk-url: $esx"
else
  engine_yaml="engine:
  thumbprint-policy: trust-on-first-use"
fi
if [ "${E2E_BOOT_DEFAULTS:-}" = 1 ]; then
  boot_files_yaml=""
  boot_yaml=""
else
  boot_files_yaml="  boot-files:
    bios: ${E2E_BIOS_LOADER:-pxelinux.0}
    uefi: ${E2E_UEFI_LOADER:-ipxe.efi}
    ipxe: ${E2E_IPXE_FILE:-boot.ipxe}${E2E_ARM64_LOADER:+
    uefi-arm64: $E2E_ARM64_LOADER}"
  boot_yaml="boot:
  default-image: ${E2E_DEFAULT_IMAGE:-v1}
  unknown-hosts: default-image"
fi

sx_addr=$PXE_ADDR
listen=0.0.0.0
b_addr=""
if [ "${E2E_DHCP_MODE:-full}" = proxy ]; then
  sx_addr=${E2E_PROXY_ADDR:-${PXE_ADDR%.*}.2}
  listen=$sx_addr
  ip addr add "$sx_addr/$PXE_PREFIX" dev "$PXE_IFACE"
  # addresses only: no boot file, no PXE or HTTPClient answer from dnsmasq
  dnsmasq --keep-in-foreground --port=0 --interface="$PXE_IFACE" --bind-interfaces --no-ping \
    --dhcp-range="$PXE_RANGE_START,$PXE_RANGE_END,$PXE_NETMASK,1h" --dhcp-leasefile="$run/dnsmasq.leases" \
    --pid-file= --user=root --log-dhcp --log-facility="$run/dnsmasq.log" --conf-file=/dev/null &
  dnsmasq_pid=$!
  trap 'kill "$vcpid" "$dnsmasq_pid" 2>/dev/null || true' EXIT
  dhcp_yaml="dhcp:
  mode: proxy"
elif [ "${E2E_SERVER_B:-}" = 1 ]; then
  listen=$sx_addr
  b_addr=${E2E_SERVER_B_ADDR:-${PXE_ADDR%.*}.3}
fi
if [ "${E2E_DHCP_MODE:-full}" != proxy ]; then
  dhcp_yaml="dhcp:
  mode: full
  range-start: $PXE_RANGE_START
  range-end: $PXE_RANGE_END
  netmask: $PXE_NETMASK
  lease-time-s: 600"
fi

cat >"$run/statelesx.yaml" <<YAML
data-dir: $E2E_DIR/data
images-dir: $E2E_DIR/images
tftp-root: $E2E_DIR/tftp
clusters-dir: $E2E_DIR/clusters
pxelinux-cfg-dir: $E2E_DIR/pxelinux.cfg
listen-address: $listen
advertise-address: $sx_addr
interface: $PXE_IFACE
log-level: debug
tftp:
  port: 69
http:
  port: 8080
initiator:
  port: 1974
  require-token: true${b_addr:+
  advertise-address: $b_addr}
$dhcp_yaml
$boot_files_yaml
$boot_yaml
$engine_yaml
vcenters:
  - name: vc-e2e
    url: $sdk
    username: e2e-vc
    password-env: E2E_VC_PASSWORD
    thumbprint: "$thumb"
credentials:
  - name: esxi-root
    username: root
    password-env: E2E_ESXI_PASSWORD
YAML
if [ -n "${b_addr:-}" ]; then
  ip addr add "$b_addr/$PXE_PREFIX" dev "$PXE_IFACE"
  mkdir -p "$E2E_DIR/b/data" "$E2E_DIR/b/images" "$E2E_DIR/b/tftp" "$E2E_DIR/b/clusters" "$E2E_DIR/b/pxelinux.cfg"
  cat >"$run/statelesx-b.yaml" <<YAML
data-dir: $E2E_DIR/b/data
images-dir: $E2E_DIR/b/images
tftp-root: $E2E_DIR/b/tftp
clusters-dir: $E2E_DIR/b/clusters
pxelinux-cfg-dir: $E2E_DIR/b/pxelinux.cfg
listen-address: $b_addr
advertise-address: $b_addr
log-level: debug
tftp:
  port: 69
http:
  port: 8080
initiator:
  port: 1974
  require-token: true
dhcp:
  mode: off
$engine_yaml
vcenters:
  - name: vc-e2e
    url: $sdk
    username: e2e-vc
    password-env: E2E_VC_PASSWORD
    thumbprint: "$thumb"
credentials:
  - name: esxi-root
    username: root
    password-env: E2E_ESXI_PASSWORD
YAML
  node "$repo/dist/cli/main.js" serve --config "$run/statelesx-b.yaml" >"$run/server-b.log" 2>&1 &
  b_pid=$!
  trap 'kill "$vcpid" "$b_pid" 2>/dev/null || true' EXIT
fi
node "$repo/dist/cli/main.js" serve --config "$run/statelesx.yaml"
