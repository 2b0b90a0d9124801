package main

// The ESXi hosts' own SDK endpoint: one TLS listener for all booted hosts,
// which picks the host by TLS SNI (the host's FQDN) and presents that host's
// current certificate. It answers vim25 SOAP at /sdk as the host agent does
// (apiType HostAgent): RetrieveServiceContent, SessionManager.Login/Logout
// against the host's root password, and HostLocalAccountManager.UpdateUser
// for root, which sets the password vCenter's AddHost/Reconnect then check.

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const esxSessionCookie = "vmware_soap_session"

var (
	esxServiceInstance = types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}
	esxSessionManager  = *esx.ServiceContent.SessionManager // ha-sessionmgr
	esxAccountManager  = *esx.ServiceContent.AccountManager // ha-localacctmgr
)

// esxSession is one Login on a host's SDK; guarded by extension.hooks.
type esxSession struct {
	host string // lower-case FQDN
	user string
}

// startESX starts the per-host SDK listener on addr and returns its URL.
func (x *extension) startESX(addr string) (string, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
			if name == "" {
				return nil, errors.New("no SNI: name the ESXi host (its FQDN) in the TLS server_name")
			}
			x.hooks.Lock()
			defer x.hooks.Unlock()
			if st := x.esx[name]; st != nil && st.cert != nil {
				return st.cert, nil
			}
			return nil, fmt.Errorf("no booted host %q", name)
		},
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/sdk", x.serveESX)
	mux.HandleFunc("/sdk/vimService", x.serveESX)
	srv := &http.Server{Handler: mux, TLSConfig: cfg, ErrorLog: log.New(ioutil.Discard, "", 0)}
	if x.opt.trace {
		srv.ErrorLog = nil
	}
	go func() { _ = srv.Serve(tls.NewListener(l, cfg)) }()
	return "https://" + l.Addr().String() + "/sdk", nil
}

// dropEsxSessions ends every session on host name (it rebooted).
func (x *extension) dropEsxSessions(name string) {
	key := strings.ToLower(name)
	x.hooks.Lock()
	defer x.hooks.Unlock()
	for id, s := range x.esxSessions {
		if s.host == key {
			delete(x.esxSessions, id)
		}
	}
}

