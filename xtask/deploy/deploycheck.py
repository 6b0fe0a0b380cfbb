#!/usr/bin/env python3
"""Lanner deployment checks: render the Helm chart, write/compare the plain
manifests, and the checks no off-the-shelf tool does (security invariants,
exact RBAC, cross-references, CRD objects, PromQL, dashboard, Dockerfile).

Runs inside the venv that xtask/deploy/validate.sh prepares (helm-python-sdk,
kubernetes-validate, promql-parser, dockerfile, PyYAML). Every subcommand
prints what it checked and exits non-zero on any failure.

  deploycheck.py render OUT          render every value set into OUT/<set>/
  deploycheck.py write-plain         (re)write deploy/manifests/ from the chart
  deploycheck.py check-plain OUT     deploy/manifests/ == OUT/plain (no drift)
  deploycheck.py lint                helm lint --strict, every value set
  deploycheck.py policy FILE...      security invariants, exact RBAC, references
  deploycheck.py crds FILE...        ServiceMonitor / PrometheusRule checks
  deploycheck.py extract-quarantine FILE... OUT   the quarantine NetworkPolicy
  deploycheck.py dashboard FILE      Grafana dashboard checks
  deploycheck.py dockerfile FILE     Dockerfile stage checks

The agent DaemonSet's runtime settings (mount propagation, SYS_RESOURCE,
--rules, hostname) are checked per value set by agentcheck.py.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "lanner"
PLAIN_DIR = DEPLOY / "manifests"
PLAIN_VALUES = DEPLOY / "helm" / "plain-values.yaml"
RELEASE = "lanner"
NAMESPACE = "lanner"

# Kinds served by CRDs (Prometheus Operator): no schema in kubernetes-validate,
# unknown to the test API server; checked by `crds` instead.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

PLAIN_HEADER = """\
# Generated from deploy/helm/lanner by xtask/deploy/render.sh (chart defaults
# + deploy/helm/plain-values.yaml, release "lanner", namespace "lanner").
# Do not edit: change the chart and re-render; xtask/deploy/validate.sh fails
# when this file and the chart disagree.

"""

# Value sets every check runs on. "plain" is deploy/manifests/.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "plain": {},  # filled from PLAIN_VALUES
    "full": {
        "namespace": {"create": True},
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "grafanaDashboard": {"enabled": True},
        "imagePullSecrets": [{"name": "regcred"}],
        "agent": {
            "image": {"digest": "sha256:" + "a" * 64},
            "webhookUrl": "https://hooks.example.com/lanner",
            "extraArgs": ["--hold-ms=3000"],
            "sysResource": True,
            "mountPropagation": "HostToContainer",
            "extraEnv": [{"name": "LANNER_LOG", "value": "debug"}],
            "podAnnotations": {"example.com/team": "security"},
            "priorityClassName": "",
        },
        "rules": {"extra": {"60-site.yaml": "- list: site_extra\n  items: [a, b]\n"}},
        "triage": {
            "token": {"value": "0123456789abcdef0123456789abcdef", "secretName": "lanner-shared-token"},
            "reports": {"persistence": {"enabled": True, "storageClass": "nfs"}},
            "policy": {"dryRun": False, "protectedNamespaces": ["kube-system", "monitoring"]},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}]}]}}},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "security", "effect": "NoSchedule"}],
        },
        "llm": {
            "model": {"url": "https://models.example.com/q.gguf", "sha256": "b" * 64},
            "persistence": {"storageClass": "standard"},
        },
        "networkPolicy": {"metricsFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]},
    },
    "minimal": {
        "triage": {"enabled": False},
        "llm": {"enabled": False},
        "networkPolicy": {"enabled": False},
        "rules": {"includeDefaultPack": False, "example": False},
    },
    "external-llm": {
        "llm": {"enabled": False},
        "triage": {"llm": {"url": "http://ollama.ai.svc:11434/v1", "model": "qwen2.5:7b"},
                   "token": {"existingSecret": "my-lanner-token"}},
    },
}

# Metric names the alerts and the dashboard may use. Agent names: agent/src/metrics
# (OpenMetrics: counters end in _total, units are suffixed). Worker names: the
# triage worker's metrics contract (docs/deploy.md). Histograms are listed by base
# name; _bucket/_sum/_count are derived.
AGENT_METRICS = {
    "lanner_events_total", "lanner_decode_errors_total", "lanner_rule_matches_total",
    "lanner_rule_matches_by_tag_total", "lanner_enrichment_holds_total",
    "lanner_enrichment_misses_total", "lanner_sink_queue_depth", "lanner_sink_dropped_total",
    "lanner_sink_sent_total", "lanner_spool_bytes", "lanner_spool_records",
    "lanner_spool_corrupt_records_total", "lanner_triage_connected", "lanner_triage_inflight",
    "lanner_triage_reconnects_total", "lanner_rules_reload_total",
    "lanner_rules_last_reload_timestamp_seconds", "lanner_rules_loaded", "lanner_drop_alerts_total",
    "lanner_protocol_bad_frames_total", "lanner_protocol_server_alerts_total", "lanner_build_info",
    "lanner_kernel_ringbuf_drops_total", "lanner_kernel_str_read_failures_total",
    "lanner_kernel_events_total", "lanner_process_resident_memory_bytes",
    "lanner_process_cpu_seconds_total",
}
AGENT_HISTOGRAMS = {"lanner_alert_latency_seconds", "lanner_enrichment_hold_seconds"}
TRIAGE_METRICS = {"lanner_triage_incidents_total", "lanner_triage_decisions_total",
                  "lanner_triage_llm_requests_total"}
TRIAGE_HISTOGRAMS = {"lanner_triage_mtta_seconds", "lanner_triage_mttr_seconds"}
OTHER_METRICS = {"up"}


def known_metrics() -> set[str]:
    names = set(AGENT_METRICS) | TRIAGE_METRICS | OTHER_METRICS
    for h in AGENT_HISTOGRAMS | TRIAGE_HISTOGRAMS:
        names |= {h + "_bucket", h + "_sum", h + "_count"}
    return names


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------

class Checker:
    """Collects failures; prints one line per failure and a summary."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: list[str] = []
        self.passed = 0

    def ok(self, cond: bool, what: str) -> bool:
        if cond:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"  FAIL {what}")
        return cond

    def done(self) -> int:
        status = "ok" if not self.failures else "FAILED"
        print(f"{self.name}: {self.passed} assertions passed, {len(self.failures)} failed: {status}")
        return 1 if self.failures else 0


