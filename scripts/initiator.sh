#!/bin/sh
# statelesx phone-home initiator for busybox sh + nc (the synthetic test image's init, any
# small Linux). Sends one line to the statelesx server's TCP 1974 listener:
#
#   <hostname>:<uuid> token=<t> mac=<m> serial=<s> vendor=<v> model=<m> version=initiator.sh/1.0
#     thumbprint=<SHA-256> thumbprint-sha1=<SHA-1>
#
# and reads the one-line answer: "OK <job-id>", "UNREGISTERED" or "ERR <reason>".
#
# Inputs (all optional; the kernel command line is the normal source):
#   kernel command line (/proc/cmdline, or $STATELESX_CMDLINE):
#     statelesx.server=<addr>[:<port>]   where to phone home (port 1974 when omitted)
#     statelesx.token=<token>            the per-boot token the server rendered into this boot
#     BOOTIF=01-aa-bb-cc-dd-ee-ff        the boot NIC (pxelinux IPAPPEND 2 / iPXE)
#     statelesx.stage=installed          sent as stage=installed: the stateful install is done (later
#                                        network boots boot from disk); $STATELESX_STAGE overrides
#   $STATELESX_SERVER      overrides statelesx.server
#   $STATELESX_SYSFS       root for /sys (tests point it at a fake tree; default "")
#   $STATELESX_HOSTNAME    the host name to send, as is (no domain appended)
#   $STATELESX_DOMAIN      the domain appended to `hostname` when it has no dot
#   $STATELESX_RESOLV_CONF where the DHCP client wrote the domain (default /etc/resolv.conf)
#   $STATELESX_RETRIES     attempts (default 8); $STATELESX_BACKOFF_MAX max delay in s (default 30)
#   $STATELESX_CERT        the host's SSL certificate (default /etc/vmware/ssl/rui.crt, as on ESXi)
#
# Identity: UUID from /sys/class/dmi/id/product_uuid (SMBIOS form, as dmidecode shows it),
# serial/vendor/model from product_serial, sys_vendor, product_name.
#
# Host name: the fully qualified name, what vCenter should add the host as (scripts/initiator.py
# reads it from `esxcli system hostname get`): $STATELESX_HOSTNAME, else `hostname` (or
# /proc/sys/kernel/hostname), which when it has no dot gets a domain: $STATELESX_DOMAIN, else the
# `domain` (else the first `search`) of resolv.conf, where udhcpc's script writes DHCP option 15,
# else the kernel's domainname (/proc/sys/kernel/domainname, unless "(none)"). Lower-cased; left
# out when it is localhost or not an RFC 1123 name (the server would refuse the whole message).
#
# Thumbprints (the keys scripts/initiator.py sends): SHA-256 (thumbprint=) and SHA-1
# (thumbprint-sha1=) of the DER of the first certificate in $STATELESX_CERT, upper-case colon hex,
# what vCenter's HostConnectSpec.sslThumbprint carries. No file (or no PEM certificate in it): the
# keys are left out. Needs awk, base64 -d, sha256sum and sha1sum (busybox has them).
#
# Exit status: 0 on OK or UNREGISTERED (also on ERR token-replayed after an earlier attempt
# whose answer was lost: the token was consumed by that attempt); 2 bad local data (no UUID, no
# server); 3 refused (ERR token-*, address-mismatch, bad input); 1 no answer after all retries.

VERSION="initiator.sh/1.0"
CMDLINE_FILE="${STATELESX_CMDLINE:-/proc/cmdline}"
SYSFS="${STATELESX_SYSFS:-}"
RETRIES="${STATELESX_RETRIES:-8}"
BACKOFF_MAX="${STATELESX_BACKOFF_MAX:-30}"

log() { echo "statelesx-initiator: $*" >&2; }

