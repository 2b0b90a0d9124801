package main

// Removing hosts from vCenter: HostSystem.EnterMaintenanceMode_Task with
// powered-on VMs (DRS evacuation, the timeout), Destroy_Task on a cluster's
// HostSystem and on a standalone host's ComputeResource with vCenter's checks,
// and the test hook that puts a VM in a power state on a host (vm-power). The vSphere documents each rule
// follows are cited in README.md ("Removing hosts").

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// hostVMs returns the host's VMs by power state.
func hostVMs(h *simulator.HostSystem) (on, off []*simulator.VirtualMachine) {
	var refs []types.ManagedObjectReference
	simulator.Map.WithLock(h, func() { refs = append(refs, h.Vm...) })
	for _, ref := range refs {
		vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		var state types.VirtualMachinePowerState
		simulator.Map.WithLock(vm, func() { state = vm.Runtime.PowerState })
		if state == types.VirtualMachinePowerStatePoweredOn {
			on = append(on, vm)
		} else {
			off = append(off, vm)
		}
	}
	return on, off
}

// drsTargets returns the other hosts of h's cluster that DRS may move VMs to —
// connected and not in maintenance mode — when the cluster's DRS is enabled
// and fully automated; nil otherwise (manual and partially automated DRS only
// recommend migrations, which nobody applies here).
func drsTargets(h *simulator.HostSystem) []*simulator.HostSystem {
	cluster, ok := simulator.Map.Get(*h.Parent).(*simulator.ClusterComputeResource)
	if !ok {
		return nil
	}
	var targets []*simulator.HostSystem
	simulator.Map.WithLock(cluster, func() {
		cfg, ok := cluster.ConfigurationEx.(*types.ClusterConfigInfoEx)
		if !ok || cfg.DrsConfig.Enabled == nil || !*cfg.DrsConfig.Enabled ||
			cfg.DrsConfig.DefaultVmBehavior != types.DrsBehaviorFullyAutomated {
			return
		}
		for _, ref := range cluster.Host {
			if ref == h.Self {
				continue
			}
			if o, ok := simulator.Map.Get(ref).(*simulator.HostSystem); ok &&
				o.Runtime.ConnectionState == types.HostSystemConnectionStateConnected && !o.Runtime.InMaintenanceMode {
				targets = append(targets, o)
			}
		}
	})
	return targets
}

// moveVM re-registers a VM on another host (a vMotion, or a powered-off VM's re-registration).
func moveVM(vm *simulator.VirtualMachine, from, to *simulator.HostSystem) {
	simulator.Map.RemoveReference(from, &from.Vm, vm.Self)
	simulator.Map.AddReference(to, &to.Vm, vm.Self)
	simulator.Map.WithLock(vm, func() {
		ref := to.Self
		simulator.Map.Update(vm, []types.PropertyChange{{Name: "runtime.host", Val: &ref}})
	})
}

// evacuate moves what DRS would move off h: its powered-on VMs, and its
// powered-off ones when evacuatePoweredOffVms is set. Returns the powered-on VMs left.
func evacuate(h *simulator.HostSystem, poweredOff bool) int {
	on, off := hostVMs(h)
	targets := drsTargets(h)
	if len(targets) == 0 {
		return len(on)
	}
	move := on
	if poweredOff {
		move = append(move, off...)
	}
	for i, vm := range move {
		moveVM(vm, h, targets[i%len(targets)])
	}
	return 0
}

// EnterMaintenanceModeTask implements HostSystem.EnterMaintenanceMode_Task:
// InvalidState when the host is already in maintenance mode or not connected;
// otherwise the task completes once no powered-on VM is left on the host (DRS,
// fully automated, migrates them to the cluster's other hosts), or fails with
// Timedout when `timeout` seconds pass first. Tasks here are synchronous: the
// call waits, polling, and a timeout ≤ 0 with powered-on VMs left fails at once
// instead of waiting without end as vCenter does.
func (p *extProxy) EnterMaintenanceModeTask(ctx *simulator.Context, req *types.EnterMaintenanceMode_Task) soap.HasFault {
	h, ok := simulator.Map.Get(p.target).(*simulator.HostSystem)
	if !ok {
		return &methods.EnterMaintenanceMode_TaskBody{Fault_: p.notFound()}
	}
	evacuateOff := req.EvacuatePoweredOffVms != nil && *req.EvacuatePoweredOffVms
	task := newTask(ctx, h, "EnterMaintenanceMode_Task", "HostSystem.enterMaintenanceMode", func() (types.AnyType, types.BaseMethodFault) {
		var inMM bool
		var state types.HostSystemConnectionState
		simulator.Map.WithLock(h, func() { inMM, state = h.Runtime.InMaintenanceMode, h.Runtime.ConnectionState })
		if inMM || state != types.HostSystemConnectionStateConnected {
			return nil, &types.InvalidState{}
		}
		deadline := time.Now().Add(time.Duration(req.Timeout) * time.Second)
		for evacuate(h, evacuateOff) > 0 {
			if req.Timeout <= 0 || time.Now().After(deadline) {
				return nil, &types.Timedout{}
			}
			time.Sleep(100 * time.Millisecond)
		}
		simulator.Map.WithLock(h, func() {
			simulator.Map.Update(h, []types.PropertyChange{{Name: "runtime.inMaintenanceMode", Val: true}})
		})
		return nil, nil
	})
	return &methods.EnterMaintenanceMode_TaskBody{Res: &types.EnterMaintenanceMode_TaskResponse{Returnval: runTask(task)}}
}