func (x *extension) serveESX(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	x.waitReady()
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil || r.TLS == nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	host := strings.ToLower(strings.TrimSuffix(r.TLS.ServerName, "."))
	if x.opt.trace {
		x.tracef("ESX %s request: %s\n", host, body)
	}
	var out []byte
	status := http.StatusOK
	if _, verr := inspectRequest(body, !x.opt.lenient); verr != nil {
		out, status = invalidRequestFault(verr.Error()), http.StatusInternalServerError
	} else {
		res, f := x.esxCall(w, r, host, body)
		if f != nil {
			out, status = esxFault(f), http.StatusInternalServerError
		} else {
			out = esxResponse(res)
		}
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(out)
	if x.opt.trace {
		x.tracef("ESX %s response: %s\n", host, out)
	}
}

// esxCall runs one method; it returns the *Response value or a SOAP fault.
func (x *extension) esxCall(w http.ResponseWriter, r *http.Request, host string, body []byte) (interface{}, *soap.Fault) {
	m, err := simulator.UnmarshalBody(types.TypeFunc(), body)
	if err != nil {
		return nil, &soap.Fault{Code: "ServerFaultCode", String: err.Error()}
	}
	wrongThis := func(want types.ManagedObjectReference) *soap.Fault {
		if m.This == want {
			return nil
		}
		return simulator.Fault(fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", m.This.Value), &types.ManagedObjectNotFound{Obj: m.This})
	}
	switch req := m.Body.(type) {
	case *types.RetrieveServiceContent:
		if f := wrongThis(esxServiceInstance); f != nil {
			return nil, f
		}
		sc := esx.ServiceContent
		return &types.RetrieveServiceContentResponse{Returnval: sc}, nil
	case *types.Login:
		if f := wrongThis(esxSessionManager); f != nil {
			return nil, f
		}
		if f := x.esxLogin(host, req.UserName, req.Password); f != nil {
			return nil, fault(f)
		}
		id := newSessionID()
		x.hooks.Lock()
		x.esxSessions[id] = esxSession{host: host, user: req.UserName}
		x.hooks.Unlock()
		w.Header().Add("Set-Cookie", fmt.Sprintf(`%s="%s"; Path=/; HttpOnly; Secure;`, esxSessionCookie, id))
		now := time.Now().UTC()
		return &types.LoginResponse{Returnval: types.UserSession{
			Key: id, UserName: req.UserName, FullName: "root", LoginTime: now, LastActiveTime: now,
			Locale: "en", MessageLocale: "en",
		}}, nil
	case *types.Logout:
		if f := wrongThis(esxSessionManager); f != nil {
			return nil, f
		}
		if id, ok := x.esxSessionOf(r, host); ok {
			x.hooks.Lock()
			delete(x.esxSessions, id)
			x.hooks.Unlock()
		}
		return &types.LogoutResponse{}, nil
	case *types.UpdateUser:
		if f := wrongThis(esxAccountManager); f != nil {
			return nil, f
		}
		if _, ok := x.esxSessionOf(r, host); !ok {
			return nil, simulator.Fault("The session is not authenticated.", &types.NotAuthenticated{NoPermission: types.NoPermission{Object: m.This, PrivilegeId: "Host.Local.ManageUserGroups"}})
		}
		spec := req.User.GetHostAccountSpec()
		if spec.Id != "root" {
			return nil, simulator.Fault(fmt.Sprintf("The user or group named '%s' does not exist.", spec.Id), &types.UserNotFound{Principal: spec.Id, Unresolved: false})
		}
		if spec.Password != "" {
			x.changing(func() {
				x.setRootPassword(host, spec.Password)
				x.record(journalEntry{Kind: "esx-password", Counter: counterNow(), Name: host, Password: spec.Password})
			})
		}
		return &types.UpdateUserResponse{}, nil
	}
	return nil, simulator.Fault(fmt.Sprintf("Method %s is not implemented by the ESXi endpoint of this simulator", m.Name), &types.MethodNotFound{Receiver: m.This, Method: m.Name})
}

// setRootPassword sets host's root password (UpdateUser, or its replay from -state).
func (x *extension) setRootPassword(host, password string) {
	x.hooks.Lock()
	defer x.hooks.Unlock()
	st := x.esxFor(host)
	st.password, st.passwordSet = password, true
}

// esxLogin checks the host's root password (blank after a stateless boot).
func (x *extension) esxLogin(host, user, password string) types.BaseMethodFault {
	x.hooks.Lock()
	defer x.hooks.Unlock()
	st := x.esx[host]
	if st == nil || !st.passwordSet || user != "root" || password != st.password {
		return &types.InvalidLogin{}
	}
	return nil
}

// esxSessionOf returns the session id of the request's cookie if it is a live session on host.
func (x *extension) esxSessionOf(r *http.Request, host string) (string, bool) {
	c, err := r.Cookie(esxSessionCookie)
	if err != nil {
		return "", false
	}
	id := strings.Trim(c.Value, `"`)
	x.hooks.Lock()
	defer x.hooks.Unlock()
	s, ok := x.esxSessions[id]
	return id, ok && s.host == host
}

func newSessionID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// esxEnvelope is the SOAP envelope ESXi answers with.
type esxEnvelope struct {
	XMLName xml.Name    `xml:"soapenv:Envelope"`
	Enc     string      `xml:"xmlns:soapenc,attr"`
	Env     string      `xml:"xmlns:soapenv,attr"`
	XSD     string      `xml:"xmlns:xsd,attr"`
	XSI     string      `xml:"xmlns:xsi,attr"`
	Body    interface{} `xml:"soapenv:Body"`
}

func envelopeBytes(body interface{}) []byte {
	var out bytes.Buffer
	out.WriteString(xml.Header)
	err := xml.NewEncoder(&out).Encode(&esxEnvelope{
		Enc: "http://schemas.xmlsoap.org/soap/encoding/", Env: "http://schemas.xmlsoap.org/soap/envelope/",
		XSD: "http://www.w3.org/2001/XMLSchema", XSI: "http://www.w3.org/2001/XMLSchema-instance",
		Body: body,
	})
	if err != nil {
		return invalidRequestFault("encoding the response: " + err.Error())
	}
	return out.Bytes()
}

// esxResponseBody renders the Body with <XResponse xmlns="urn:vim25">...</XResponse> in it.
type esxResponseBody struct{ res interface{} }

func (b esxResponseBody) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	name := reflect.TypeOf(b.res).Elem().Name()
	if err := e.EncodeToken(start); err != nil { // soapenv:Body
		return err
	}
	if err := e.EncodeElement(b.res, xml.StartElement{Name: xml.Name{Space: "urn:vim25", Local: name}}); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

func esxResponse(res interface{}) []byte { return envelopeBytes(esxResponseBody{res}) }

// esxFaultDetail renders <TFault xmlns="urn:vim25" xsi:type="T">, as the simulator does.
type esxFaultDetail struct{ fault types.AnyType }

func (d esxFaultDetail) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	kind := reflect.TypeOf(d.fault).Elem().Name()
	start = xml.StartElement{Name: xml.Name{Local: kind + "Fault"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "xmlns"}, Value: "urn:vim25"},
		{Name: xml.Name{Local: "xsi:type"}, Value: kind},
	}}
	return e.EncodeElement(d.fault, start)
}

func esxFault(f *soap.Fault) []byte {
	type detail struct {
		Fault interface{}
	}
	type soapFault struct {
		XMLName xml.Name `xml:"soapenv:Fault"`
		Code    string   `xml:"faultcode"`
		String  string   `xml:"faultstring"`
		Detail  *detail  `xml:"detail,omitempty"`
	}
	sf := soapFault{Code: f.Code, String: f.String}
	if f.Detail.Fault != nil {
		sf.Detail = &detail{Fault: esxFaultDetail{f.Detail.Fault}}
	}
	return envelopeBytes(struct{ Fault soapFault }{sf})
}