# Value of key=... on the kernel command line, or empty.
cmdline_value() {
  [ -r "$CMDLINE_FILE" ] || return 0
  for word in $(cat "$CMDLINE_FILE"); do
    case "$word" in
      "$1"=*) echo "${word#*=}"; return 0 ;;
    esac
  done
}

# First line of a file, without control characters; empty when unreadable.
read_attr() {
  [ -r "$1" ] || return 0
  head -n 1 "$1" 2>/dev/null | tr -d '\000-\037\177'
}

# Percent-encodes what the wire format reserves: % space tab = (RFC 3986 §2.1). Other bytes pass.
pct() {
  printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/	/%09/g' -e 's/=/%3D/g'
}

# nc, or busybox's applet when no nc is on PATH.
NC="nc"
command -v nc >/dev/null 2>&1 || NC="busybox nc"
TIMEOUT=""
command -v timeout >/dev/null 2>&1 && TIMEOUT="timeout 30"

server="${STATELESX_SERVER:-$(cmdline_value statelesx.server)}"
if [ -z "$server" ]; then
  log "no server: set statelesx.server=<addr>:<port> on the kernel command line or \$STATELESX_SERVER"
  exit 2
fi
case "$server" in
  *:*) host="${server%:*}"; port="${server##*:}" ;;
  *) host="$server"; port=1974 ;;
esac

uuid="$(read_attr "$SYSFS/sys/class/dmi/id/product_uuid" | tr -d ' ')"
if [ -z "$uuid" ]; then
  log "cannot read $SYSFS/sys/class/dmi/id/product_uuid (run as root; needs SMBIOS)"
  exit 2
fi

# The `domain` of resolv.conf, else its first `search` domain; empty when neither.
resolv_domain() {
  [ -r "${STATELESX_RESOLV_CONF:-/etc/resolv.conf}" ] || return 0
  awk '$1 == "domain" && NF >= 2 { d = $2 } $1 == "search" && NF >= 2 && s == "" { s = $2 }
       END { if (d != "") print d; else if (s != "") print s }' "${STATELESX_RESOLV_CONF:-/etc/resolv.conf}"
}

if [ -n "${STATELESX_HOSTNAME:-}" ]; then
  name="$STATELESX_HOSTNAME"
else
  name="$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname 2>/dev/null)"
  case "$name" in
    *.*|""|"(none)") ;;
    *)
      domain="${STATELESX_DOMAIN:-$(resolv_domain)}"
      [ -n "$domain" ] || domain="$(cat /proc/sys/kernel/domainname 2>/dev/null)"
      case "$domain" in ""|"(none)") ;; *) name="$name.$domain" ;; esac ;;
  esac
fi
case "$name" in
  ""|"(none)"|localhost|localhost.*|LOCALHOST*) name="" ;;
esac
name="$(printf '%s' "${name%.}" | tr 'A-Z' 'a-z')"
# RFC 1123: letters, digits and '-' in dot-separated labels of 1-63, at most 253 in all.
if [ -n "$name" ] && { [ "${#name}" -gt 253 ] ||
  ! printf '%s\n' "$name" | grep -Eq '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'; }; then
  log "host name '$(printf '%s' "$name" | cut -c1-64 | tr -d '\000-\037')' is not an RFC 1123 name: phoning home without it"
  name=""
fi

mac=""
bootif="$(cmdline_value BOOTIF)"
if [ -n "$bootif" ]; then
  # 01-aa-bb-cc-dd-ee-ff (ARP type 1 + MAC) → aa:bb:cc:dd:ee:ff
  mac="$(echo "${bootif#01-}" | tr '-' ':' | tr 'A-F' 'a-f')"
else
  for dev in "$SYSFS"/sys/class/net/*; do
    [ -e "$dev/address" ] || continue
    case "${dev##*/}" in lo) continue ;; esac
    a="$(read_attr "$dev/address")"
    [ -n "$a" ] && [ "$a" != "00:00:00:00:00:00" ] && { mac="$a"; break; }
  done
fi

