#!/usr/bin/env bash
# The boot/reboot hook with a PEM body: the host presents the certificate it
# was given (certificate + private key, e.g. the test image's
# NAME-host-ssl/rui.crt + rui.key from scripts/make-test-image) instead of a
# generated one. The hook answers that certificate's thumbprints, the ESXi
# endpoint presents it by SNI, and Reconnect checks against it; a reboot with
# the same PEM keeps the thumbprint, one with another PEM changes it. Bad PEM:
# HTTP 400 and nothing changes.
source "$(dirname "$0")/lib.sh"

H=esx-pem.lab.local
T=$(mktemp -d)
trap 'cleanup; rm -rf "$T"' EXIT
for v in v1 v2; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$T/$v.key" -out "$T/$v.crt" \
    -subj "/CN=statelesx-test-image-$v" >/dev/null 2>&1
  cat "$T/$v.crt" "$T/$v.key" >"$T/$v.pem"
done
tp() { openssl x509 -in "$1" -noout -fingerprint "-$2" | sed 's/.*=//'; }
pem_boot() { # pem_boot HOOK FQDN PEMFILE: sets RESP, STATUS, TP, TP256
  local out
  out=$(curl -sS -k -X POST -H 'Content-Type: application/x-pem-file' --data-binary "@$3" \
    -w '\n%{http_code}' "$BASE/vcsim-test/$1?name=$2")
  STATUS=${out##*$'\n'}
  RESP=${out%$'\n'*}
  TP=$(sed -E 's/.*"thumbprint":"([^"]*)".*/\1/' <<<"$RESP")
  TP256=$(sed -E 's/.*"sha256":"([^"]*)".*/\1/' <<<"$RESP")
}
start_vcsim
login
CLUSTER=$(find_path DC0/host/DC0_C0)

pem_boot boot "$H" "$T/v1.pem"
check_status "boot with a PEM body" 200
[[ $TP256 == "$(tp "$T/v1.crt" sha256)" && $TP == "$(tp "$T/v1.crt" sha1)" ]] && RESP=same || RESP="$TP256 $TP"
check "answers the given certificate's SHA-256 and SHA-1 (openssl x509 -fingerprint)" '^same$'
TP1=$TP256
hostport=${ESX_SDK#https://}; hostport=${hostport%%/*}
RESP=$(openssl s_client -connect "$hostport" -servername "$H" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//')
check "the ESXi endpoint presents it for SNI $H" "^$TP1\$"

soap "<AddHost_Task xmlns=\"urn:vim25\"><_this type=\"ClusterComputeResource\">$CLUSTER</_this><spec><hostName>$H</hostName><sslThumbprint>$TP1</sslThumbprint><userName>root</userName><password></password><force>false</force></spec><asConnected>true</asConnected></AddHost_Task>"
task_info "$(ret Task)"
check "AddHost with its SHA-256 thumbprint: success" '<state>success</state>'
HOST=$(value result)
reconnect() {
  soap "<ReconnectHost_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this><cnxSpec><sslThumbprint>$1</sslThumbprint><userName>root</userName><password></password><force>false</force></cnxSpec></ReconnectHost_Task>"
  task_info "$(ret Task)"
}

pem_boot reboot "$H" "$T/v1.pem"
RESP=$TP256; check "a reboot with the same PEM keeps the thumbprint" "^$TP1\$"
props HostSystem "$HOST" runtime.connectionState
check "and is a reboot all the same: notResponding" '>notResponding<'
reconnect "$TP1"
check "Reconnect with the unchanged thumbprint: success" '<state>success</state>'

pem_boot reboot "$H" "$T/v2.pem"
RESP=$TP256; check "a reboot with another PEM (a rollback) changes it" "^$(tp "$T/v2.crt" sha256)\$"
reconnect "$TP1"
check "Reconnect with the old thumbprint: SSLVerifyFault naming the new SHA-1" "type=\"SSLVerifyFault\"><selfSigned>true</selfSigned><thumbprint>$(tp "$T/v2.crt" sha1)</thumbprint>"
reconnect "$TP256"
check "Reconnect with the new one: success" '<state>success</state>'

cp "$T/v1.crt" "$T/cert-only.pem"
pem_boot reboot "$H" "$T/cert-only.pem"
check_status "a PEM body without its key: HTTP 400" 400
check "saying what is missing" 'PEM body: want a CERTIFICATE block and its PRIVATE KEY'
cat "$T/v1.crt" "$T/v2.key" >"$T/mismatch.pem"
pem_boot reboot "$H" "$T/mismatch.pem"
check_status "a key that does not match the certificate: HTTP 400" 400
props HostSystem "$HOST" runtime.connectionState
check "a refused hook changes nothing: still connected" '>connected<'
RESP=$(curl -sS -k -X POST "$BASE/vcsim-test/reboot?name=$H" -o /dev/null -w '%{http_code}')
check "no body: a generated certificate, as before (HTTP 200)" '^200$'

finish
