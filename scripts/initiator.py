#!/usr/bin/env python3
"""statelesx phone-home initiator for ESXi 7/8 (runs with the host's own Python 3).

Sends one line to the statelesx server's TCP 1974 listener and reads the one-line answer:

    <hostname>:<uuid> token=<t> mac=<m> serial=<s> vendor=<v> model=<m> version=initiator.py/1.0
    -> "OK <job-id>" | "UNREGISTERED" | "ERR <reason>"

Where each field comes from:
- uuid: the hardware (SMBIOS) UUID from `esxcli hardware platform get` ("UUID: 0x4c 0x4c ...",
  16 bytes in SMBIOS display order, what vCenter shows as hardware.systemInfo.uuid). NOT
  /system/uuid from /etc/vmware/esx.conf: ESXi generates that one itself; it is not the hardware.
- serial / vendor / model: the same command's "Serial Number", "Vendor Name", "Product Name".
- hostname: the host's fully qualified name, what vCenter should add it as ($STATELESX_HOSTNAME
  overrides): `esxcli system hostname get` "Fully Qualified Domain Name", else its "Host Name" and
  "Domain Name" joined; without esxcli, socket.gethostname() with the `domain` (else first
  `search`) of /etc/resolv.conf when the name has no dot. Lower-cased; left out when it is
  localhost or not an RFC 1123 name (the server would refuse the whole message for it).
- stage: $STATELESX_STAGE=installed (a stateful install's kickstart `%firstboot` runs the
  initiator with it; or `statelesx.stage=installed` on the boot command line): sent as `stage=installed`, the install to disk is done, so statelesx
  answers the host's later network boots with "boot from local disk" (boot-once).
- the boot command line, for `statelesx.server=`, `statelesx.token=` and `BOOTIF=`:
  `vsish -e get /system/bootCmdLine` -- the VMkernel's boot command line as the boot loader
  passed it (boot.cfg `kernelopt` plus what pxelinux/iPXE appended). This is where ESXi's own
  scripted install reads `ks=` from, and it carries options VMkernel does not know.
  `esxcli system settings kernel list` is not used: it lists only the VMkernel's known
  settings, not arbitrary boot options. Fallback: the `kernelopt=` line of /bootbank/boot.cfg
  (stateful installs booted from disk). $STATELESX_CMDLINE names a file to read instead.
- mac: BOOTIF=01-aa-bb-.. from the boot command line; else vmk0's MAC
  (`esxcli network ip interface list`).
- thumbprint / thumbprint-sha1: SHA-256 and SHA-1 of the DER of the host's own SSL certificate
  /etc/vmware/ssl/rui.crt (what vCenter's HostConnectSpec.sslThumbprint names), colon hex. A
  stateless host makes a new certificate at every boot; the engine adds or reconnects the host
  with this thumbprint. Waits up to --cert-wait seconds for the file (hostd's first start writes
  it; no wait when its directory does not exist); $STATELESX_CERT names another file (tests).

Options: --server ADDR[:PORT] (else statelesx.server=, port 1974), --retries N (8),
--backoff-max SECONDS (30), --timeout SECONDS (10), --cert-wait SECONDS (60).

Exit status: 0 OK/UNREGISTERED (also ERR token-replayed after an earlier attempt whose answer
was lost); 2 missing local data (UUID, server); 3 refused; 1 no answer after all retries.
"""
import argparse
import base64
import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from urllib.parse import quote

VERSION = "initiator.py/1.0"
RETRYABLE = {"busy", "internal", "enqueue-failed", "slow", "idle"}


def log(msg):
    sys.stderr.write("statelesx-initiator: %s\n" % msg)
    sys.stderr.flush()


def run(args):
    """Output of a command, or '' when it is missing or fails."""
    try:
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=60, check=True).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return ""


def esxcli(*args):
    """esxcli, or localcli (no hostd needed) when esxcli is unavailable this early in boot."""
    return run(["esxcli"] + list(args)) or run(["localcli"] + list(args))


