package main

// -state DIR: the inventory survives a restart of the simulator, as vCenter's
// survives a restart of vpxd (vpxd keeps it in the vCenter database, VCDB,
// and reads it back at start; MoRefs, hosts, their connection state and the
// SSL thumbprints vCenter trusts stay).
//
// How: a journal, DIR/journal.jsonl (mode 0600: it holds the hosts' private
// keys and root passwords), of every accepted change, written before the
// answer goes out (a change whose answer a client saw is on disk; one cut off
// by a kill was never answered), and replayed at start through the same
// handlers before "ready". A journal, not a snapshot of the objects, because
// every state this package adds (per-host network state and image defaults,
// clocks, services, advanced options, certificates, passwords, the thumbprint
// vCenter trusted, vpxuser) is then rebuilt by the code that built it. Entries:
//
//   - "sdk": a SOAP request on /sdk that may change state (not a read, not
//     session or PropertyCollector plumbing), as the client sent it;
//   - "hook": a /vcsim-test/ hook with its form, and for boot/reboot the
//     certificate and key the host got (generated ones too), as a PEM body;
//   - "esx-password": UpdateUser on a host's own SDK.
//
// MoRefs: the simulator numbers new objects (hosts, clusters, networks,
// tasks) from one process-wide counter with no API to set it. Changes run one
// at a time while -state is on, each entry records the counter before it ran,
// and the replay sets it back before running the entry (reflect + unsafe on
// Registry.counter), so every object gets its old MoRef; the engine caches them.
// Session objects (views, filters) are numbered per session and are gone after
// a restart, as vpxd's are.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
)

// journalEntry is one line of the journal.
type journalEntry struct {
	Kind     string `json:"kind"`               // "sdk", "hook", "esx-password"
	Counter  int64  `json:"counter"`            // Registry.counter before the change
	Path     string `json:"path,omitempty"`     // hook: /vcsim-test/...
	Form     string `json:"form,omitempty"`     // hook: its form values, URL-encoded
	Body     []byte `json:"body,omitempty"`     // sdk: the SOAP request; hook: the PEM body
	Name     string `json:"name,omitempty"`     // esx-password: the host
	Password string `json:"password,omitempty"` // esx-password
}

// stateStore is the -state journal. mu serializes every change (and the
// replay); ready is closed once the replay is done: requests wait for it, as
// clients of a starting vpxd wait.
type stateStore struct {
	dir   string
	mu    sync.Mutex
	ready chan struct{}
	fmu   sync.Mutex
	f     *os.File // nil while replaying: nothing is recorded
}

func newStateStore(dir string) (*stateStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &stateStore{dir: dir, ready: make(chan struct{})}, nil
}

func (s *stateStore) path() string { return filepath.Join(s.dir, "journal.jsonl") }

// registryCounter is the simulator's MoRef counter (Registry.counter, unexported).
func registryCounter() *int64 {
	v := reflect.ValueOf(simulator.Map).Elem().FieldByName("counter")
	return (*int64)(unsafe.Pointer(v.UnsafeAddr()))
}

