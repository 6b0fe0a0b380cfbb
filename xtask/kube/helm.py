#!/usr/bin/env python3
"""`helm install|upgrade|uninstall` for the test cluster, through Helm's own v4 SDK.

No helm binary is published in any registry this machine can reach; the
PyPI package helm-python-sdk (already used by xtask/deploy/validate.sh, same
venv) binds Helm's Go SDK, so this is the code path of `helm install`:
chart loading, value merging, rendering, release storage (Secrets), apply.

  helm.py install   --kubeconfig F --namespace NS --release R --chart DIR --values V.yaml [--create-namespace]
  helm.py upgrade   --kubeconfig F --namespace NS --release R --chart DIR --values V.yaml
  helm.py uninstall --kubeconfig F --namespace NS --release R
"""

import argparse
import sys

import helm_python as helm
import yaml


def main():
    p = argparse.ArgumentParser()
    p.add_argument("action", choices=["install", "upgrade", "uninstall"])
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--namespace", required=True)
    p.add_argument("--release", required=True)
    p.add_argument("--chart")
    p.add_argument("--values", action="append", default=[])
    p.add_argument("--create-namespace", action="store_true")
    a = p.parse_args()
    values = {}
    for path in a.values:
        with open(path) as f:
            merge(values, yaml.safe_load(f) or {})
    cfg = helm.Config(kubeconfig_path=a.kubeconfig, namespace=a.namespace)
    try:
        if a.action == "install":
            rel = cfg.install(a.chart, a.release, values, namespace=a.namespace,
                              create_namespace=a.create_namespace, timeout=120)
        elif a.action == "upgrade":
            rel = cfg.upgrade(a.chart, a.release, values, namespace=a.namespace, timeout=120)
        else:
            rel = cfg.uninstall(a.release, ignore_not_found=True, timeout=120)
    except helm.HelmError as e:
        sys.exit(f"helm {a.action} {a.release}: {e}")
    info = rel.get("info") if isinstance(rel, dict) else None
    status = info.get("status") if isinstance(info, dict) else info
    print(f"helm {a.action} {a.release} (namespace {a.namespace}): {status or 'done'}"
          + (f", revision {rel.get('version')}" if isinstance(rel, dict) and rel.get("version") else ""))


def merge(dst, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            merge(dst[k], v)
        else:
            dst[k] = v


if __name__ == "__main__":
    main()