def key_values(text):
    """'   Key Name: value' lines -> {'Key Name': 'value'}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([^:]+?):\s?(.*)$", line)
        if m:
            out[m.group(1).strip()] = m.group(2).strip()
    return out


def platform():
    """(uuid, serial, vendor, model) from `esxcli hardware platform get`."""
    kv = key_values(esxcli("hardware", "platform", "get"))
    uuid = None
    raw = kv.get("UUID", "")
    octets = re.findall(r"0x([0-9a-fA-F]{1,2})", raw)
    if len(octets) == 16:
        h = "".join(o.lower().zfill(2) for o in octets)
        uuid = "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
    elif re.match(r"^[0-9a-fA-F-]{32,36}$", raw):
        uuid = raw.lower()

    def clean(v):
        return v if v and v not in ("None", "Not Specified", "No Asset Tag") else None

    return uuid, clean(kv.get("Serial Number")), clean(kv.get("Vendor Name")), clean(kv.get("Product Name"))


def boot_cmdline():
    """The VMkernel boot command line (see the module docstring for the sources, in order)."""
    path = os.environ.get("STATELESX_CMDLINE")
    if path:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""
    text = run(["vsish", "-e", "get", "/system/bootCmdLine"])
    if text.strip():
        return text
    try:
        with open("/bootbank/boot.cfg") as f:
            for line in f:
                if line.startswith("kernelopt="):
                    return line[len("kernelopt="):]
    except OSError:
        pass
    return ""


HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def resolv_domain():
    """The `domain` of resolv.conf (DHCP option 15 ends up there), else its first `search` domain.
    $STATELESX_RESOLV_CONF names another file (tests)."""
    path = os.environ.get("STATELESX_RESOLV_CONF") or "/etc/resolv.conf"
    domain = search = None
    try:
        with open(path) as f:
            for line in f:
                words = line.split()
                if len(words) >= 2 and words[0] == "domain":
                    domain = words[1]
                elif len(words) >= 2 and words[0] == "search" and search is None:
                    search = words[1]
    except OSError:
        pass
    return domain or search


def host_fqdn():
    """The host's FQDN (see the module docstring for the sources, in order), or None."""
    name = os.environ.get("STATELESX_HOSTNAME")
    if not name:
        kv = key_values(esxcli("system", "hostname", "get"))
        name = kv.get("Fully Qualified Domain Name")
        if not name and kv.get("Host Name"):
            name = kv["Host Name"] + ("." + kv["Domain Name"] if kv.get("Domain Name") else "")
    if not name:
        name = socket.gethostname()
        domain = resolv_domain()
        if name and "." not in name and domain:
            name = "%s.%s" % (name, domain)
    name = (name or "").strip().rstrip(".").lower()
    if name in ("", "localhost") or name.startswith("localhost."):
        return None
    if not HOSTNAME_RE.match(name):
        log("host name %r is not an RFC 1123 name: phoning home without it" % name[:64])
        return None
    return name


def cmdline_value(cmdline, key):
    for word in cmdline.split():
        if word.startswith(key + "="):
            return word[len(key) + 1:]
    return None


def boot_mac(cmdline):
    bootif = cmdline_value(cmdline, "BOOTIF")
    if bootif:
        mac = bootif[3:] if bootif.startswith("01-") else bootif
        mac = mac.replace("-", ":").lower()
        if re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", mac):
            return mac
    # vmk0 carries the management (boot) NIC's MAC by default.
    current = None
    for line in esxcli("network", "ip", "interface", "list").splitlines():
        if re.match(r"^vmk\d+$", line.strip()):
            current = line.strip()
        m = re.match(r"^\s*MAC Address:\s*(\S+)", line)
        if m and current == "vmk0":
            return m.group(1).lower()
    return None


def cert_thumbprints(path, wait):
    """(sha256, sha1) colon hex of the first PEM certificate in `path`, or (None, None)."""
    deadline = time.time() + wait
    while True:
        try:
            with open(path) as f:
                pem = f.read()
            m = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem, re.S)
            if m:
                der = base64.b64decode("".join(m.group(1).split()))
                colon = lambda h: ":".join(h[i:i + 2] for i in range(0, len(h), 2)).upper()
                return colon(hashlib.sha256(der).hexdigest()), colon(hashlib.sha1(der).hexdigest())
        except (OSError, ValueError):
            pass
        if time.time() >= deadline or not os.path.isdir(os.path.dirname(path) or "."):
            log("no certificate in %s: phoning home without thumbprint" % path)
            return None, None
        time.sleep(2)