// DestroyTask implements Destroy_Task on a HostSystem and on a standalone
// host's ComputeResource. A cluster's host must be in maintenance mode unless
// vCenter has lost it (disconnected, notResponding): InvalidState. A
// standalone HostSystem is removed only through its ComputeResource:
// NotSupported. The host leaves the inventory with its VMs.
func (p *extProxy) DestroyTask(ctx *simulator.Context, req *types.Destroy_Task) soap.HasFault {
	obj := simulator.Map.Get(p.target)
	me, ok := obj.(mo.Entity)
	if !ok {
		return &methods.Destroy_TaskBody{Fault_: p.notFound()}
	}
	task := newTask(ctx, me, "Destroy_Task", p.target.Type+".destroy", func() (types.AnyType, types.BaseMethodFault) {
		switch o := obj.(type) {
		case *simulator.HostSystem:
			cluster, ok := simulator.Map.Get(*o.Parent).(*simulator.ClusterComputeResource)
			if !ok {
				return nil, &types.NotSupported{}
			}
			var inMM bool
			var state types.HostSystemConnectionState
			simulator.Map.WithLock(o, func() { inMM, state = o.Runtime.InMaintenanceMode, o.Runtime.ConnectionState })
			if state == types.HostSystemConnectionStateConnected && !inMM {
				return nil, &types.InvalidState{}
			}
			ext.removeHost(o)
			dropClusterHost(cluster, o)
		case *mo.ComputeResource:
			for _, ref := range o.Host {
				if h, ok := simulator.Map.Get(ref).(*simulator.HostSystem); ok {
					ext.removeHost(h)
				}
			}
			if o.ResourcePool != nil {
				simulator.Map.Remove(*o.ResourcePool)
			}
			if f, ok := simulator.Map.Get(*o.Parent).(*simulator.Folder); ok {
				simulator.Map.WithLock(f, func() { simulator.RemoveReference(&f.ChildEntity, o.Self) })
			}
			simulator.Map.Remove(o.Self)
		default:
			return nil, &types.NotSupported{}
		}
		return nil, nil
	})
	return &methods.Destroy_TaskBody{Res: &types.Destroy_TaskResponse{Returnval: runTask(task)}}
}

// dropClusterHost takes a removed host out of its cluster's host list and summary.
func dropClusterHost(cluster *simulator.ClusterComputeResource, h *simulator.HostSystem) {
	simulator.Map.WithLock(cluster, func() {
		hosts := []types.ManagedObjectReference{}
		for _, ref := range cluster.Host {
			if ref != h.Self {
				hosts = append(hosts, ref)
			}
		}
		s := cluster.Summary.GetComputeResourceSummary()
		hw := h.Summary.Hardware
		s.TotalCpu -= hw.CpuMhz
		s.TotalMemory -= hw.MemorySize
		s.NumCpuCores -= hw.NumCpuCores
		s.NumCpuThreads -= hw.NumCpuThreads
		s.EffectiveCpu -= hw.CpuMhz
		s.EffectiveMemory -= hw.MemorySize
		s.NumHosts--
		s.NumEffectiveHosts--
		simulator.Map.Update(cluster, []types.PropertyChange{{Name: "host", Val: hosts}})
	})
}

// removeHost takes a host, its VMs and the objects this package added for it
// out of the inventory. vCenter forgets the thumbprint it trusted; the host
// itself (its certificate, password, ESXi endpoint) is unchanged. Caller holds x.
func (x *extension) removeHost(h *simulator.HostSystem) {
	if he := x.hosts[h.Self]; he != nil {
		he.syncNetworks(he.portgroupNames(), map[string]bool{})
		for _, ref := range []types.ManagedObjectReference{he.vnics.Self, he.clock.Self, he.services.Self} {
			simulator.Map.Remove(ref)
		}
		delete(x.hosts, h.Self)
		if he.netsys != nil {
			delete(x.nets, he.netsys.Self)
		}
	}
	on, off := hostVMs(h)
	for _, vm := range append(on, off...) {
		if f, ok := simulator.Map.Get(*vm.Parent).(*simulator.Folder); ok {
			simulator.Map.WithLock(f, func() { simulator.RemoveReference(&f.ChildEntity, vm.Self) })
		}
		if vm.ResourcePool != nil {
			if pool, ok := simulator.Map.Get(*vm.ResourcePool).(*simulator.ResourcePool); ok {
				simulator.Map.RemoveReference(pool, &pool.Vm, vm.Self)
			}
		}
		simulator.Map.Remove(vm.Self)
	}
	for _, ref := range h.Network {
		if nw, ok := simulator.Map.Get(ref).(*mo.Network); ok {
			simulator.Map.RemoveReference(nw, &nw.Host, h.Self)
		}
	}
	x.hooks.Lock()
	x.esxFor(h.Name).vcThumbprint = ""
	x.hooks.Unlock()
	simulator.Map.Remove(h.Self)
}