// record appends an entry (no-op without -state or while replaying).
func (x *extension) record(e journalEntry) {
	s := x.state
	if s == nil {
		return
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.f == nil {
		return
	}
	line, err := json.Marshal(e)
	if err == nil {
		_, err = s.f.Write(append(line, '\n'))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vcsim: -state: writing the journal:", err)
		os.Exit(1)
	}
}

// counterNow reads the MoRef counter; only meaningful under state.mu.
func counterNow() int64 { return atomic.LoadInt64(registryCounter()) }

// changing runs f as one change: serialized with the others, after the replay.
// Without -state it just runs f.
func (x *extension) changing(f func()) {
	if x.state == nil {
		f()
		return
	}
	<-x.state.ready
	x.state.mu.Lock()
	defer x.state.mu.Unlock()
	f()
}

// waitReady blocks a request until the replay is done (no-op without -state).
func (x *extension) waitReady() {
	if x.state != nil {
		<-x.state.ready
	}
}

// readOnly lists the SOAP methods that neither change the inventory nor number
// objects from the process-wide counter: they run concurrently and are not
// journaled. Session and collector plumbing (Login, CreateFilter, ...) is
// serialized but not journaled (see plumbing).
func readOnly(method string) bool {
	switch method {
	case "RetrieveServiceContent", "RetrieveProperties", "RetrievePropertiesEx", "ContinueRetrievePropertiesEx",
		"CancelRetrievePropertiesEx", "WaitForUpdates", "WaitForUpdatesEx", "CheckForUpdates", "CancelWaitForUpdates",
		"CurrentTime", "SessionIsActive":
		return true
	}
	return strings.HasPrefix(method, "Find") || strings.HasPrefix(method, "Query")
}

var plumbing = set("Login", "Logout", "LoginByToken", "LoginExtensionByCertificate", "AcquireCloneTicket",
	"CreateFilter", "DestroyPropertyFilter", "CreatePropertyCollector", "DestroyPropertyCollector",
	"CreateContainerView", "CreateListView", "CreateInventoryView", "DestroyView", "SetLocale")

// serveSDKState is serveSDK with -state: changes one at a time, journaled
// before the answer is written.
func (x *extension) serveSDKState(w http.ResponseWriter, r *http.Request, body []byte) {
	<-x.state.ready
	call := locateCall(body)
	if call != nil && readOnly(call.method) {
		x.handleSDK(w, r, body)
		return
	}
	x.state.mu.Lock()
	rec := httptest.NewRecorder()
	before := counterNow()
	x.handleSDK(rec, r, body)
	if call != nil && !plumbing[call.method] && rec.Code == http.StatusOK {
		x.record(journalEntry{Kind: "sdk", Counter: before, Body: body})
	}
	x.state.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// certificatePEM renders a host certificate and its key as the boot hook's PEM body.
func certificatePEM(cert *tls.Certificate) ([]byte, error) {
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, der := range cert.Certificate {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	_ = pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: key})
	return b.Bytes(), nil
}

// loadState replays the journal (if any) with delays off, then opens it for
// appending and lets requests in. user is the -username/-password pair (nil:
// any non-empty pair logs in).
func (x *extension) loadState(m *simulator.Model, user *url.Userinfo) error {
	s := x.state
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := readJournal(s.path())
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		saved := m.DelayConfig
		m.DelayConfig = simulator.DelayConfig{}
		err = x.replay(entries, user)
		m.DelayConfig = saved
		if err != nil {
			return err
		}
	}
	f, err := os.OpenFile(s.path(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	s.fmu.Lock()
	s.f = f
	s.fmu.Unlock()
	close(s.ready)
	fmt.Fprintf(os.Stderr, "vcsim: -state %s: %d change(s) replayed\n", s.dir, len(entries))
	return nil
}

// readJournal reads the entries; a last line cut off by a kill mid-write
// (no newline at its end) is dropped from the file.
func readJournal(path string) ([]journalEntry, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(data, []byte("\n"))
	if last := lines[len(lines)-1]; len(last) > 0 {
		fmt.Fprintf(os.Stderr, "vcsim: -state: dropping the unfinished last line of %s\n", path)
		// appending after it would glue the next entry to it
		if err := os.Truncate(path, int64(len(data)-len(last))); err != nil {
			return nil, err
		}
	}
	lines = lines[:len(lines)-1]
	out := make([]journalEntry, 0, len(lines))
	for i, line := range lines {
		var e journalEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// replay runs the entries in order through the handlers that first ran them.
func (x *extension) replay(entries []journalEntry, user *url.Userinfo) error {
	name, pw := "vcsim-state", "replay"
	if user != nil {
		name = user.Username()
		pw, _ = user.Password()
	}
	var login bytes.Buffer
	login.WriteString(`<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><Login xmlns="urn:vim25"><_this type="SessionManager">`)
	login.WriteString(simulator.Map.SessionManager().Reference().Value + `</_this><userName>`)
	_ = xmlEscape(&login, name)
	login.WriteString(`</userName><password>`)
	_ = xmlEscape(&login, pw)
	login.WriteString(`</password></Login></soapenv:Body></soapenv:Envelope>`)
	rec := httptest.NewRecorder()
	x.handleSDK(rec, httptest.NewRequest(http.MethodPost, "/sdk", nil), login.Bytes())
	var session *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == soap.SessionCookieName {
			session = c
		}
	}
	if session == nil {
		return fmt.Errorf("-state: replay login failed: %s", rec.Body.String())
	}
	counter := registryCounter()
	for i, e := range entries {
		atomic.StoreInt64(counter, e.Counter)
		switch e.Kind {
		case "sdk":
			r := httptest.NewRequest(http.MethodPost, "/sdk", nil)
			r.AddCookie(session)
			rec := httptest.NewRecorder()
			x.handleSDK(rec, r, e.Body)
			if rec.Code != http.StatusOK {
				return fmt.Errorf("-state: replaying change %d: HTTP %d %s", i+1, rec.Code, rec.Body.String())
			}
		case "hook":
			r := httptest.NewRequest(http.MethodPost, e.Path+"?"+e.Form, bytes.NewReader(e.Body))
			if len(e.Body) > 0 {
				r.Header.Set("Content-Type", "application/x-pem-file")
			}
			rec := httptest.NewRecorder()
			x.hookHandler(e.Path)(rec, r)
			if rec.Code != http.StatusOK {
				return fmt.Errorf("-state: replaying hook %s (change %d): HTTP %d %s", e.Path, i+1, rec.Code, rec.Body.String())
			}
		case "esx-password":
			x.setRootPassword(e.Name, e.Password)
		default:
			return fmt.Errorf("-state: change %d: unknown kind %q", i+1, e.Kind)
		}
	}
	return nil
}

func xmlEscape(b *bytes.Buffer, s string) error {
	_, err := b.WriteString(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s))
	return err
}