def load_docs(paths: Iterable[Path | str]) -> list[tuple[str, dict]]:
    out = []
    for p in paths:
        with open(p) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    out.append((str(p), doc))
    return out


def kn(doc: dict) -> str:
    md = doc.get("metadata", {})
    ns = md.get("namespace")
    return f"{doc.get('kind')}/{(ns + '/') if ns else ''}{md.get('name')}"


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def value_sets() -> dict[str, dict]:
    sets = dict(VALUE_SETS)
    sets["plain"] = yaml.safe_load(PLAIN_VALUES.read_text()) or {}
    return sets


def quiet_helm():
    import helm_python as helm
    return helm


class StderrFilter:
    """Helm's chart loader logs through Go's default logger straight to fd 2
    (not through the SDK's logging bridge): say once per chart load that the
    chart's files/ symlinks were followed (they are meant to be) and pass
    everything else through."""

    NOISE = re.compile(r"INFO found symbolic link in path")

    def __enter__(self):
        import tempfile
        sys.stderr.flush()
        self.tmp = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.tmp.seek(0)
        for line in self.tmp.read().decode(errors="replace").splitlines():
            if not self.NOISE.search(line):
                print(line, file=sys.stderr)
        self.tmp.close()
        return False


def render(values: dict) -> dict[str, str]:
    """Template basename -> rendered text (empty ones and NOTES.txt dropped)."""
    helm = quiet_helm()
    with StderrFilter(), helm.Chart.load(str(CHART)) as chart:
        out = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    result = {}
    for path, text in out.items():
        base = os.path.basename(path)
        if base == "NOTES.txt" or "/charts/" in path:
            continue
        text = text.strip("\n")
        if not any(yaml.safe_load_all(text)):
            continue
        # Each line: no trailing blanks (kubectl and yamllint agree on that).
        text = "\n".join(line.rstrip() for line in text.split("\n"))
        result[base] = text + "\n"
    return result


def split_docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


# ---------------------------------------------------------------------------
# render / plain manifests
# ---------------------------------------------------------------------------

def plain_files(rendered: dict[str, str]) -> dict[str, str]:
    """deploy/manifests layout: relative path -> text."""
    files = {}
    for base, text in rendered.items():
        kinds = {d.get("kind") for d in split_docs(text)}
        if kinds & CRD_KINDS:
            if kinds - CRD_KINDS:
                raise SystemExit(f"{base}: mixes CRD kinds with core kinds")
            rel = f"monitoring/{base}"
        elif base == "namespace.yaml":
            rel = "00-namespace.yaml"
        else:
            rel = base
        files[rel] = PLAIN_HEADER + text
    return files


def cmd_render(args) -> int:
    out = Path(args.out)
    total = 0
    for name, values in value_sets().items():
        d = out / name
        (d / "files").mkdir(parents=True, exist_ok=True)
        rendered = render(values)
        core, crd = [], []
        for base, text in sorted(rendered.items()):
            (d / "files" / base).write_text(text)
            for doc in split_docs(text):
                (crd if doc.get("kind") in CRD_KINDS else core).append(doc)
        (d / "core.yaml").write_text(yaml.safe_dump_all(core, sort_keys=False))
        (d / "crd.yaml").write_text(yaml.safe_dump_all(crd, sort_keys=False))
        if name == "plain":
            pd = d / "plain"
            for rel, text in plain_files(rendered).items():
                (pd / rel).parent.mkdir(parents=True, exist_ok=True)
                (pd / rel).write_text(text)
        print(f"render {name}: {len(core)} core objects, {len(crd)} CRD objects")
        total += 1
    print(f"render: {total} value sets rendered")
    return 0


def cmd_write_plain(args) -> int:
    files = plain_files(render(value_sets()["plain"]))
    for old in list(PLAIN_DIR.glob("*.yaml")) + list(PLAIN_DIR.glob("monitoring/*.yaml")):
        rel = str(old.relative_to(PLAIN_DIR))
        if rel not in files:
            old.unlink()
            print(f"removed {old.relative_to(ROOT)}")
    for rel, text in sorted(files.items()):
        p = PLAIN_DIR / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
            print(f"wrote {p.relative_to(ROOT)}")
    print(f"deploy/manifests: {len(files)} files up to date")
    return 0


