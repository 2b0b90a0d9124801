#!/usr/bin/env bash
# pxe-boot-check --server-cmd for test/integration/dhcp-qemu.test.ts (runs inside the harness server netns):
# dnsmasq gives addresses and serves TFTP only (no boot options); our proxyDHCP on 10.99.0.2 gives the
# boot file (efi64/syslinux.efi for UEFI, pxelinux.0 for BIOS) with siaddr 10.99.0.2 (dnsmasq TFTP binds it too).
# Env: PXE_* from the harness, SX_REPO (repository root), REF_CACHE (kernel + initrd from ref-server-dnsmasq --prepare).
set -euo pipefail
C=${REF_CACHE:-/var/tmp/pxe-harness-cache}
T=$PXE_WORKDIR/tftp; rm -rf "$T"; mkdir -p "$T/efi64/pxelinux.cfg" "$T/pxelinux.cfg"
cp /usr/lib/SYSLINUX.EFI/efi64/syslinux.efi /usr/lib/syslinux/modules/efi64/ldlinux.e64 "$T/efi64/"
cp /usr/lib/PXELINUX/pxelinux.0 /usr/lib/syslinux/modules/bios/ldlinux.c32 "$T/"
cp $C/vmlinuz $C/initrd.gz "$T/efi64/"; cp $C/vmlinuz $C/initrd.gz "$T/"
for d in "$T/efi64/pxelinux.cfg" "$T/pxelinux.cfg"; do
printf 'DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd.gz\n  APPEND console=ttyS0,115200 panic=1 pxe_label=statelesx-proxy\n' > $d/default; done
ip addr add 10.99.0.2/24 dev "$PXE_IFACE"
dnsmasq --keep-in-foreground --port=0 --interface="$PXE_IFACE" --bind-interfaces --dhcp-range=$PXE_RANGE_START,$PXE_RANGE_END,$PXE_NETMASK,1h \
  --no-ping --enable-tftp --tftp-root="$T" --dhcp-leasefile=$PXE_WORKDIR/dnsmasq.leases --pid-file= --user=root --log-dhcp --log-facility=- --conf-file=/dev/null &
cd "$SX_REPO"
exec node --import tsx test/helpers/dhcp-fixture-server.ts '{"mode":"proxy","listenAddress":"10.99.0.2","dataDir":"'$PXE_WORKDIR'/sxdata","dhcp":{"boot-files":{"uefi":"efi64/syslinux.efi","bios":"pxelinux.0"}}}'
