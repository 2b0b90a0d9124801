#!/usr/bin/env bash
# pxe-boot-check --server-cmd for test/integration/dhcp-qemu.test.ts (runs inside the harness server netns):
# our DHCP service in full mode on $PXE_IFACE gives the address and the boot answer; SeaBIOS's iPXE ROM
# (user class iPXE) gets http://$PXE_ADDR:8080/boot/boot.ipxe, served with the kernel and initrd by
# busybox httpd. Env: PXE_* from the harness, SX_REPO (repository root), REF_CACHE (ref-server-dnsmasq --prepare).
set -euo pipefail
C=${REF_CACHE:-/var/tmp/pxe-harness-cache}
W=$PXE_WORKDIR/www; rm -rf "$W"; mkdir -p "$W/boot"
cp $C/vmlinuz $C/initrd.gz "$W/boot/"
printf '#!ipxe\nkernel http://%s:8080/boot/vmlinuz initrd=initrd.gz console=ttyS0,115200 panic=1 pxe_label=statelesx-full\ninitrd http://%s:8080/boot/initrd.gz\nboot\n' "$PXE_ADDR" "$PXE_ADDR" > "$W/boot/boot.ipxe"
busybox httpd -f -p 8080 -h "$W" &
cd "$SX_REPO"
exec node --import tsx test/helpers/dhcp-fixture-server.ts '{"mode":"full","interface":"'$PXE_IFACE'","dataDir":"'$PXE_WORKDIR'/sxdata","httpPort":8080,"dhcp":{"range-start":"'$PXE_RANGE_START'","range-end":"'$PXE_RANGE_END'","netmask":"'$PXE_NETMASK'","lease-time-s":600}}'