def cmd_check_plain(args) -> int:
    c = Checker("plain manifests == chart render")
    want_dir = Path(args.out) / "plain" / "plain"
    want = {str(p.relative_to(want_dir)): p.read_text() for p in want_dir.rglob("*.yaml")}
    have = {str(p.relative_to(PLAIN_DIR)): p.read_text() for p in PLAIN_DIR.rglob("*.yaml")}
    for rel in sorted(set(want) | set(have)):
        if rel not in have:
            c.ok(False, f"deploy/manifests/{rel} missing (run xtask/deploy/render.sh)")
        elif rel not in want:
            c.ok(False, f"deploy/manifests/{rel} is not produced by the chart (run xtask/deploy/render.sh)")
        else:
            c.ok(have[rel] == want[rel], f"deploy/manifests/{rel} differs from the chart (run xtask/deploy/render.sh)")
    return c.done()


def cmd_lint(args) -> int:
    helm = quiet_helm()
    c = Checker("helm lint --strict")
    for name, values in value_sets().items():
        for kv in ("v1.28.0", "v1.33.0"):
            with StderrFilter():
                report = helm.lint(str(CHART), values, strict=True, namespace=NAMESPACE, kube_version=kv)
            bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
            for m in bad:
                print(f"  [{name} {kv}] {m.get('path')}: {m.get('error')}")
            for e in report.get("errors", []):
                print(f"  [{name} {kv}] {e}")
            c.ok(not bad and not report.get("errors"), f"lint {name} (kube {kv})")
    return c.done()


# ---------------------------------------------------------------------------
# security invariants, exact RBAC, references
# ---------------------------------------------------------------------------

AGENT_CAPS = {"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"}
# Added by agent.sysResource (kernels < 5.11); agentcheck.py ties it to the value.
AGENT_OPTIONAL_CAPS = {"SYS_RESOURCE"}
AGENT_HOSTPATHS = {  # host path -> (mount path, read-only)
    "/sys/kernel/btf": ("/sys/kernel/btf", True),
    "/sys/fs/cgroup": ("/sys/fs/cgroup", True),
    "/sys/kernel/tracing": ("/sys/kernel/tracing", True),
    "/var/lib/lanner/spool": ("/var/lib/lanner/spool", False),
}
EXPECTED_RBAC = {
    ("ClusterRole", "agent"): {("", "pods", v, None) for v in ("get", "list", "watch")},
    ("ClusterRole", "triage"): (
        {("", "pods", v, None) for v in ("get", "list", "delete", "patch")}
        | {("networking.k8s.io", "networkpolicies", v, None) for v in ("get", "create", "patch")}
        | {("", "events", "create", None), ("events.k8s.io", "events", "create", None)}
    ),
    ("Role", "triage"): (
        {("coordination.k8s.io", "leases", v, None) for v in ("create", "get", "update", "patch", "list", "delete")}
    ),
}
WORKLOAD_KINDS = {"DaemonSet", "Deployment", "StatefulSet", "Job", "CronJob", "Pod", "ReplicaSet"}


def pod_spec(doc: dict) -> dict | None:
    k = doc.get("kind")
    if k == "Pod":
        return doc.get("spec", {})
    if k == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if k in WORKLOAD_KINDS:
        return doc["spec"]["template"]["spec"]
    return None


def pod_labels(doc: dict) -> dict:
    if doc.get("kind") == "Pod":
        return doc.get("metadata", {}).get("labels", {})
    return doc["spec"]["template"]["metadata"].get("labels", {})


def component(doc: dict) -> str | None:
    return doc.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component")


def rbac_set(doc: dict, lease: str | None) -> set:
    out = set()
    for r in doc.get("rules", []):
        names = r.get("resourceNames") or [None]
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    for n in names:
                        out.add((g, res, v, "LEASE" if (n is not None and n == lease) else n))
    return out


