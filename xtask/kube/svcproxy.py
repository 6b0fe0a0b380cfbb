#!/usr/bin/env python3
"""Cluster DNS and Service routing for the single-node test cluster (cluster.sh).

The test cluster has no kube-proxy and no CoreDNS (no registry to pull them
from). Pods still need both: the agent dials the triage worker as
`tcp://<release>-triage.<ns>.svc:7700`, exactly as on a real cluster. This
small stand-in, polling the API server once a second:

* answers DNS A queries (UDP) on the pod bridge for `<svc>.<ns>.svc.cluster.local`
  with the Service's ClusterIP (headless: the ready endpoint addresses); every
  other name gets NXDOMAIN. It never forwards a query: nothing leaves the host.
* keeps one iptables nat chain (--chain) holding a DNAT rule per Service port
  to its ready endpoints (random choice between several), applied with
  `iptables-restore --noflush` only when the rule set changed.

Stdlib only. Reads server, CA and token from the admin kubeconfig.
"""

import argparse
import base64
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

DOMAIN = "cluster.local"


def log(msg):
    print(f"svcproxy: {msg}", flush=True)


def kubeconfig(path):
    """server, CA file, token from a kubeconfig written by cluster.sh (no YAML parser needed)."""
    server = ca = token = None
    for line in open(path):
        s = line.strip()
        if s.startswith("server:"):
            server = s.split(":", 1)[1].strip()
        elif s.startswith("certificate-authority-data:"):
            ca = base64.b64decode(s.split(":", 1)[1].strip())
        elif s.startswith("token:"):
            token = s.split(":", 1)[1].strip()
    if not (server and ca and token):
        sys.exit(f"svcproxy: {path}: server, certificate-authority-data and token are required")
    f = tempfile.NamedTemporaryFile(delete=False, prefix="svcproxy-ca-")
    f.write(ca)
    f.close()
    return server, f.name, token


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.names = {}  # "svc.ns" -> [ip]


def get(server, ctx, token, path):
    req = urllib.request.Request(server + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
        return json.load(r)


def sync(server, ctx, token, state, chain, last_rules):
    services = get(server, ctx, token, "/api/v1/services")["items"]
    endpoints = {
        (e["metadata"]["namespace"], e["metadata"]["name"]): e
        for e in get(server, ctx, token, "/api/v1/endpoints")["items"]
    }
    names, rules = {}, []
    for svc in services:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        spec = svc.get("spec", {})
        cip = spec.get("clusterIP")
        ep = endpoints.get((ns, name), {})
        ready = []  # (ip, {port name: port})
        for subset in ep.get("subsets", []) or []:
            ports = {p.get("name", ""): p["port"] for p in subset.get("ports", [])}
            for a in subset.get("addresses", []) or []:
                ready.append((a["ip"], ports))
        if cip and cip != "None":
            names[f"{name}.{ns}"] = [cip]
            if (ns, name) == ("default", "kubernetes"):
                continue  # cluster.sh routes it to the apiserver's loopback port
            for port in spec.get("ports", []):
                if port.get("protocol", "TCP") != "TCP" or not ready:
                    continue
                targets = [f"{ip}:{ports.get(port.get('name', ''), port['port'])}" for ip, ports in ready]
                for i, target in enumerate(targets):
                    left = len(targets) - i
                    prob = "" if left == 1 else f" -m statistic --mode random --probability {1.0 / left:.5f}"
                    rules.append(
                        f"-A {chain} -d {cip}/32 -p tcp --dport {port['port']}{prob} -j DNAT --to-destination {target}"
                    )
        else:
            names[f"{name}.{ns}"] = [ip for ip, _ in ready]
    with state.lock:
        state.names = names
    if rules != last_rules:
        text = f"*nat\n:{chain} - [0:0]\n" + "".join(r + "\n" for r in rules) + "COMMIT\n"
        subprocess.run(["iptables-restore", "-w", "--noflush"], input=text.encode(), check=True)
        log(f"{len(rules)} Service DNAT rule(s): " + "; ".join(r.split(f"-A {chain} ", 1)[1] for r in rules))
    return rules


def answer(query, state):
    """A DNS response to one query (bytes), or None when it cannot be parsed."""
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", query[:6])
    if qd != 1 or flags & 0x8000:
        return None
    i, labels = 12, []
    while i < len(query) and query[i] != 0:
        n = query[i]
        labels.append(query[i + 1 : i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    if i + 5 > len(query):
        return None
    qtype, _qclass = struct.unpack(">HH", query[i + 1 : i + 5])
    question = query[12 : i + 5]
    name = ".".join(labels)
    ips = None
    suffix = ".svc." + DOMAIN
    if name.endswith(suffix):
        with state.lock:
            ips = state.names.get(name[: -len(suffix)])
    rd = flags & 0x0100
    if ips is None:
        return struct.pack(">HHHHHH", qid, 0x8000 | 0x0400 | rd | 3, 1, 0, 0, 0) + question  # NXDOMAIN
    answers = b""
    count = 0
    if qtype == 1:
        for ip in ips:
            answers += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + socket.inet_aton(ip)
            count += 1
    return struct.pack(">HHHHHH", qid, 0x8000 | 0x0400 | rd, 1, count, 0, 0) + question + answers


def serve_dns(sock, state):
    while True:
        try:
            data, peer = sock.recvfrom(512)
            resp = answer(data, state)
            if resp is not None:
                sock.sendto(resp, peer)
        except Exception as e:  # keep serving
            log(f"dns: {e}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--listen", required=True, help="IP address for DNS (udp/53)")
    p.add_argument("--chain", required=True, help="iptables nat chain to own")
    a = p.parse_args()
    server, ca, token = kubeconfig(a.kubeconfig)
    ctx = ssl.create_default_context(cafile=ca)
    state = State()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.listen, 53))
    threading.Thread(target=serve_dns, args=(sock, state), daemon=True).start()
    log(f"DNS on {a.listen}:53 (*.svc.{DOMAIN} only, no forwarding); Service rules in nat/{a.chain}")
    ready_file = os.path.join(os.path.dirname(os.path.abspath(a.kubeconfig)), "logs", "svcproxy.ready")
    rules = None
    while True:
        try:
            rules = sync(server, ctx, token, state, a.chain, rules)
            if not os.path.exists(ready_file):
                open(ready_file, "w").close()
        except Exception as e:
            log(f"sync: {e}")
        time.sleep(1)


if __name__ == "__main__":
    main()
