#!/usr/bin/env bash
# -state DIR: a restart on the same ports keeps the inventory, as a vpxd
# restart keeps vCenter's (the VCDB): an added host with its MoRef, hardware
# UUID, connection state and configuration, a cluster's settings, the
# rebooted host's certificate (thumbprint) and root password, the thumbprint
# vCenter trusted; sessions end (NotAuthenticated, log in again); new objects
# get MoRefs of their own. A journal line cut off by a kill is dropped.
source "$(dirname "$0")/lib.sh"

H=esx-01.lab.local
UUID=4c4c4544-0021-3510-8052-e1c04f303030
DIR=$(mktemp -d)
trap 'cleanup; rm -rf "$DIR"' EXIT
start_vcsim -tls -state "$DIR" -host-uuid "$H=$UUID"
PORT=${SDK##*:}; PORT=${PORT%/sdk}
EPORT=${ESX_SDK##*:}; EPORT=${EPORT%/sdk}
restart() { # the same flags, ports and state directory, as a vpxd restart
  kill -9 "$PID"
  while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
  stop_vcsim
  start_vcsim -tls -state "$DIR" -host-uuid "$H=$UUID" -l "127.0.0.1:$PORT" -esx-listen "127.0.0.1:$EPORT"
}
state() { props HostSystem "$1" runtime.connectionState; value val; }

login
CLUSTER=$(find_path DC0/host/DC0_C0)
boot_host boot "$H"
TP1=$TP
esx_soap "$H" '<Login xmlns="urn:vim25"><_this type="SessionManager">ha-sessionmgr</_this><userName>root</userName><password></password></Login>'
esx_soap "$H" '<UpdateUser xmlns="urn:vim25"><_this type="HostLocalAccountManager">ha-localacctmgr</_this><user><id>root</id><password>VMware1!</password></user></UpdateUser>'
check_status "UpdateUser sets root's password" 200
soap "<AddHost_Task xmlns=\"urn:vim25\"><_this type=\"ClusterComputeResource\">$CLUSTER</_this><spec><hostName>$H</hostName><sslThumbprint>$TP1</sslThumbprint><userName>root</userName><password>VMware1!</password><force>false</force></spec><asConnected>true</asConnected></AddHost_Task>"
task_info "$(ret Task)"
check "AddHost_Task: success" '<state>success</state>'
HOST=$(value result)
props HostSystem "$HOST" configManager
NS=$(value networkSystem)
soap "<AddVirtualSwitch xmlns=\"urn:vim25\"><_this type=\"HostNetworkSystem\">$NS</_this><vswitchName>vSwitch1</vswitchName></AddVirtualSwitch>"
check_status "AddVirtualSwitch" 200
soap "<ReconfigureComputeResource_Task xmlns=\"urn:vim25\"><_this type=\"ClusterComputeResource\">$CLUSTER</_this><spec xsi:type=\"ClusterConfigSpecEx\"><dasConfig><enabled>true</enabled></dasConfig></spec><modify>true</modify></ReconfigureComputeResource_Task>"
task_info "$(ret Task)"
check "HA on" '<state>success</state>'
RESP=$(stat -c %a "$DIR/journal.jsonl"); check "the journal is mode 0600 (keys, passwords)" '^600$'

restart
props HostSystem "$HOST" runtime.connectionState
check "the old session is gone: NotAuthenticated" 'NotAuthenticated'
login
RESP=$(find_path "DC0/host/DC0_C0/$H"); check "the host kept its MoRef" "^$HOST\$"
RESP=$(state "$HOST"); check "still connected" '^connected$'
props HostSystem "$HOST" config.network hardware.systemInfo.uuid
check "its configuration kept: vSwitch1" '<name>vSwitch1</name>'
check "its hardware UUID kept" "<val [^>]*>$UUID</val>"
props ClusterComputeResource "$CLUSTER" configurationEx
check "the cluster's settings kept: HA on" '<dasConfig><enabled>true</enabled>'

# a stateless reboot, then a restart before the rejoin
boot_host reboot "$H"
TP2=$TP
restart
login
RESP=$(state "$HOST"); check "after the restart the rebooted host is still notResponding" '^notResponding$'
props HostSystem "$HOST" config.network
check_not "with the image's configuration" '<name>vSwitch1</name>'
HP=${ESX_SDK#https://}; HP=${HP%/sdk}
RESP=$(echo | openssl s_client -connect "$HP" -servername "$H" 2>/dev/null | openssl x509 -noout -fingerprint -sha1)
check "its SDK presents the same certificate as before the restart" "Fingerprint=$TP2"
soap "<ReconnectHost_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this></ReconnectHost_Task>"
task_info "$(ret Task)"
check "Reconnect without cnxSpec: SSLVerifyFault with the new thumbprint (vCenter trusts the old one)" "<thumbprint>$TP2</thumbprint>"
soap "<ReconnectHost_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this><cnxSpec><sslThumbprint>$TP2</sslThumbprint><userName>root</userName><password>VMware1!</password><force>false</force></cnxSpec></ReconnectHost_Task>"
task_info "$(ret Task)"
check "the old password: InvalidLogin (the reboot blanked it, the restart kept that)" 'type="InvalidLogin"'
soap "<ReconnectHost_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this><cnxSpec><sslThumbprint>$TP2</sslThumbprint><userName>root</userName><password></password><force>false</force></cnxSpec></ReconnectHost_Task>"
task_info "$(ret Task)"
check "the new thumbprint and the blank password: success" '<state>success</state>'

# new objects after a restart do not collide with the restored ones
restart
login
soap "<CreateClusterEx xmlns=\"urn:vim25\"><_this type=\"Folder\">$(find_path DC0/host)</_this><name>C-new</name><spec></spec></CreateClusterEx>"
NEW=$(ret ClusterComputeResource)
RESP=$NEW; check "CreateClusterEx after the restart" '^[a-z-]+-[0-9]+$'
RESP=$(( ${NEW##*-} > ${HOST##*-} )); check "numbered after the restored objects (host $HOST, new $NEW)" '^1$'
RESP=$(find_path DC0/host/DC0_C0); check "the old cluster is still itself" "^$CLUSTER\$"
RESP=$(state "$HOST"); check "the host is connected (the Reconnect was kept)" '^connected$'

# a line cut off by a kill mid-write is dropped
kill -9 "$PID"; while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
printf '{"kind":"sdk","counter":1,"bo' >>"$DIR/journal.jsonl"
stop_vcsim
start_vcsim -tls -state "$DIR" -host-uuid "$H=$UUID" -l "127.0.0.1:$PORT" -esx-listen "127.0.0.1:$EPORT"
login
RESP=$(find_path DC0/host/C-new); check "a cut-off last line is dropped; the rest replays" "^$NEW\$"

finish
