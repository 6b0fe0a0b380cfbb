#!/usr/bin/env python3
"""The agent DaemonSet as a kubelet would run it: checks of one render of the
chart against the value set it was rendered with (xtask/deploy/validate.sh
runs it on deploy/manifests/ and on every value set's render).

  agentcheck.py SET FILE... [--lanner BIN]

SET is a value set of deploycheck.py (defaults, plain, full, minimal,
external-llm); its values are merged over the chart's values.yaml to know
what the render must say. Each check stands for a defect found on a real
kubelet (docs/deploy.md):

  mount propagation  cgroup/tracefs mounts carry agent.mountPropagation and
                     nothing else; the defaults carry none (containerd refuses
                     HostToContainer on hosts whose mounts are private)
  SYS_RESOURCE       added exactly when agent.sysResource (kernels < 5.11)
  rules              the agent's args load the mounted rules ConfigMap
                     (--rules=<its mount path>) whenever it holds a rule file,
                     and only then; with --lanner, `lanner rules check` loads
                     the ConfigMap's files as the kubelet projects them
  hostname           alerts' hostname is the node's name: LANNER_HOSTNAME and
                     NODE_NAME from spec.nodeName, once each, no --hostname

Prints one line per failure and a summary; exits non-zero on any failure.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from deploycheck import CHART, Checker, deep_merge, kn, load_docs, pod_spec, value_sets

RULE_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")


def effective_values(set_name: str) -> dict:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text()) or {}
    return deep_merge(defaults, value_sets()[set_name])


def rule_files(cm: dict) -> list[str]:
    """Keys of a ConfigMap that `lanner run --rules=DIR` loads (lanner_rules::expand_paths)."""
    return sorted(k for k in (cm.get("data") or {})
                  if not k.startswith(".") and k.endswith(RULE_SUFFIXES) and not k.endswith(TEST_SUFFIXES))


def expected_rule_files(values: dict) -> int:
    r = values.get("rules", {})
    n = len(list((CHART / "files" / "rules-default").glob("*.yaml"))) if r.get("includeDefaultPack") else 0
    return n + (1 if r.get("example") else 0) + len(r.get("extra") or {})


def env_from_node_name(env: list[dict], name: str) -> bool:
    found = [e for e in env if e.get("name") == name]
    return len(found) == 1 and found[0].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName"


def lanner_rules_check(c: Checker, where: str, lanner: str, cm: dict, files: list[str], mount: str) -> None:
    """Project the ConfigMap as the kubelet does (a ..data symlink, files as
    links into it) under the mount path and load it with the real agent."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / mount.lstrip("/")
        data = d / "..2026_01_01_00_00_00.000000000"
        data.mkdir(parents=True)
        (d / "..data").symlink_to(data.name)
        for k, text in (cm.get("data") or {}).items():
            (data / k).write_text(text)
            (d / k).symlink_to(f"..data/{k}")
        out = subprocess.run([lanner, "rules", "check", str(d)], capture_output=True, text=True)
        text = (out.stdout + out.stderr).strip()
        c.ok(out.returncode == 0, f"{where}: `lanner rules check` of the mounted rules failed:\n{text}")
        # Summary line: "N rules: A active, I inactive ...; F file(s), W warning(s)".
        m = re.search(r"^\d+ rules: (\d+) active, \d+ inactive.*; (\d+) file\(s\)", text, re.M)
        c.ok(bool(m) and int(m.group(2)) == len(files) and int(m.group(1)) > 0,
             f"{where}: lanner must load rules from the {len(files)} mounted files:\n{text}")


