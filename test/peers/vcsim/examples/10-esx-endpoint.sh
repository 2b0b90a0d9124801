#!/usr/bin/env bash
# The ESXi hosts' own SDK endpoint (esx-url): TLS with the booted host's
# certificate chosen by SNI (unknown name: handshake failure), vim25 SOAP as
# the host agent: RetrieveServiceContent (apiType HostAgent), Login against
# the root password (blank after a stateless boot), HostLocalAccountManager.
# UpdateUser for root (needs a session; vCenter's AddHost then checks the new
# password), Logout; a reboot ends the sessions and blanks the password again.
source "$(dirname "$0")/lib.sh"

H=esx-07.lab.local
start_vcsim -tls
RESP=$ESX_SDK; check "start prints esx-url" '^https://127\.0\.0\.1:[0-9]+/sdk$'
boot_host boot "$H"
HP=${ESX_SDK#https://}; HP=${HP%/sdk}

RESP=$(echo | openssl s_client -connect "$HP" -servername "$H" 2>/dev/null | openssl x509 -noout -fingerprint -sha1 -subject | tr '\n' ' ')
check "SNI $H: the host's certificate (thumbprint from boot)" "Fingerprint=$TP subject=.*CN ?= ?$H"
RESP=$(echo | openssl s_client -connect "$HP" -servername esx-99.lab.local 2>&1 || true)
check "unknown SNI: handshake failure" 'alert|error'
check_not "unknown SNI: no certificate" 'BEGIN CERTIFICATE'

esx_soap "$H" '<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>'
check_status "RetrieveServiceContent" 200
check "apiType HostAgent" '<apiType>HostAgent</apiType>'
check "sessionManager ha-sessionmgr" '<sessionManager type="SessionManager">ha-sessionmgr</sessionManager>'
check "accountManager ha-localacctmgr" '<accountManager type="HostLocalAccountManager">ha-localacctmgr</accountManager>'

UPDATE='<UpdateUser xmlns="urn:vim25"><_this type="HostLocalAccountManager">ha-localacctmgr</_this><user><id>root</id><password>N3w-Passw0rd!</password></user></UpdateUser>'
esx_soap "$H" "$UPDATE"
check "UpdateUser without a session: NotAuthenticated" 'xsi:type="NotAuthenticated"'

login_esx() { esx_soap "$H" "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">ha-sessionmgr</_this><userName>$1</userName><password>$2</password></Login>"; }
login_esx root wrong
check "Login with a wrong password: InvalidLogin" '<faultstring>Cannot complete login due to an incorrect user name or password.</faultstring><detail><InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin">'
check_status "as a SOAP fault" 500
login_esx root ""
check_status "Login root with the blank password of a fresh boot" 200
check "a UserSession" '<returnval><key>[0-9a-f]+</key><userName>root</userName>'
RESP=$(cat "$ESX_JAR"); check "the session cookie" 'vmware_soap_session\s+"?[0-9a-f]{40}'

esx_soap "$H" '<UpdateUser xmlns="urn:vim25"><_this type="HostLocalAccountManager">ha-localacctmgr</_this><user><password>x</password><id>root</id></user></UpdateUser>'
check "strict parsing: HostAccountSpec members out of order" 'Unexpected element tag "id" seen.*while parsing serialized DataObject of type HostAccountSpec'
esx_soap "$H" '<UpdateUser xmlns="urn:vim25"><_this type="HostLocalAccountManager">ha-localacctmgr</_this><user><id>nobody</id><password>x</password></user></UpdateUser>'
check "UpdateUser of an unknown user: UserNotFound" 'xsi:type="UserNotFound"'
esx_soap "$H" "$UPDATE"
check_status "UpdateUser root" 200
check "UpdateUserResponse" '<UpdateUserResponse xmlns="urn:vim25">'
esx_soap "$H" '<UpdateUser xmlns="urn:vim25"><_this type="HostLocalAccountManager">ha-localacctmgr</_this><user xsi:type="HostPosixAccountSpec"><id>root</id><password>N3w-Passw0rd!</password><posixId>0</posixId></user></UpdateUser>'
check_status "UpdateUser with a HostPosixAccountSpec" 200
esx_soap "$H" '<Logout xmlns="urn:vim25"><_this type="SessionManager">ha-sessionmgr</_this></Logout>'
check_status "Logout" 200
esx_soap "$H" "$UPDATE"
check "after Logout: NotAuthenticated" 'xsi:type="NotAuthenticated"'
login_esx root ""
check "the blank password no longer logs in" 'type="InvalidLogin"'
login_esx root 'N3w-Passw0rd!'
check_status "the new password does" 200

# vCenter checks the password that UpdateUser set
login
CLUSTER=$(find_path DC0/host/DC0_C0)
add_host() {
  soap "<AddHost_Task xmlns=\"urn:vim25\"><_this type=\"ClusterComputeResource\">$CLUSTER</_this><spec><hostName>$H</hostName><sslThumbprint>$TP</sslThumbprint><userName>root</userName><password>$1</password><force>false</force></spec><asConnected>true</asConnected></AddHost_Task>"
  task_info "$(ret Task)"
}
add_host ""
check "AddHost with the old blank password: InvalidLogin" 'type="InvalidLogin"'
add_host 'N3w-Passw0rd!'
check "AddHost with the password set through the host: success" '<state>success</state>'

# a reboot ends the host's sessions and blanks its password
boot_host reboot "$H"
esx_soap "$H" "$UPDATE"
check "after a reboot the old session is gone: NotAuthenticated" 'xsi:type="NotAuthenticated"'
RESP=$(echo | openssl s_client -connect "$HP" -servername "$H" 2>/dev/null | openssl x509 -noout -fingerprint -sha1)
check "the endpoint presents the new certificate" "Fingerprint=$TP$"
login_esx root ""
check_status "blank password again" 200

finish
