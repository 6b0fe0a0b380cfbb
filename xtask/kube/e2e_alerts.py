#!/usr/bin/env python3
"""Find the kill chain's expected alerts in an agent pod's log (cluster-e2e.sh).

The log (`kubectl logs --timestamps`: each line prefixed with the time the container
runtime received it) mixes tracing lines and Falco-compatible alert JSON (one object per
line with `rule` and `output_fields`). Each --expect is one alert a step of the chain must
raise, as the simulation (xtask/src/simulate/chain.rs) expects it:

    STEP|RULE|PRIORITY|TECHNIQUE|PROC_NAME      (PROC_NAME may be empty)

At least one alert per expectation must have that rule, priority and MITRE tag, name the
victim pod, and carry its real metadata: namespace, 12-char container id, container name
and image repository (when the rule's output has them) and the node as `hostname`.
Latency is the log line's runtime timestamp minus the alert's `time` (event time).

Prints "RULE<TAB>UUID" for each expectation met on stdout; writes the markdown table of
every expectation to --table; exits 1 with what was seen when one is not met.
"""

import argparse
import datetime
import json
import sys


def parse_time(s):
    """RFC 3339 with up to 9 fractional digits -> Unix seconds (float)."""
    s = s.strip().replace("z", "Z")
    frac = 0.0
    if "." in s:
        head, rest = s.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        frac = float("0." + digits) if digits else 0.0
        s = head + zone
    dt = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return dt.timestamp() + frac


def read_alerts(path):
    alerts = []
    for line in open(path, errors="replace"):
        line = line.strip()
        stamp = None
        if not line.startswith("{") and " {" in line:
            head, body = line.split(" ", 1)
            try:
                stamp = parse_time(head)
                line = body.strip()
            except ValueError:
                continue
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "rule" in obj and "output_fields" in obj:
            alerts.append((stamp, obj))
    return alerts


def main():
    p = argparse.ArgumentParser()
    p.add_argument("log")
    p.add_argument("--pod", required=True)
    p.add_argument("--ns", required=True)
    p.add_argument("--container-id", required=True, help="full 64-hex id")
    p.add_argument("--container-name", required=True)
    p.add_argument("--image", required=True, help="repository, without tag")
    p.add_argument("--node", required=True)
    p.add_argument("--expect", action="append", required=True, help="STEP|RULE|PRIORITY|TECHNIQUE|PROC_NAME")
    p.add_argument("--table", help="write the markdown table here")
    a = p.parse_args()

    alerts = read_alerts(a.log)
    want = {"k8s.pod.name": a.pod, "k8s.ns.name": a.ns, "container.id": a.container_id[:12]}
    # Checked when the rule's output has them (every chain rule names container and image).
    want_if_present = {"container.name": a.container_name, "container.image.repository": a.image}
    rows, problems, found = [], [], []
    for e in a.expect:
        step, rule, prio, tech, proc = (e.split("|") + [""] * 5)[:5]
        mine = [(t, x) for t, x in alerts if x["rule"] == rule and x["output_fields"].get("k8s.pod.name") == a.pod]
        if proc:
            mine = [(t, x) for t, x in mine if x["output_fields"].get("proc.name") == proc]
        ok, bad = None, [f"no '{rule}' alert for pod {a.pod}" + (f" with proc.name={proc}" if proc else "")]
        for t, x in mine:
            f = x["output_fields"]
            bad = [f"{k}={f.get(k)!r} (want {v!r})" for k, v in want.items() if f.get(k) != v]
            bad += [f"{k}={f.get(k)!r} (want {v!r})" for k, v in want_if_present.items() if k in f and f[k] != v]
            if x.get("hostname") != a.node:
                bad.append(f"hostname={x.get('hostname')!r} (want the node {a.node!r})")
            if str(x.get("priority", "")).lower() != prio.lower():
                bad.append(f"priority {x.get('priority')!r} (want {prio})")
            if tech not in (x.get("tags") or []):
                bad.append(f"tags {x.get('tags')} lack {tech}")
            if not bad:
                ok = (t, x)
                break
        if ok is None:
            problems.append(f"step '{step}': {'; '.join(bad)}")
            rows.append(f"| {step} | {tech} | {rule} ({prio}) | **no**: {bad[0]} | - | - |")
            continue
        t, x = ok
        f = x["output_fields"]
        lat = "-"
        if t is not None and x.get("time"):
            try:
                lat = f"{(t - parse_time(x['time'])) * 1000:.0f}"
            except ValueError:
                pass
        meta = (f"{f['k8s.ns.name']}/{f['k8s.pod.name']} {f.get('container.name')} {f['container.id']} "
                f"{f.get('container.image.repository')} node {x['hostname']}")
        rows.append(f"| {step} | {tech} | {rule} ({prio}) | yes | {meta} | {lat} |")
        print(f"cluster-e2e: step '{step}': alert '{rule}' [{x['priority']}] proc {f.get('proc.name')}: {meta}, "
              f"latency {lat} ms, uuid {x['uuid']}", file=sys.stderr)
        found.append(f"{rule}\t{x['uuid']}")
    if a.table:
        with open(a.table, "w") as out:
            out.write("| step | technique | rule (priority) | detected | pod metadata in the alert | latency ms |\n")
            out.write("| --- | --- | --- | --- | --- | --- |\n")
            out.write("\n".join(rows) + "\n")
    if problems:
        # An alert without pod metadata has no k8s.pod.name: shown as "-" (a None
        # beside the strings made this report crash instead of listing it).
        seen = sorted({(x["rule"], x["output_fields"].get("k8s.pod.name") or "-") for _, x in alerts})
        for pr in problems:
            print("cluster-e2e: " + pr, file=sys.stderr)
        print(f"cluster-e2e: alerts seen (rule, pod): {seen[:20]}", file=sys.stderr)
        sys.exit(1)
    print("\n".join(found))


if __name__ == "__main__":
    main()
