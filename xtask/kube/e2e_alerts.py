#!/usr/bin/env python3
"""Find the expected alerts in an agent pod's log (cluster-e2e.sh).

The log mixes tracing lines (--log-json) and Falco-compatible alert JSON (one
object per line with `rule` and `output_fields`). For each --rule, at least one
alert must name the victim pod and carry its real metadata: namespace, 12-char
container id, container name, image repository and the node as `hostname`.
Prints the matching alerts' uuids (one per rule) on stdout; exits 1 with what
was seen otherwise.
"""

import argparse
import json
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("log")
    p.add_argument("--pod", required=True)
    p.add_argument("--ns", required=True)
    p.add_argument("--container-id", required=True, help="full 64-hex id")
    p.add_argument("--container-name", required=True)
    p.add_argument("--image", required=True, help="repository, without tag")
    p.add_argument("--node", required=True)
    p.add_argument("--rule", action="append", required=True)
    a = p.parse_args()

    alerts = []
    for line in open(a.log, errors="replace"):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "rule" in obj and "output_fields" in obj:
            alerts.append(obj)

    want = {
        "k8s.pod.name": a.pod,
        "k8s.ns.name": a.ns,
        "container.id": a.container_id[:12],
    }
    # Checked when the rule's output has them (both test rules name container and image).
    want_if_present = {"container.name": a.container_name, "container.image.repository": a.image}
    uuids, problems = [], []
    for rule in a.rule:
        mine = [x for x in alerts if x["rule"] == rule and x["output_fields"].get("k8s.pod.name") == a.pod]
        if not mine:
            seen = sorted({(x["rule"], x["output_fields"].get("k8s.pod.name")) for x in alerts})
            problems.append(f"no '{rule}' alert for pod {a.pod} (alerts seen: {seen[:12]})")
            continue
        ok = None
        for x in mine:
            f = x["output_fields"]
            bad = [f"{k}={f.get(k)!r} (want {v!r})" for k, v in want.items() if f.get(k) != v]
            bad += [f"{k}={f.get(k)!r} (want {v!r})" for k, v in want_if_present.items() if k in f and f[k] != v]
            if x.get("hostname") != a.node:
                bad.append(f"hostname={x.get('hostname')!r} (want the node {a.node!r})")
            if not bad:
                ok = x
                break
        if ok is None:
            problems.append(f"'{rule}' alerts for {a.pod} have wrong metadata: {'; '.join(bad)}")
            continue
        f = ok["output_fields"]
        print(f"cluster-e2e: alert '{rule}': pod {f['k8s.ns.name']}/{f['k8s.pod.name']} container "
              f"{f.get('container.name')} {f['container.id']} image {f.get('container.image.repository')} "
              f"node {ok['hostname']} uuid {ok['uuid']}", file=sys.stderr)
        uuids.append(ok["uuid"])
    if problems:
        for pr in problems:
            print("cluster-e2e: " + pr, file=sys.stderr)
        sys.exit(1)
    print("\n".join(uuids))


if __name__ == "__main__":
    main()
