#!/usr/bin/env bash
# A stateless ESXi host seen from vCenter: a per-host root password
# (-host-password) checked by AddHost_Task / ReconnectHost_Task (InvalidLogin),
# the boot/reboot hook (new self-signed certificate and thumbprint, blank root
# password, configuration back to the image's defaults, notResponding, hardware
# UUID kept), ReconnectHost_Task checks (SSLVerifyFault with the new thumbprint,
# SHA-1 or SHA-256 accepted; InvalidLogin; no cnxSpec after a reboot fails) and
# DisconnectHost_Task.
source "$(dirname "$0")/lib.sh"

H=esx-01.lab.local
OLDTP=AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD
start_vcsim -host-password "$H=VMware1!" -host-password "*=" -host-thumbprint "esx-02.lab.local=$OLDTP"
login
CLUSTER=$(find_path DC0/host/DC0_C0)

add_host() { # add_host NAME THUMBPRINT USER PASSWORD
  local tp=""
  [[ -n $2 ]] && tp="<sslThumbprint>$2</sslThumbprint>"
  soap "<AddHost_Task xmlns=\"urn:vim25\"><_this type=\"ClusterComputeResource\">$CLUSTER</_this><spec><hostName>$1</hostName>$tp<userName>$3</userName><password>$4</password><force>false</force></spec><asConnected>true</asConnected></AddHost_Task>"
  check_status "AddHost_Task $1 accepted" 200
  task_info "$(ret Task)"
}
reconnect() { # reconnect HOST [CNXSPEC-INNER]; no second argument = no cnxSpec
  local spec=""
  [[ $# -gt 1 ]] && spec="<cnxSpec>$2<force>false</force></cnxSpec>"
  soap "<ReconnectHost_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$1</_this>$spec</ReconnectHost_Task>"
  check_status "ReconnectHost_Task accepted" 200
  task_info "$(ret Task)"
}
state() { props HostSystem "$1" runtime.connectionState; value val; }

add_host "$H" "" root wrong
check "-host-password: a wrong password is InvalidLogin" '<fault [^>]*type="InvalidLogin">'
check "with vCenter's message" '<localizedMessage>Cannot complete login due to an incorrect user name or password.</localizedMessage>'
add_host "$H" "" admin 'VMware1!'
check "a user other than root: InvalidLogin" 'type="InvalidLogin"'
add_host "$H" "" root 'VMware1!'
check "root and the password: success" '<state>success</state>'
HOST=$(value result)
add_host esx-03.lab.local "" root ""
check "-host-password '*=': every other host has a blank password, which logs in" '<state>success</state>'

# configure the host as the engine would
props HostSystem "$HOST" configManager
NS=$(value networkSystem); DT=$(value dateTimeSystem); OM=$(value advancedOption)
props HostSystem "$HOST" hardware.systemInfo.uuid
UUID=$(value val)
soap "<AddVirtualSwitch xmlns=\"urn:vim25\"><_this type=\"HostNetworkSystem\">$NS</_this><vswitchName>vSwitch1</vswitchName></AddVirtualSwitch>"
soap "<AddPortGroup xmlns=\"urn:vim25\"><_this type=\"HostNetworkSystem\">$NS</_this><portgrp><name>vMotion</name><vlanId>0</vlanId><vswitchName>vSwitch1</vswitchName><policy></policy></portgrp></AddPortGroup>"
soap "<AddVirtualNic xmlns=\"urn:vim25\"><_this type=\"HostNetworkSystem\">$NS</_this><portgroup>vMotion</portgroup><nic><ip><dhcp>false</dhcp><ipAddress>10.0.0.21</ipAddress><subnetMask>255.255.255.0</subnetMask></ip></nic></AddVirtualNic>"
check "vmk1 added" '<returnval>vmk1</returnval>'
soap "<UpdateDnsConfig xmlns=\"urn:vim25\"><_this type=\"HostNetworkSystem\">$NS</_this><config xsi:type=\"HostDnsConfig\"><dhcp>false</dhcp><hostName>esx-01</hostName><domainName>lab.local</domainName><address>10.0.0.2</address><searchDomain>lab.local</searchDomain></config></UpdateDnsConfig>"
soap "<UpdateDateTimeConfig xmlns=\"urn:vim25\"><_this type=\"HostDateTimeSystem\">$DT</_this><config><ntpConfig><server>10.0.0.1</server></ntpConfig></config></UpdateDateTimeConfig>"
soap "<UpdateOptions xmlns=\"urn:vim25\"><_this type=\"OptionManager\">$OM</_this><changedValue><key>Config.HostAgent.log.level</key><value xsi:type=\"xsd:string\">verbose</value></changedValue></UpdateOptions>"
check_status "UpdateOptions on the host" 200
soap "<QueryOptions xmlns=\"urn:vim25\"><_this type=\"OptionManager\">$OM</_this><name>Config.HostAgent.log.level</name></QueryOptions>"
check "the option changed" '<key>Config.HostAgent.log.level</key><value [^>]*>verbose</value>'
H0=$(find_path DC0/host/DC0_C0/DC0_C0_H0)
props HostSystem "$H0" configManager.advancedOption
soap "<QueryOptions xmlns=\"urn:vim25\"><_this type=\"OptionManager\">$(value val)</_this><name>Config.HostAgent.log.level</name></QueryOptions>"
check "another host's options are its own" '<key>Config.HostAgent.log.level</key><value [^>]*>info</value>'
soap "<EnterMaintenanceMode_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this><timeout>0</timeout></EnterMaintenanceMode_Task>"
props HostSystem "$HOST" config.network runtime.inMaintenanceMode config.dateTimeInfo
check "configured: vSwitch1, vmk1, DNS" '<name>vSwitch1</name>.*<device>vmk1</device>.*<address>10.0.0.2</address>'
check "configured: NTP" '<server>10.0.0.1</server>'
check "configured: maintenance mode" '<name>runtime.inMaintenanceMode</name><val [^>]*>true</val>'

# the reboot
boot_host reboot "$H"
check "reboot answers the new thumbprints as JSON" '^\{"sha256":"([0-9A-F]{2}:){31}[0-9A-F]{2}","thumbprint":"([0-9A-F]{2}:){19}[0-9A-F]{2}"\}$'
RESP=$(state "$HOST"); check "the host is notResponding" '^notResponding$'
props HostSystem "$HOST" config.network hardware.systemInfo.uuid runtime.inMaintenanceMode config.dateTimeInfo
check_not "vSwitch1 is gone" '<name>vSwitch1</name>'
check_not "vmk1 is gone" '<device>vmk1</device>'
check "vSwitch0 with Management Network and VM Network" '<vswitch><name>vSwitch0</name>.*<portgroup>key-vim.host.PortGroup-VM Network</portgroup><portgroup>key-vim.host.PortGroup-Management Network</portgroup>'
check "vmk0 is there" '<device>vmk0</device>'
check "DNS back to the image's (DHCP on vmk0)" '<dnsConfig [^>]*><dhcp>true</dhcp><virtualNicDevice>vmk0</virtualNicDevice><hostName>localhost</hostName>'
check_not "no NTP server" '<server>'
check "not in maintenance mode" '<name>runtime.inMaintenanceMode</name><val [^>]*>false</val>'
check "hardware UUID kept" "<name>hardware.systemInfo.uuid</name><val [^>]*>$UUID</val>"
soap "<QueryOptions xmlns=\"urn:vim25\"><_this type=\"OptionManager\">$OM</_this><name>Config.HostAgent.log.level</name></QueryOptions>"
check "advanced option back to its default" '<key>Config.HostAgent.log.level</key><value [^>]*>info</value>'

# vCenter's reconnect after a stateless reboot
reconnect "$HOST"
check "Reconnect without cnxSpec: SSLVerifyFault with the new thumbprint" "type=\"SSLVerifyFault\"><selfSigned>true</selfSigned><thumbprint>$TP</thumbprint>"
check "task is named like vCenter's" '<name>ReconnectHost_Task</name><descriptionId>HostSystem.reconnect</descriptionId>'
reconnect "$HOST" "<sslThumbprint>$OLDTP</sslThumbprint><userName>root</userName><password></password>"
check "Reconnect with an old thumbprint: SSLVerifyFault" "type=\"SSLVerifyFault\"><selfSigned>true</selfSigned><thumbprint>$TP</thumbprint>"
reconnect "$HOST" "<sslThumbprint>$TP</sslThumbprint><userName>root</userName><password>VMware1!</password>"
check "Reconnect with the old password: InvalidLogin (the reboot blanked it)" '<fault [^>]*type="InvalidLogin">'
reconnect "$HOST" "<sslThumbprint>$TP</sslThumbprint>"
check "Reconnect with the thumbprint but no credentials: InvalidLogin (vpxuser is gone)" 'type="InvalidLogin"'
RESP=$(state "$HOST"); check "still notResponding" '^notResponding$'
reconnect "$HOST" "<sslThumbprint>$(tr 'A-F' 'a-f' <<<"$TP256")</sslThumbprint><userName>root</userName><password></password>"
check "Reconnect with the SHA-256 thumbprint (any case) and the blank password: success" '<state>success</state>'
RESP=$(state "$HOST"); check "connected" '^connected$'
props HostSystem "$HOST" config.network
check_not "the configuration stays at the image's defaults" '<name>vSwitch1</name>'

soap "<DisconnectHost_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this></DisconnectHost_Task>"
task_info "$(ret Task)"
check "DisconnectHost_Task: success" '<name>DisconnectHost_Task</name><descriptionId>HostSystem.disconnect</descriptionId>.*<state>success</state>'
RESP=$(state "$HOST"); check "disconnected" '^disconnected$'
reconnect "$HOST"
check "Reconnect without cnxSpec after a plain disconnect: success (vCenter still has the thumbprint and vpxuser)" '<state>success</state>'
RESP=$(state "$HOST"); check "connected again" '^connected$'

soap "<ReconnectHost_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this><cnxSpec><userName>root</userName><hostName>$H</hostName><force>false</force></cnxSpec></ReconnectHost_Task>"
check "strict parsing: cnxSpec members out of order" 'must come before.*while parsing serialized DataObject of type HostConnectSpec'
check_status "rejected" 500

# -host-thumbprint holds until the host's first boot
add_host esx-02.lab.local "$OLDTP" root ""
check "-host-thumbprint before any boot: success" '<state>success</state>'
H2=$(value result)
boot_host reboot esx-02.lab.local
reconnect "$H2" "<sslThumbprint>$OLDTP</sslThumbprint><userName>root</userName><password></password>"
check "after the reboot the certificate's thumbprint counts" "type=\"SSLVerifyFault\"><selfSigned>true</selfSigned><thumbprint>$TP</thumbprint>"

# first boot of a host that is not in the inventory yet
boot_host boot esx-05.lab.local
check "boot of a new host answers its thumbprints" '"thumbprint":"'
add_host esx-05.lab.local "" root ""
check "AddHost without the thumbprint: SSLVerifyFault with it" "type=\"SSLVerifyFault\"><selfSigned>true</selfSigned><thumbprint>$TP</thumbprint>"
add_host esx-05.lab.local "$TP" root "secret"
check "AddHost with a password the fresh host does not have: InvalidLogin" 'type="InvalidLogin"'
add_host esx-05.lab.local "$TP" root ""
check "AddHost with the thumbprint and the blank password: success" '<state>success</state>'
RESP=$(curl -sS -k -o /dev/null -w '%{http_code}' -X POST "$BASE/vcsim-test/reboot")
check "reboot without name: HTTP 400" '^400$'

finish