def check_container(c: Checker, where: str, ctr: dict, pod_sc: dict, agent: bool) -> None:
    sc = ctr.get("securityContext", {})
    name = f"{where} container {ctr.get('name')}"
    c.ok(sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem")
    c.ok(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation false")
    c.ok(not sc.get("privileged"), f"{name}: not privileged")
    caps = sc.get("capabilities", {})
    c.ok("ALL" in caps.get("drop", []), f"{name}: drops ALL capabilities")
    added = set(caps.get("add", []) or [])
    if agent:
        c.ok(AGENT_CAPS <= added <= AGENT_CAPS | AGENT_OPTIONAL_CAPS,
             f"{name}: capabilities exactly {sorted(AGENT_CAPS)} (+ {sorted(AGENT_OPTIONAL_CAPS)}) (got {sorted(added)})")
        c.ok("SYS_ADMIN" not in added, f"{name}: no SYS_ADMIN")
    else:
        c.ok(not added, f"{name}: adds no capability (got {sorted(added)})")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        c.ok(non_root is True and uid not in (None, 0), f"{name}: runs as a non-root uid")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    c.ok(seccomp == "RuntimeDefault", f"{name}: seccomp RuntimeDefault")
    res = ctr.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            c.ok(r in res.get(kind, {}), f"{name}: resources.{kind}.{r}")
    image = ctr.get("image", "")
    c.ok(not image.endswith(":latest") and (":" in image.rsplit("/", 1)[-1] or "@" in image),
         f"{name}: image pinned to a tag or digest ({image})")


def cmd_policy(args) -> int:
    c = Checker("security invariants + RBAC + references")
    docs = [d for _, d in load_docs(args.files)]
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    names = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs}

    def exists(kind: str, ns: str | None, name: str) -> bool:
        return (kind, ns, name) in names

    # Workloads.
    for d in docs:
        spec = pod_spec(d)
        if spec is None:
            continue
        where = kn(d)
        agent = d["kind"] == "DaemonSet" and component(d) == "agent"
        c.ok(not spec.get("hostNetwork"), f"{where}: no hostNetwork")
        c.ok(not spec.get("hostIPC"), f"{where}: no hostIPC")
        c.ok(bool(spec.get("hostPID")) == agent, f"{where}: hostPID only for the agent")
        pod_sc = spec.get("securityContext", {})
        ctrs = spec.get("containers", []) + spec.get("initContainers", [])
        for ctr in ctrs:
            check_container(c, where, ctr, pod_sc, agent)
        hostpaths = {v["hostPath"]["path"]: v["name"] for v in spec.get("volumes", []) if "hostPath" in v}
        if agent:
            c.ok(set(hostpaths) == set(AGENT_HOSTPATHS),
                 f"{where}: hostPath volumes exactly {sorted(AGENT_HOSTPATHS)} (got {sorted(hostpaths)})")
            mounts = {m["name"]: m for ctr in ctrs for m in ctr.get("volumeMounts", [])}
            for path, (mpath, ro) in AGENT_HOSTPATHS.items():
                m = mounts.get(hostpaths.get(path, ""), {})
                c.ok(m.get("mountPath") == mpath, f"{where}: {path} mounted at {mpath}")
                c.ok(bool(m.get("readOnly")) == ro, f"{where}: {path} {'read-only' if ro else 'writable'}")
            env = {e["name"]: e for ctr in ctrs for e in ctr.get("env", [])}
            c.ok(env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
                 f"{where}: NODE_NAME from spec.nodeName")
            tol = spec.get("tolerations", [])
            c.ok(any(t.get("operator") == "Exists" and not t.get("key") for t in tol),
                 f"{where}: tolerates every taint")
            strat = d["spec"].get("updateStrategy", {}).get("rollingUpdate", {})
            c.ok(str(strat.get("maxSurge", 0)) in ("0", "0%"), f"{where}: no maxSurge (one agent per spool)")
            args_ = [a for ctr in ctrs for a in ctr.get("args", [])]
            for flag, want in (("--metrics-addr", "0.0.0.0:9376"), ("--spool-dir", "/var/lib/lanner/spool")):
                c.ok(f"{flag}={want}" in args_, f"{where}: {flag}={want}")
            for a in args_:
                m = re.match(r"--triage-addr=tcp://([^.]+)\.([^.]+)\.svc:(\d+)$", a)
                if m:
                    svc = [s for s in by_kind.get("Service", []) if s["metadata"]["name"] == m.group(1)
                           and s["metadata"].get("namespace") == m.group(2)]
                    c.ok(bool(svc) and any(str(p["port"]) == m.group(3) for p in svc[0]["spec"]["ports"]),
                         f"{where}: --triage-addr names an existing Service port ({a})")
        else:
            c.ok(not hostpaths, f"{where}: no hostPath volume")
        # Token automount: only components that call the API server.
        wants_api = component(d) in ("agent", "triage")
        c.ok(spec.get("automountServiceAccountToken") is wants_api,
             f"{where}: automountServiceAccountToken {wants_api}")
        ns = d["metadata"].get("namespace")
        sa = spec.get("serviceAccountName")
        c.ok(bool(sa) and exists("ServiceAccount", ns, sa), f"{where}: ServiceAccount {sa} exists")
        for v in spec.get("volumes", []):
            if "configMap" in v:
                c.ok(exists("ConfigMap", ns, v["configMap"]["name"]), f"{where}: ConfigMap {v['configMap']['name']} exists")
            if "secret" in v:
                sn = v["secret"]["secretName"]
                c.ok(exists("Secret", ns, sn) or sn == "my-lanner-token", f"{where}: Secret {sn} exists")
            if "persistentVolumeClaim" in v:
                cn = v["persistentVolumeClaim"]["claimName"]
                c.ok(exists("PersistentVolumeClaim", ns, cn), f"{where}: PVC {cn} exists")
        for ctr in ctrs:
            vols = {v["name"] for v in spec.get("volumes", [])}
            for m in ctr.get("volumeMounts", []):
                c.ok(m["name"] in vols, f"{where}: mount {m['name']} has a volume")
            for probe in ("livenessProbe", "readinessProbe"):
                if ctr in spec.get("containers", []):
                    c.ok(probe in ctr, f"{where} container {ctr['name']}: {probe}")
        sel = (d.get("spec", {}).get("selector") or {}).get("matchLabels", {})
        labels = pod_labels(d)
        c.ok(sel.items() <= labels.items(), f"{where}: selector matches the pod template labels")

    # RBAC: exact rule sets, no wildcard, no secrets.
    lease = None
    for d in by_kind.get("Deployment", []):
        for ctr in pod_spec(d)["containers"]:
            for a in ctr.get("args", []):
                if a.startswith("--lease-name="):
                    lease = a.split("=", 1)[1]
    for kind in ("ClusterRole", "Role"):
        for d in by_kind.get(kind, []):
            got = rbac_set(d, lease)
            flat = json.dumps(d.get("rules", []))
            c.ok('"*"' not in flat, f"{kn(d)}: no wildcard")
            c.ok('"secrets"' not in flat, f"{kn(d)}: no access to secrets")
            want = EXPECTED_RBAC.get((kind, component(d)))
            c.ok(want is not None, f"{kn(d)}: an expected {kind} of a known component")
            if want is not None:
                c.ok(got == want, f"{kn(d)}: rules exactly as designed "
                     f"(extra {sorted(got - want, key=str)}, missing {sorted(want - got, key=str)})")
    for kind, ref_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        for d in by_kind.get(kind, []):
            ref = d["roleRef"]
            c.ok(ref["kind"] == ref_kind and exists(ref_kind, d["metadata"].get("namespace") if ref_kind == "Role" else None,
                                                   ref["name"]), f"{kn(d)}: roleRef {ref['name']} exists")
            for s in d.get("subjects", []):
                c.ok(s["kind"] == "ServiceAccount" and exists("ServiceAccount", s["namespace"], s["name"]),
                     f"{kn(d)}: subject {s.get('name')} is one of the chart's ServiceAccounts")
            if ref_kind == "ClusterRole":
                c.ok(ref["name"] not in ("cluster-admin", "admin", "edit", "view"), f"{kn(d)}: no built-in role")

    # Services: select a workload, named target ports exist.
    workloads = [d for d in docs if pod_spec(d) is not None]
    for s in by_kind.get("Service", []):
        sel = s["spec"].get("selector", {})
        matches = [w for w in workloads if w["metadata"].get("namespace") == s["metadata"].get("namespace")
                   and sel and sel.items() <= pod_labels(w).items()]
        c.ok(bool(matches), f"{kn(s)}: selects a workload of the chart")
        ports = {p.get("name") for w in matches for ctr in pod_spec(w)["containers"] for p in ctr.get("ports", [])}
        for p in s["spec"]["ports"]:
            tp = p.get("targetPort")
            if isinstance(tp, str):
                c.ok(tp in ports, f"{kn(s)}: targetPort {tp} is a container port")

    # NetworkPolicies: select pods of the chart; named ports exist on them.
    for n in by_kind.get("NetworkPolicy", []):
        sel = n["spec"]["podSelector"].get("matchLabels", {})
        matches = [w for w in workloads if sel.items() <= pod_labels(w).items()]
        c.ok(bool(matches), f"{kn(n)}: selects a workload of the chart")
        ports = {p.get("name") for w in matches for ctr in pod_spec(w)["containers"] for p in ctr.get("ports", [])}
        for rule in n["spec"].get("ingress", []):
            for p in rule.get("ports", []):
                if isinstance(p.get("port"), str):
                    c.ok(p["port"] in ports, f"{kn(n)}: port {p['port']} is a container port of the selected pods")
            for peer in rule.get("from", []):
                psel = peer.get("podSelector", {}).get("matchLabels")
                if psel and "namespaceSelector" not in peer:
                    c.ok(any(psel.items() <= pod_labels(w).items() for w in workloads),
                         f"{kn(n)}: peer selector matches a workload of the chart")

    # PDBs select a workload.
    for p in by_kind.get("PodDisruptionBudget", []):
        sel = p["spec"]["selector"]["matchLabels"]
        c.ok(any(sel.items() <= pod_labels(w).items() for w in workloads), f"{kn(p)}: selects a workload")

    # Namespaced objects live in the release namespace; no default namespace.
    for d in docs:
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            c.ok(d["metadata"].get("namespace") == NAMESPACE, f"{kn(d)}: in namespace {NAMESPACE}")
    # The triage policy protects the release namespace.
    for cm in by_kind.get("ConfigMap", []):
        cm["data"] = cm.get("data") or {}
        if "policy.yaml" in cm["data"]:
            pol = yaml.safe_load(cm["data"]["policy.yaml"])
            guard = pol.get("guard", {})
            c.ok(NAMESPACE in guard.get("protected_namespaces", []), f"{kn(cm)}: policy protects {NAMESPACE}")
            c.ok(isinstance(pol.get("dry_run"), bool), f"{kn(cm)}: policy dry_run is a boolean")
            acts = {"ignore", "escalate", "quarantine_pod", "delete_pod"}
            c.ok(bool(pol.get("rules")) and all(r.get("action") in acts for r in pol["rules"]),
                 f"{kn(cm)}: policy rules present, actions known")
        for key, text in cm.get("data", {}).items():
            if key.endswith((".yaml", ".yml")):
                err = ""
                try:
                    list(yaml.safe_load_all(text))
                except yaml.YAMLError as e:
                    err = str(e).replace("\n", " ")
                c.ok(not err, f"{kn(cm)}: {key} is valid YAML {err}")
    return c.done()


def cmd_extract_quarantine(args) -> int:
    """Write the reference quarantine NetworkPolicy of each ConfigMap to OUT."""
    out = Path(args.files[-1])
    docs = load_docs(args.files[:-1])
    found = []
    for _, d in docs:
        text = d.get("data", {}).get("quarantine-networkpolicy.yaml") if d.get("kind") == "ConfigMap" else None
        if text:
            pol = yaml.safe_load(text)
            pol["metadata"]["namespace"] = "example"
            found.append(pol)
            sel = pol["spec"]["podSelector"]["matchLabels"]
            ok = (pol["kind"] == "NetworkPolicy" and set(pol["spec"]["policyTypes"]) == {"Ingress", "Egress"}
                  and not pol["spec"].get("ingress") and not pol["spec"].get("egress") and len(sel) == 1)
            if not ok:
                print(f"FAIL {kn(d)}: quarantine policy must select one label and deny all ingress and egress")
                return 1
    out.write_text(yaml.safe_dump_all(found, sort_keys=False))
    print(f"quarantine NetworkPolicy: {len(found)} extracted (deny-all ingress+egress) to {out}")
    return 0 if found else 1


# ---------------------------------------------------------------------------
# CRD objects: ServiceMonitor, PrometheusRule
# ---------------------------------------------------------------------------

# The subset of the Prometheus Operator's v1 schemas that Lanner uses or may
# reasonably use; anything else is flagged (typos would otherwise pass: the
# real CRD prunes unknown fields silently).
SM_SPEC = {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels",
           "sampleLimit", "attachMetadata"}
SM_ENDPOINT = {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "relabelings",
               "metricRelabelings", "honorLabels", "honorTimestamps", "tlsConfig", "bearerTokenFile",
               "authorization", "params", "followRedirects", "enableHttp2", "filterRunning"}
RELABEL = {"sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement", "action"}
RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
GRAFANA_VARS = {r"\$__rate_interval": "5m", r"\$__interval": "1m", r"\$__range": "1h",
                r"\$\{?node\}?": "node-1", r"\$\{?namespace\}?": "lanner", r"\$\{?job\}?": "lanner-agent",
                r"\$\{?[a-zA-Z_]+\}?": "x"}


def promql_metrics(expr_obj) -> set[str]:
    """Metric names used by a parsed promql_parser expression. Its canonical
    text form writes every vector selector as name{matchers}, and nothing
    else is followed by a brace."""
    return {m.group(1) for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", str(expr_obj))}


def check_promql(c: Checker, where: str, expr: str) -> None:
    import promql_parser
    try:
        parsed = promql_parser.parse(expr)
    except Exception as e:  # the parser raises plain exceptions
        c.ok(False, f"{where}: PromQL does not parse: {e}: {expr}")
        return
    c.ok(True, where)
    used = promql_metrics(parsed)
    unknown = used - known_metrics()
    c.ok(not unknown, f"{where}: unknown metric(s) {sorted(unknown)}")
    c.ok(bool(used), f"{where}: selects a metric")


def cmd_crds(args) -> int:
    c = Checker("CRD objects (ServiceMonitor, PrometheusRule)")
    docs = [d for _, d in load_docs(args.files)]
    services = [d for d in docs if d["kind"] == "Service"]
    for d in docs:
        if d["kind"] not in CRD_KINDS:
            continue
        where = kn(d)
        c.ok(d["apiVersion"] == "monitoring.coreos.com/v1", f"{where}: apiVersion monitoring.coreos.com/v1")
        c.ok(set(d) <= {"apiVersion", "kind", "metadata", "spec"}, f"{where}: top-level fields")
        spec = d.get("spec", {})
        if d["kind"] == "ServiceMonitor":
            c.ok(set(spec) <= SM_SPEC, f"{where}: spec fields {sorted(set(spec) - SM_SPEC)} unknown")
            sel = spec.get("selector", {}).get("matchLabels", {})
            nss = spec.get("namespaceSelector", {}).get("matchNames", [d["metadata"]["namespace"]])
            svcs = [s for s in services if s["metadata"]["namespace"] in nss
                    and sel and sel.items() <= s["metadata"].get("labels", {}).items()]
            c.ok(len(svcs) == 1, f"{where}: selects exactly one Service of the chart (got {len(svcs)})")
            ports = {p.get("name") for s in svcs for p in s["spec"]["ports"]}
            for ep in spec.get("endpoints", []):
                c.ok(set(ep) <= SM_ENDPOINT, f"{where}: endpoint fields {sorted(set(ep) - SM_ENDPOINT)} unknown")
                c.ok(ep.get("port") in ports, f"{where}: endpoint port {ep.get('port')} is a Service port")
                for k in ("interval", "scrapeTimeout"):
                    if k in ep:
                        c.ok(bool(DURATION.match(str(ep[k]))), f"{where}: {k} {ep[k]} is a duration")
                for r in ep.get("relabelings", []) + ep.get("metricRelabelings", []):
                    c.ok(set(r) <= RELABEL, f"{where}: relabeling fields {sorted(set(r) - RELABEL)} unknown")
        else:
            c.ok(set(spec) == {"groups"}, f"{where}: spec has groups only")
            gnames = [g["name"] for g in spec.get("groups", [])]
            c.ok(len(gnames) == len(set(gnames)), f"{where}: group names unique")
            alerts = []
            for g in spec.get("groups", []):
                c.ok(set(g) <= {"name", "interval", "rules", "limit", "partial_response_strategy"},
                     f"{where}: group {g.get('name')} fields")
                for r in g.get("rules", []):
                    rn = r.get("alert") or r.get("record")
                    w = f"{where}: {rn}"
                    alerts.append(rn)
                    c.ok(set(r) <= RULE_KEYS, f"{w}: fields {sorted(set(r) - RULE_KEYS)} unknown")
                    c.ok(("alert" in r) != ("record" in r), f"{w}: exactly one of alert/record")
                    if "for" in r:
                        c.ok(bool(DURATION.match(str(r["for"]))), f"{w}: for {r['for']} is a duration")
                    check_promql(c, f"{w}: expr", str(r.get("expr", "")))
                    if "alert" in r:
                        c.ok(r.get("labels", {}).get("severity") in ("critical", "warning", "info"),
                             f"{w}: severity label")
                        ann = r.get("annotations", {})
                        c.ok({"summary", "description"} <= set(ann), f"{w}: summary and description")
                        for k, v in ann.items():
                            c.ok(v.count("{{") == v.count("}}") and ".Values" not in v and "`" not in v,
                                 f"{w}: annotation {k} has well-formed Prometheus templates")
            c.ok(len(alerts) == len(set(alerts)), f"{where}: alert names unique")
    return c.done()


# ---------------------------------------------------------------------------
# Grafana dashboard
# ---------------------------------------------------------------------------

REQUIRED_PANELS = [  # (what, regex on title)
    ("events by type", r"(?i)events"),
    ("kernel drops by probe", r"(?i)drop.*probe|probe.*drop"),
    ("alerts by rule", r"(?i)alerts.*rule"),
    ("alerts by priority", r"(?i)priority"),
    ("alerts by MITRE tag", r"(?i)mitre"),
    ("alert latency", r"(?i)latency"),
    ("MTTA", r"MTTA"),
    ("MTTR", r"MTTR"),
    ("decisions by action", r"(?i)decisions.*action"),
    ("decisions by source", r"(?i)decisions.*source"),
    ("false-positive rate", r"(?i)false.positive"),
    ("spool bytes", r"(?i)spool"),
    ("sink drops", r"(?i)sink.*drop|dropped alerts"),
    ("logs", r"(?i)log"),
]


def all_panels(dash: dict) -> list[dict]:
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def cmd_dashboard(args) -> int:
    c = Checker("Grafana dashboard")
    try:
        dash = json.loads(Path(args.file).read_text())
    except json.JSONDecodeError as e:
        c.ok(False, f"{args.file}: not JSON: {e}")
        return c.done()
    c.ok(36 <= dash.get("schemaVersion", 0) <= 41, f"schemaVersion {dash.get('schemaVersion')} in 36..41")
    c.ok(bool(dash.get("uid")) and len(dash["uid"]) <= 40, "uid set (<= 40 chars)")
    c.ok(dash.get("id") is None, "id null (importable anywhere)")
    tvars = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds_vars = {n: v.get("query") for n, v in tvars.items() if v.get("type") == "datasource"}
    c.ok("prometheus" in ds_vars.values(), "a Prometheus datasource variable")
    c.ok("loki" in ds_vars.values(), "a Loki datasource variable")
    prom_var = next((n for n, q in ds_vars.items() if q == "prometheus"), "")
    loki_var = next((n for n, q in ds_vars.items() if q == "loki"), "")
    for n, v in tvars.items():
        if v.get("type") == "query":
            uid = v.get("datasource", {}).get("uid", "")
            c.ok(uid in (f"${{{prom_var}}}", f"${prom_var}"), f"variable {n} queries the Prometheus variable")
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else q
            m = re.match(r"label_values\((.*),\s*(\w+)\)$", q or "")
            c.ok(bool(m), f"variable {n}: label_values(...) query")
            if m and m.group(1).strip():
                check_promql(c, f"variable {n}", m.group(1))
    panels = all_panels(dash)
    ids = [p.get("id") for p in panels]
    c.ok(len(ids) == len(set(ids)) and None not in ids, "panel ids unique")
    rects = []
    for p in panels:
        where = f"panel {p.get('id')} '{p.get('title')}'"
        gp = p.get("gridPos", {})
        c.ok(all(k in gp for k in ("h", "w", "x", "y")) and gp.get("x", 0) + gp.get("w", 0) <= 24,
             f"{where}: gridPos within 24 columns")
        if p.get("type") == "row":
            continue
        rects.append((gp.get("x", 0), gp.get("y", 0), gp.get("w", 0), gp.get("h", 0), where))
        uid = p.get("datasource", {}).get("uid", "")
        is_loki = uid in (f"${{{loki_var}}}", f"${loki_var}")
        c.ok(is_loki or uid in (f"${{{prom_var}}}", f"${prom_var}"), f"{where}: datasource is a dashboard variable")
        targets = p.get("targets", [])
        c.ok(bool(targets), f"{where}: has queries")
        refs = [t.get("refId") for t in targets]
        c.ok(len(refs) == len(set(refs)), f"{where}: refIds unique")
        for t in targets:
            expr = t.get("expr", "")
            if is_loki:
                c.ok('{app="lanner"' in expr and "| json" in expr, f"{where}: LogQL selects app=lanner | json")
                continue
            for pat, rep in GRAFANA_VARS.items():
                expr = re.sub(pat, rep, expr)
            check_promql(c, f"{where} {t.get('refId')}", expr)
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            overlap = a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
            c.ok(not overlap, f"{a[4]} and {b[4]} do not overlap")
    titles = [p.get("title", "") for p in panels]
    for what, pat in REQUIRED_PANELS:
        c.ok(any(re.search(pat, t) for t in titles), f"a panel for {what}")
    # The false-positive rate is the ratio asked for.
    fp = [t.get("expr", "") for p in panels if re.search(r"(?i)false.positive", p.get("title", ""))
          for t in p.get("targets", [])]
    c.ok(any('classification="false_positive"' in e and "/" in e and "lanner_triage_incidents_total" in e
             for e in fp), "false-positive rate = false_positive incidents / all incidents")
    for h in ("lanner_triage_mtta_seconds_bucket", "lanner_triage_mttr_seconds_bucket"):
        exprs = [t.get("expr", "") for p in panels for t in p.get("targets", [])]
        c.ok(any("histogram_quantile" in e and h in e for e in exprs), f"histogram_quantile over {h}")
    return c.done()


# ---------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------

def cmd_dockerfile(args) -> int:
    import dockerfile
    c = Checker("Dockerfile")
    cmds = dockerfile.parse_file(args.file)
    stages: dict[str, list] = {}
    cur = None
    args_global = {}
    for cmd in cmds:
        if cmd.cmd == "ARG" and cur is None:
            k, _, v = cmd.value[0].partition("=")
            args_global[k] = v
        if cmd.cmd == "FROM":
            v = list(cmd.value)
            name = v[2].lower() if len(v) >= 3 and v[1].upper() == "AS" else f"#{len(stages)}"
            cur = name
            stages[cur] = [cmd]
        elif cur is not None:
            stages[cur].append(cmd)

    def resolve(s: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args_global.get(m.group(1), m.group(0)), s)

    c.ok({"builder", "agent", "triage"} <= set(stages), f"stages builder, agent, triage (got {sorted(stages)})")
    base = {n: resolve(s[0].value[0]) for n, s in stages.items()}
    c.ok(base.get("builder", "").startswith("rust:1.95"), f"builder FROM rust:1.95 (got {base.get('builder')})")
    # Both images are the rootfs stage's files on scratch: the content xtask/kube/image.sh builds.
    c.ok(base.get("rootfs") == "builder", f"rootfs stage FROM builder (got {base.get('rootfs')})")
    rootfs_runs = " ".join(" ".join(x.value) for x in stages.get("rootfs", []) if x.cmd == "RUN")
    for what in ("ldd /out/lanner", "ca-certificates", "/rootfs/etc/passwd", "/rootfs/usr/local/bin/lanner"):
        c.ok(what in rootfs_runs, f"rootfs stage: {what}")
    for n in ("agent", "triage"):
        c.ok(base.get(n) == "scratch", f"{n} FROM scratch + the rootfs stage (got {base.get(n)})")
    runs = " ".join(" ".join(x.value) for x in stages.get("builder", []) if x.cmd == "RUN")
    c.ok("xtask/bootstrap.sh" in runs, "builder runs xtask/bootstrap.sh")
    c.ok(re.search(r"cargo build[^&;]*--release[^&;]*-p lanner", runs) is not None, "builder runs cargo build --release -p lanner")
    for n in ("agent", "triage"):
        st = stages.get(n, [])
        users = [x.value[0] for x in st if x.cmd == "USER"]
        ep = [x for x in st if x.cmd == "ENTRYPOINT"]
        c.ok(bool(ep) and ep[-1].json, f"{n}: ENTRYPOINT in exec form")
        copies = [x for x in st if x.cmd == "COPY" and any(f.startswith("--from=") for f in x.flags)]
        c.ok(all(f.split("=", 1)[1].lower() in stages for x in copies for f in x.flags if f.startswith("--from=")),
             f"{n}: COPY --from names a stage")
        c.ok(any(f == "--from=rootfs" for x in copies for f in x.flags), f"{n}: copies the rootfs stage (the lanner binary)")
        if n == "triage":
            c.ok(bool(users) and users[-1].split(":")[0] not in ("0", "root"), f"triage: non-root USER (got {users})")
        else:
            c.ok(not users or users[-1].split(":")[0] in ("0", "root"), "agent: runs as root (loads BPF)")
    return c.done()


# ---------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("render"); p.add_argument("out"); p.set_defaults(fn=cmd_render)
    p = sub.add_parser("write-plain"); p.set_defaults(fn=cmd_write_plain)
    p = sub.add_parser("check-plain"); p.add_argument("out"); p.set_defaults(fn=cmd_check_plain)
    p = sub.add_parser("lint"); p.set_defaults(fn=cmd_lint)
    for name, fn in (("policy", cmd_policy), ("crds", cmd_crds), ("extract-quarantine", cmd_extract_quarantine)):
        p = sub.add_parser(name); p.add_argument("files", nargs="+"); p.set_defaults(fn=fn)
    p = sub.add_parser("dashboard"); p.add_argument("file"); p.set_defaults(fn=cmd_dashboard)
    p = sub.add_parser("dockerfile"); p.add_argument("file"); p.set_defaults(fn=cmd_dockerfile)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