// hookVMPower implements POST /vcsim-test/vm-power?host=FQDN&name=NAME&power=poweredOn|poweredOff:
// registers a VM of that name on the host (in its datacenter's vmFolder and its
// compute resource's root pool) or, when one of that name exists, sets its power
// state. Answers {"vm": "vm-NN"}.
func (x *extension) hookVMPower(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST host=&name=&power=", http.StatusMethodNotAllowed)
		return
	}
	before := counterNow()
	hostName, name, power := r.FormValue("host"), strings.TrimSpace(r.FormValue("name")), r.FormValue("power")
	state := types.VirtualMachinePowerState(power)
	if name == "" || (state != types.VirtualMachinePowerStatePoweredOn && state != types.VirtualMachinePowerStatePoweredOff) {
		http.Error(w, "name= and power=poweredOn|poweredOff required", http.StatusBadRequest)
		return
	}
	var vm *simulator.VirtualMachine
	for _, e := range simulator.Map.All("VirtualMachine") {
		if v, ok := e.(*simulator.VirtualMachine); ok && v.Name == name {
			vm = v
		}
	}
	if vm == nil {
		h := findHost(hostName)
		if h == nil {
			http.Error(w, "no host "+hostName+" in the inventory", http.StatusNotFound)
			return
		}
		vm = x.newVM(h, name)
		if vm == nil {
			http.Error(w, "host "+hostName+" has no datacenter or resource pool", http.StatusInternalServerError)
			return
		}
	}
	simulator.Map.WithLock(vm, func() {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "runtime.powerState", Val: state},
			{Name: "summary.runtime.powerState", Val: state},
		})
	})
	x.record(journalEntry{Kind: "hook", Counter: before, Path: r.URL.Path,
		Form: url.Values{"host": {hostName}, "name": {name}, "power": {power}}.Encode()})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"vm": vm.Self.Value})
}

// newVM registers a minimal VM on h (no files, devices or guest): enough for
// HostSystem.vm and the VM's runtime, which is what maintenance mode and host
// removal look at.
func (x *extension) newVM(h *simulator.HostSystem, name string) *simulator.VirtualMachine {
	dc := (&hostExt{host: h}).datacenter() // reads the inventory only: no extension lock (a maintenance-mode wait holds it)
	parent, ok := simulator.Map.Get(*h.Parent).(mo.Entity)
	if dc == nil || !ok {
		return nil
	}
	var pool *types.ManagedObjectReference
	switch cr := parent.(type) {
	case *simulator.ClusterComputeResource:
		pool = cr.ResourcePool
	case *mo.ComputeResource:
		pool = cr.ResourcePool
	}
	folder, ok := simulator.Map.Get(dc.VmFolder).(*simulator.Folder)
	if pool == nil || !ok {
		return nil
	}
	vm := &simulator.VirtualMachine{}
	vm.Name = name
	id := uuid.NewSHA1(uuid.NameSpaceOID, []byte("vm:"+name)).String()
	vm.Config = &types.VirtualMachineConfigInfo{Name: name, GuestId: "otherGuest64", Uuid: id, InstanceUuid: id}
	ref := h.Self
	vm.Runtime = types.VirtualMachineRuntimeInfo{
		Host:            &ref,
		ConnectionState: types.VirtualMachineConnectionStateConnected,
		PowerState:      types.VirtualMachinePowerStatePoweredOff,
	}
	vm.Summary.Runtime = vm.Runtime
	vm.Summary.Config = types.VirtualMachineConfigSummary{Name: name, Uuid: id, InstanceUuid: id, GuestId: "otherGuest64"}
	poolRef := *pool
	vm.ResourcePool = &poolRef
	simulator.Map.WithLock(folder, func() {
		simulator.Map.PutEntity(folder, simulator.Map.NewEntity(vm))
		folder.ChildEntity = append(folder.ChildEntity, vm.Self)
	})
	vm.Summary.Vm = &vm.Self
	if rp, ok := simulator.Map.Get(poolRef).(*simulator.ResourcePool); ok {
		simulator.Map.AddReference(rp, &rp.Vm, vm.Self)
	}
	simulator.Map.AddReference(h, &h.Vm, vm.Self)
	return vm
}
