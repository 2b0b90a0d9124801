package main

// Stateless ESXi hosts: a per-host root password and TLS certificate, the
// boot/reboot test hook (new certificate, blank password, configuration back
// to the image's defaults, notResponding in vCenter), and
// HostSystem.ReconnectHost_Task / DisconnectHost_Task with vCenter's checks.
// The host's own SDK endpoint (Login, UpdateUser) is in extend_esxsdk.go.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// esxState is what this package knows about one ESXi host by name, whether or
// not it is in the inventory; guarded by extension.hooks.
type esxState struct {
	cert   *tls.Certificate // nil until the host's first boot/reboot
	sha1   string           // thumbprints of cert, colon hex upper case
	sha256 string

	password    string // root password set by a boot or UpdateUser
	passwordSet bool

	// vCenter's side: the thumbprint it trusted at the last successful
	// AddHost/Reconnect, and whether its vpxuser account on the host is gone
	// (a stateless reboot loses every account but root).
	vcThumbprint string
	vpxuserLost  bool
}

// passwords is the repeatable -host-password NAME=PW flag (PW may be empty).
type passwords map[string]string

func (p passwords) String() string {
	var s []string
	for k := range p {
		s = append(s, k+"=***")
	}
	return strings.Join(s, ",")
}

func (p passwords) Set(s string) error {
	kv := strings.SplitN(s, "=", 2)
	if len(kv) != 2 || kv[0] == "" {
		return fmt.Errorf("want NAME=PASSWORD (PASSWORD may be empty), got %q", s)
	}
	p[kv[0]] = kv[1]
	return nil
}

// esxFor returns the state of host name, creating it. Caller holds x.hooks.
func (x *extension) esxFor(name string) *esxState {
	key := strings.ToLower(name)
	st := x.esx[key]
	if st == nil {
		st = &esxState{}
		x.esx[key] = st
	}
	return st
}

// rootPassword returns the root password of host name and whether it is known
// (a boot, UpdateUser or -host-password set it).
func (x *extension) rootPassword(name string) (string, bool) {
	x.hooks.Lock()
	defer x.hooks.Unlock()
	if st := x.esx[strings.ToLower(name)]; st != nil && st.passwordSet {
		return st.password, true
	}
	if pw, ok := x.opt.hostPassword[name]; ok {
		return pw, true
	}
	pw, ok := x.opt.hostPassword["*"]
	return pw, ok
}

// hostThumbprints returns the thumbprints host name is checked against: its
// certificate's SHA-1 and SHA-256 once booted, else the -host-thumbprint value.
// The first one is what SSLVerifyFault reports. Empty: no check.
func (x *extension) hostThumbprints(name string) []string {
	x.hooks.Lock()
	st := x.esx[strings.ToLower(name)]
	if st != nil && st.cert != nil {
		defer x.hooks.Unlock()
		return []string{st.sha1, st.sha256}
	}
	x.hooks.Unlock()
	if tp := x.thumbprintFor(name); tp != "" {
		return []string{tp}
	}
	return nil
}

func thumbprintMatches(given string, want []string) bool {
	g := normalizeThumbprint(given)
	for _, w := range want {
		if g == normalizeThumbprint(w) {
			return true
		}
	}
	return false
}

// checkCredentials applies ESXi's login check to a HostConnectSpec's user and
// password: root and the known password, else (no password known) any
// non-empty pair, the simulator's convenience.
func (x *extension) checkCredentials(name, user, password string) types.BaseMethodFault {
	if pw, known := x.rootPassword(name); known {
		if user != "root" || password != pw {
			return &types.InvalidLogin{}
		}
		return nil
	}
	if user == "" || password == "" {
		return &types.InvalidLogin{}
	}
	return nil
}

// connected records vCenter's side of a successful AddHost/Reconnect.
func (x *extension) connected(name string) {
	tps := x.hostThumbprints(name)
	x.hooks.Lock()
	defer x.hooks.Unlock()
	st := x.esxFor(name)
	st.vcThumbprint = ""
	if len(tps) > 0 {
		st.vcThumbprint = tps[0]
	}
	st.vpxuserLost = false
}

// newHostCertificate makes a self-signed certificate for fqdn (CN and DNS SAN),
// as ESXi generates one at first boot. ECDSA P-256 keeps it fast.
func newHostCertificate(fqdn string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fqdn, Organization: []string{"VMware, Inc"}, OrganizationalUnit: []string{"VMware ESX Server Default Certificate"}},
		DNSNames:              []string{fqdn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func colonHex(sum []byte) string {
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hex, ":")
}

// findHost returns the inventory host named name (case-insensitive), or nil.
func findHost(name string) *simulator.HostSystem {
	for _, e := range simulator.Map.All("HostSystem") {
		if h, ok := e.(*simulator.HostSystem); ok && strings.EqualFold(h.Name, name) {
			return h
		}
	}
	return nil
}