def pct(value):
    """Percent-encodes a value for the line (RFC 3986 §2.1): spaces, %, = and non-ASCII."""
    return quote(value, safe="!$&'()*+,;:@/~-._")


def build_line(uuid, name, token, mac, serial, vendor, model, thumbprints=(None, None), stage=None):
    line = "%s:%s" % (name or "", uuid)
    for key, value in (("token", token), ("mac", mac), ("serial", serial), ("vendor", vendor),
                       ("model", model), ("version", VERSION), ("thumbprint", thumbprints[0]),
                       ("thumbprint-sha1", thumbprints[1]), ("stage", stage)):
        if value:
            line += " %s=%s" % (key, pct(value))
    return line + "\n"


def send(host, port, line, timeout):
    """One exchange; returns the answer line ('' when none arrived)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(line.encode("utf-8"))
        s.shutdown(socket.SHUT_WR)
        data = b""
        while b"\n" not in data and len(data) < 4096:
            chunk = s.recv(1024)
            if not chunk:
                break
            data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()


def main(argv=None):
    ap = argparse.ArgumentParser(description="statelesx phone-home initiator (ESXi)")
    ap.add_argument("--server", help="ADDR[:PORT] (default: statelesx.server= on the boot command line)")
    ap.add_argument("--retries", type=int, default=8)
    ap.add_argument("--backoff-max", type=float, default=30.0)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--cert-wait", type=float, default=60.0)
    opts = ap.parse_args(argv)

    cmdline = boot_cmdline()
    server = opts.server or cmdline_value(cmdline, "statelesx.server")
    if not server:
        log("no server: pass --server or put statelesx.server=<addr>:<port> in kernelopt")
        return 2
    host, _, port = server.rpartition(":") if ":" in server else (server, "", "1974")
    uuid, serial, vendor, model = platform()
    if not uuid:
        log("no hardware UUID from 'esxcli hardware platform get'")
        return 2
    name = host_fqdn()
    cert = os.environ.get("STATELESX_CERT") or "/etc/vmware/ssl/rui.crt"
    stage = os.environ.get("STATELESX_STAGE") or cmdline_value(cmdline, "statelesx.stage")
    stage = "installed" if stage == "installed" else None
    line = build_line(uuid, name, cmdline_value(cmdline, "statelesx.token"), boot_mac(cmdline), serial, vendor, model,
                      cert_thumbprints(cert, opts.cert_wait), stage)

    delay = 1.0
    all_answered = True  # False once an attempt may have reached the server without its answer reaching us
    for attempt in range(1, opts.retries + 1):
        try:
            reply = send(host, int(port), line, opts.timeout)
        except (OSError, ValueError) as e:
            reply = ""
            log("attempt %d: %s:%s: %s" % (attempt, host, port, e))
            if not isinstance(e, ConnectionRefusedError):
                all_answered = False
        if reply.startswith("OK "):
            log("phoned home to %s:%s: configure job %s" % (host, port, reply[3:]))
            return 0
        if reply == "UNREGISTERED":
            log("phoned home to %s:%s: not in any cluster yet (listed as unregistered)" % (host, port))
            return 0
        if reply.startswith("ERR "):
            reason = reply[4:]
            if reason == "token-replayed" and not all_answered:
                log("token already used: an earlier attempt was accepted but its answer was lost")
                return 0
            if reason not in RETRYABLE:
                log("refused by %s:%s: %s" % (host, port, reason))
                return 3
            log("attempt %d: server answered %r; retrying" % (attempt, reply))
        elif not reply:
            all_answered = False
        if attempt < opts.retries:
            time.sleep(delay)
            delay = min(delay * 2, opts.backoff_max)
    log("giving up after %d attempts" % opts.retries)
    return 1


if __name__ == "__main__":
    sys.exit(main())