def check_agent(c: Checker, ds: dict, docs: list[dict], values: dict, set_name: str, lanner: str | None) -> None:
    where = kn(ds)
    v = values["agent"]
    spec = pod_spec(ds)
    ctrs = [x for x in spec.get("containers", []) if x.get("name") == "agent"]
    if not c.ok(len(ctrs) == 1, f"{where}: one container named agent"):
        return
    ctr = ctrs[0]
    vols = {vol["name"]: vol for vol in spec.get("volumes", [])}
    mounts = ctr.get("volumeMounts", [])
    args = ctr.get("args", [])

    # 1. Mount propagation: only what agent.mountPropagation asks, on cgroup and tracefs.
    want = v.get("mountPropagation") or None
    for key in ("cgroup", "tracefs"):
        host = v["hostPaths"][key]
        ms = [m for m in mounts if vols.get(m["name"], {}).get("hostPath", {}).get("path") == host]
        c.ok(len(ms) == 1 and ms[0].get("mountPropagation") == want,
             f"{where}: {host} mount has mountPropagation {want} (got {[m.get('mountPropagation') for m in ms]})")
    others = [m["name"] for m in mounts if m.get("mountPropagation") and
              vols.get(m["name"], {}).get("hostPath", {}).get("path") not in
              (v["hostPaths"]["cgroup"], v["hostPaths"]["tracefs"])]
    c.ok(not others, f"{where}: no mountPropagation on other mounts ({others})")
    c.ok(all(m.get("mountPropagation") != "Bidirectional" for m in mounts), f"{where}: no Bidirectional propagation")
    if set_name in ("defaults", "plain"):
        props = [m["name"] for m in mounts if m.get("mountPropagation") not in (None, "None")]
        c.ok(not props, f"{where}: the default install sets no mountPropagation, so it starts on hosts with "
                        f"private mounts (got it on {props})")

    # 2. CAP_SYS_RESOURCE exactly when asked for.
    added = set(ctr.get("securityContext", {}).get("capabilities", {}).get("add") or [])
    c.ok(("SYS_RESOURCE" in added) == bool(v.get("sysResource")),
         f"{where}: SYS_RESOURCE added iff agent.sysResource={v.get('sysResource')} (got {sorted(added)})")

    # 3. The rules ConfigMap is what the agent loads.
    cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    rules_mounts = [(m, cms[vols[m["name"]]["configMap"]["name"]]) for m in mounts
                    if "configMap" in vols.get(m["name"], {})
                    and vols[m["name"]]["configMap"]["name"].endswith("-rules")
                    and vols[m["name"]]["configMap"]["name"] in cms]
    if c.ok(len(rules_mounts) == 1, f"{where}: the rules ConfigMap is mounted once"):
        m, cm = rules_mounts[0]
        path = m["mountPath"]
        files = rule_files(cm)
        n = expected_rule_files(values)
        c.ok(len(files) == n, f"{kn(cm)}: {n} rule files expected from the values (got {files})")
        rules_args = [a for a in args if a == "--rules" or a.startswith("--rules=")]
        if files:
            c.ok(rules_args == [f"--rules={path}"],
                 f"{where}: args load the mounted rules: --rules={path} (got {rules_args}; without it the "
                 f"embedded pack runs and edits to {kn(cm)} are ignored)")
            if lanner:
                lanner_rules_check(c, where, lanner, cm, files, path)
        else:
            c.ok(not rules_args, f"{where}: no rule file in {kn(cm)}: no --rules, the embedded pack runs "
                                 f"(got {rules_args})")

    # 4. Alerts' hostname is the node's name, not the pod's.
    env = ctr.get("env", [])
    c.ok(env_from_node_name(env, "LANNER_HOSTNAME"), f"{where}: LANNER_HOSTNAME once, from spec.nodeName")
    c.ok(env_from_node_name(env, "NODE_NAME"), f"{where}: NODE_NAME once, from spec.nodeName")
    hn = [a for a in args if a == "--hostname" or a.startswith("--hostname=")]
    c.ok(not hn, f"{where}: no --hostname overriding the node name ({hn})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--lanner", help="the lanner binary: also load the mounted rules with `lanner rules check`")
    a = ap.parse_args()
    c = Checker(f"agent DaemonSet as run ({a.set})")
    values = effective_values(a.set)
    docs = [d for _, d in load_docs(a.files)]
    agents = [d for d in docs if d["kind"] == "DaemonSet"
              and d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "agent"]
    c.ok(len(agents) == (1 if values["agent"].get("enabled", True) else 0), f"one agent DaemonSet (got {len(agents)})")
    for ds in agents:
        check_agent(c, ds, docs, values, a.set, a.lanner)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