// maxHookPEM bounds the PEM body of the boot/reboot hook (a certificate chain and its key).
const maxHookPEM = 64 << 10

// hookCertificate is the certificate a boot/reboot hook gives the host: the
// PEM body (certificate(s) and private key, as tls.X509KeyPair reads them)
// when the request has one, else a new one from newHostCertificate. The error
// text is for the HTTP answer.
func hookCertificate(name string, body []byte) (*tls.Certificate, error) {
	if len(body) == 0 {
		return newHostCertificate(name)
	}
	cert, err := tls.X509KeyPair(body, body)
	if err != nil {
		return nil, fmt.Errorf("PEM body: want a CERTIFICATE block and its PRIVATE KEY: %v", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("PEM body: %v", err)
		}
	}
	return &cert, nil
}

// hookBody reads the PEM body of a boot/reboot request: any body that is not
// a form (application/x-www-form-urlencoded, multipart/form-data).
func hookBody(r *http.Request) ([]byte, error) {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxHookPEM+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxHookPEM {
		return nil, fmt.Errorf("PEM body larger than %d bytes", maxHookPEM)
	}
	return body, nil
}

// hookBoot implements POST /vcsim-test/boot?name=FQDN and /vcsim-test/reboot?name=FQDN,
// with an optional PEM body: the certificate and key the host presents from now on.
func (x *extension) hookBoot(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST name=FQDN", http.StatusMethodNotAllowed)
		return
	}
	before := counterNow()
	body, err := hookBody(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name := strings.TrimSpace(r.FormValue("name"))
	if name == "" || strings.ContainsAny(name, " /\\\t\r\n") {
		http.Error(w, "name=FQDN required", http.StatusBadRequest)
		return
	}
	cert, err := hookCertificate(name, body)
	if err != nil {
		code := http.StatusInternalServerError
		if len(body) > 0 {
			code = http.StatusBadRequest
		}
		http.Error(w, "certificate: "+err.Error(), code)
		return
	}
	pemBody := body
	if len(pemBody) == 0 && x.state != nil {
		if pemBody, err = certificatePEM(cert); err != nil {
			http.Error(w, "certificate: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	s1, s256 := sha1.Sum(cert.Certificate[0]), sha256.Sum256(cert.Certificate[0])
	x.hooks.Lock()
	st := x.esxFor(name)
	st.cert, st.sha1, st.sha256 = cert, colonHex(s1[:]), colonHex(s256[:])
	st.password, st.passwordSet = "", true
	st.vpxuserLost = true
	x.hooks.Unlock()
	x.dropEsxSessions(name)

	if h := findHost(name); h != nil {
		x.Lock()
		x.resetHost(x.initHost(h))
		x.Unlock()
	}
	x.record(journalEntry{Kind: "hook", Counter: before, Path: r.URL.Path, Form: url.Values{"name": {name}}.Encode(), Body: pemBody})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"thumbprint": colonHex(s1[:]), "sha256": colonHex(s256[:])})
}

// resetHost brings a rebooted host's configuration back to the image's
// defaults and marks it notResponding; hardware UUID and vmk0's address stay
// (DHCP or the boot options hand the host the same one). Caller holds x.
func (x *extension) resetHost(he *hostExt) {
	before := he.portgroupNames()
	vmk0 := he.vnic("vmk0")
	net := cloneNetInfo(he.image)
	if vmk0 != nil {
		for i := range net.Vnic {
			if net.Vnic[i].Device == "vmk0" {
				net.Vnic[i].Spec.Ip = vmk0.Spec.Ip
				net.Vnic[i].Spec.Mac = vmk0.Spec.Mac
			}
		}
	}
	he.net = net
	he.nicSel = map[string][]string{"management": {"vmk0"}}
	he.ports = imagePortKey
	he.refresh()
	he.syncNetworks(before, he.portgroupNames())
	he.publish()

	fresh := newDateTimeSystem(he)
	he.clock.DateTimeInfo, he.clock.offset = fresh.DateTimeInfo, 0
	he.clock.publish()
	he.services.ServiceInfo = types.HostServiceInfo{}
	if c := esx.HostConfigInfo.Service; c != nil {
		cloneInto(c, &he.services.ServiceInfo)
	}
	he.services.publish()
	he.resetAdvancedOptions()

	h := he.host
	simulator.Map.WithLock(h, func() {
		now := time.Now()
		simulator.Map.Update(h, []types.PropertyChange{
			{Name: "runtime.connectionState", Val: types.HostSystemConnectionStateNotResponding},
			{Name: "runtime.inMaintenanceMode", Val: false},
			{Name: "runtime.bootTime", Val: &now},
		})
	})
}

// defaultHostSettings is the advanced options of a freshly booted host (the
// simulator's ESX template), copied before anything could change them.
var defaultHostSettings []types.BaseOptionValue

func copySettings(in []types.BaseOptionValue) []types.BaseOptionValue {
	out := make([]types.BaseOptionValue, 0, len(in))
	for _, o := range in {
		v := *o.GetOptionValue()
		out = append(out, &v)
	}
	return out
}

// ownAdvancedOptions gives the host's OptionManager its own copy of the
// settings (the simulator's hosts share the template's OptionValues, so an
// UpdateOptions on one host changed them all).
func (he *hostExt) ownAdvancedOptions() {
	ref := he.host.ConfigManager.AdvancedOption
	if ref == nil {
		return
	}
	if om, ok := simulator.Map.Get(*ref).(*simulator.OptionManager); ok {
		simulator.Map.WithLock(om, func() { om.Setting = copySettings(om.Setting) })
	}
}

func (he *hostExt) resetAdvancedOptions() {
	ref := he.host.ConfigManager.AdvancedOption
	if ref == nil {
		return
	}
	if om, ok := simulator.Map.Get(*ref).(*simulator.OptionManager); ok {
		simulator.Map.WithLock(om, func() {
			om.Setting = copySettings(defaultHostSettings)
			simulator.Map.Update(om, []types.PropertyChange{{Name: "setting", Val: om.Setting}})
		})
	}
}

// setConnectionState sets HostSystem.runtime.connectionState (summary.runtime is the same struct).
func setConnectionState(h *simulator.HostSystem, s types.HostSystemConnectionState) {
	simulator.Map.WithLock(h, func() {
		simulator.Map.Update(h, []types.PropertyChange{{Name: "runtime.connectionState", Val: s}})
	})
}

// checkReconnect applies vCenter's checks for ReconnectHost_Task: the
// certificate (against cnxSpec.sslThumbprint, else the thumbprint vCenter
// trusted last time), then the login (cnxSpec's user and password, else
// vCenter's vpxuser, which a stateless reboot removed).
func (x *extension) checkReconnect(name string, spec *types.HostConnectSpec) types.BaseMethodFault {
	x.hooks.Lock()
	st := x.esxFor(name)
	stored, lost := st.vcThumbprint, st.vpxuserLost
	x.hooks.Unlock()
	if want := x.hostThumbprints(name); len(want) > 0 && x.opt.requireThumbprint {
		given := stored
		if spec != nil && spec.SslThumbprint != "" {
			given = spec.SslThumbprint
		}
		if !thumbprintMatches(given, want) {
			return &types.SSLVerifyFault{SelfSigned: true, Thumbprint: want[0]}
		}
	}
	if spec == nil || spec.UserName == "" {
		if lost {
			return &types.InvalidLogin{}
		}
		return nil
	}
	return x.checkCredentials(name, spec.UserName, spec.Password)
}

// ReconnectHostTask implements HostSystem.ReconnectHost_Task.
func (p *extProxy) ReconnectHostTask(ctx *simulator.Context, req *types.ReconnectHost_Task) soap.HasFault {
	h, ok := simulator.Map.Get(p.target).(*simulator.HostSystem)
	if !ok {
		return &methods.ReconnectHost_TaskBody{Fault_: p.notFound()}
	}
	task := newTask(ctx, h, "ReconnectHost_Task", "HostSystem.reconnect", func() (types.AnyType, types.BaseMethodFault) {
		if f := ext.checkReconnect(h.Name, req.CnxSpec); f != nil {
			return nil, f
		}
		ext.connected(h.Name)
		setConnectionState(h, types.HostSystemConnectionStateConnected)
		return nil, nil
	})
	return &methods.ReconnectHost_TaskBody{Res: &types.ReconnectHost_TaskResponse{Returnval: runTask(task)}}
}

// DisconnectHostTask implements HostSystem.DisconnectHost_Task.
func (p *extProxy) DisconnectHostTask(ctx *simulator.Context, req *types.DisconnectHost_Task) soap.HasFault {
	h, ok := simulator.Map.Get(p.target).(*simulator.HostSystem)
	if !ok {
		return &methods.DisconnectHost_TaskBody{Fault_: p.notFound()}
	}
	task := newTask(ctx, h, "DisconnectHost_Task", "HostSystem.disconnect", func() (types.AnyType, types.BaseMethodFault) {
		setConnectionState(h, types.HostSystemConnectionStateDisconnected)
		return nil, nil
	})
	return &methods.DisconnectHost_TaskBody{Res: &types.DisconnectHost_TaskResponse{Returnval: runTask(task)}}
}
