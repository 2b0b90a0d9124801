package main

// Virtual machines on host port groups, as far as host networking cares:
// ESXi refuses to remove a standard port group (RemovePortGroup) or a vSwitch
// carrying one (RemoveVirtualSwitch) while a virtual machine on that host is
// connected to it, with ResourceInUse (vSphere Web Services API, fault
// ResourceInUse: "thrown by ... RemovePortGroup, RemoveVirtualSwitch"). 0.24's
// model has no VM with a NIC on a host port group of a joined host, so the test
// hook POST /vcsim-test/vm?host=NAME&network=PG[&name=VM] registers one: a
// powered-off VM in the datacenter's VM folder, on that host
// (HostSystem.vm, runtime.host), connected to the inventory Network PG
// (VirtualMachine.network, Network.vm). The hook answers 404 when the host or
// its port group does not exist.

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// networkNamed is the inventory Network (standard port group name) the host is linked to.
func (he *hostExt) networkNamed(name string) *mo.Network {
	var refs []types.ManagedObjectReference
	simulator.Map.WithLock(he.host, func() { refs = append(refs, he.host.Network...) })
	for _, r := range refs {
		if nw, ok := simulator.Map.Get(r).(*mo.Network); ok && nw.Name == name {
			return nw
		}
	}
	return nil
}

// vmOn is the name of a VM on this host connected to port group pg ("" = none).
func (he *hostExt) vmOn(pg string) string {
	nw := he.networkNamed(pg)
	if nw == nil {
		return ""
	}
	var vms []types.ManagedObjectReference
	simulator.Map.WithLock(nw, func() { vms = append(vms, nw.Vm...) })
	for _, r := range vms {
		vm, ok := simulator.Map.Get(r).(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		onHost := false
		simulator.Map.WithLock(vm, func() { onHost = vm.Runtime.Host != nil && *vm.Runtime.Host == he.host.Self })
		if onHost {
			return vm.Name
		}
	}
	return ""
}

// hookVM implements POST /vcsim-test/vm?host=NAME&network=PG[&name=VM].
func (x *extension) hookVM(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST host=&network=[&name=]", http.StatusMethodNotAllowed)
		return
	}
	hostName, pg, name := r.FormValue("host"), r.FormValue("network"), r.FormValue("name")
	if hostName == "" || pg == "" {
		http.Error(w, "host and network required", http.StatusBadRequest)
		return
	}
	if name == "" {
		name = fmt.Sprintf("vm-%s-%s", hostName, pg)
	}
	var host *simulator.HostSystem
	for _, e := range simulator.Map.All("HostSystem") {
		if h, ok := e.(*simulator.HostSystem); ok && h.Name == hostName {
			host = h
		}
	}
	if host == nil {
		http.Error(w, "no host "+hostName, http.StatusNotFound)
		return
	}
	ext.Lock()
	he := ext.initHost(host)
	var nw *mo.Network
	if he.portgroup(pg) != nil {
		nw = he.networkNamed(pg)
	}
	ext.Unlock()
	if nw == nil {
		http.Error(w, fmt.Sprintf("host %s has no port group %s", hostName, pg), http.StatusNotFound)
		return
	}
	dc := he.datacenter()
	if dc == nil {
		http.Error(w, "host "+hostName+" is in no datacenter", http.StatusInternalServerError)
		return
	}
	folder, ok := simulator.Map.Get(dc.VmFolder).(*simulator.Folder)
	if !ok {
		http.Error(w, "no VM folder", http.StatusInternalServerError)
		return
	}
	vm := &simulator.VirtualMachine{}
	vm.Name = name
	simulator.Map.NewEntity(vm)
	vm.Runtime.Host = &host.Self
	vm.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
	vm.Summary.Runtime.Host = &host.Self
	vm.Network = []types.ManagedObjectReference{nw.Self}
	simulator.Map.WithLock(folder, func() {
		folder.ChildEntity = append(folder.ChildEntity, vm.Self)
		simulator.Map.PutEntity(folder, vm)
	})
	simulator.Map.AppendReference(host, &host.Vm, vm.Self)
	simulator.Map.AppendReference(nw, &nw.Vm, vm.Self)
	x.record(journalEntry{Kind: "hook", Counter: counterNow(), Path: r.URL.Path, Form: url.Values{"host": {hostName}, "network": {pg}, "name": {name}}.Encode()})
	fmt.Fprintf(w, "%s\n", vm.Self.Value)
}