token="$(cmdline_value statelesx.token)"
serial="$(read_attr "$SYSFS/sys/class/dmi/id/product_serial")"
vendor="$(read_attr "$SYSFS/sys/class/dmi/id/sys_vendor")"
model="$(read_attr "$SYSFS/sys/class/dmi/id/product_name")"

# Colon hex, upper case, of digest $1 (sha256sum or sha1sum) of the first PEM certificate's DER.
cert_thumbprint() {
  awk '/-----BEGIN CERTIFICATE-----/{p=1;next} /-----END CERTIFICATE-----/{exit} p' "$CERT" |
    base64 -d 2>/dev/null | "$1" | cut -d ' ' -f 1 | tr 'a-f' 'A-F' | sed -e 's/../&:/g' -e 's/:$//'
}
CERT="${STATELESX_CERT:-/etc/vmware/ssl/rui.crt}"
tp256=""
tp1=""
if [ -r "$CERT" ] && grep -q -e '-----BEGIN CERTIFICATE-----' "$CERT" 2>/dev/null; then
  tp256="$(cert_thumbprint sha256sum)"
  tp1="$(cert_thumbprint sha1sum)"
  # an empty certificate body hashes to the digest of nothing: 32/20 bytes but no certificate
  case "$tp256" in
    E3:B0:C4:42:98:FC:1C:14:*|"") log "$CERT: no readable certificate; phoning home without thumbprint"; tp256=""; tp1="" ;;
  esac
else
  log "no certificate at $CERT: phoning home without thumbprint"
fi

msg="$name:$uuid"
[ -n "$token" ] && msg="$msg token=$(pct "$token")"
[ -n "$mac" ] && msg="$msg mac=$mac"
[ -n "$serial" ] && msg="$msg serial=$(pct "$serial")"
[ -n "$vendor" ] && msg="$msg vendor=$(pct "$vendor")"
[ -n "$model" ] && msg="$msg model=$(pct "$model")"
msg="$msg version=$VERSION"
[ -n "$tp256" ] && msg="$msg thumbprint=$tp256 thumbprint-sha1=$tp1"
[ "${STATELESX_STAGE:-$(cmdline_value statelesx.stage)}" = installed ] && msg="$msg stage=installed"

attempt=1
delay=1
sent_before=0
while [ "$attempt" -le "$RETRIES" ]; do
  # busybox nc half-closes after stdin's EOF and prints the answer until the server closes.
  reply="$(printf '%s\n' "$msg" | $TIMEOUT $NC -w 10 "$host" "$port" 2>/dev/null | head -n 1 | tr -d '\r')"
  case "$reply" in
    "OK "*)
      log "phoned home to $host:$port: configure job ${reply#OK }"; exit 0 ;;
    UNREGISTERED)
      log "phoned home to $host:$port: this host is not in any cluster yet (listed as unregistered)"; exit 0 ;;
    "ERR token-replayed")
      if [ "$sent_before" = 1 ]; then
        log "token already used: an earlier attempt was accepted but its answer was lost"; exit 0
      fi
      log "refused: token-replayed (someone else used this boot's token?)"; exit 3 ;;
    "ERR busy"|"ERR internal"|"ERR enqueue-failed"|"ERR slow"|"ERR idle")
      log "attempt $attempt: server answered '$reply'; retrying" ;;
    "ERR "*)
      log "refused by $host:$port: ${reply#ERR }"; exit 3 ;;
    *)
      log "attempt $attempt: no answer from $host:$port; retrying in ${delay}s" ;;
  esac
  # A message may have reached the server even when its answer did not reach us.
  [ -n "$reply" ] || sent_before=1
  attempt=$((attempt + 1))
  [ "$attempt" -le "$RETRIES" ] || break
  sleep "$delay"
  delay=$((delay * 2))
  [ "$delay" -le "$BACKOFF_MAX" ] || delay="$BACKOFF_MAX"
done
log "giving up after $RETRIES attempts"
exit 1
