#!/usr/bin/env bash
# Validate Lanner's deployment artefacts (deploy/): offline, from PyPI and Debian only.
#
#   xtask/deploy/validate.sh            run every check, print one line per check and
#                                       `deploy: N checks passed, M failed`; exit 1 on any failure
#
# Checks (docs/deploy.md, "What the validation covers"):
#   yamllint          deploy/ (config deploy/.yamllint) and every chart render, --strict
#   render            the chart under 5 value sets (defaults, plain, full, minimal, external-llm)
#   plain drift       deploy/manifests/ == the chart rendered with deploy/helm/plain-values.yaml
#   helm lint         --strict, each value set, deprecated-API rules for Kubernetes 1.28 and 1.33
#                     (helm-python-sdk: Helm's v4 SDK, no helm binary)
#   kubernetes-validate --strict, Kubernetes 1.28 ... 1.33, on deploy/manifests/, on every
#                     render and on the quarantine NetworkPolicy the worker creates. CRD kinds
#                     (ServiceMonitor, PrometheusRule) have no schema there: they are split out
#                     and checked by `crds` (fields, selectors, PromQL, metric names) instead
#   policy            security invariants, exact RBAC, cross-references (deploycheck.py)
#   agent as run      per value set: mount propagation, SYS_RESOURCE, --rules loads the mounted
#                     rules ConfigMap, alerts' hostname from spec.nodeName (agentcheck.py); with a
#                     built lanner binary ($LANNER_BIN, target/{release,debug}/lanner) it also
#                     loads the ConfigMap's rule files as the kubelet projects them
#   dashboard         deploy/grafana/lanner-dashboard.json (JSON, variables, PromQL, panels)
#   Dockerfile        stages and users (deploycheck.py) + checkov --framework dockerfile
#   checkov           --framework kubernetes --skip-download, skips justified in deploy/.checkov.yaml
#   kubectl           apply --dry-run=server against the test API server when
#                     $LANNER_KUBE_DIR/admin.kubeconfig exists (xtask/kube/kube.sh up)
#
# Environment: LANNER_CACHE (venv: $LANNER_CACHE/deploy-venv), LANNER_KUBE_DIR (/tmp/lanner-kube),
# DEPLOY_K8S_VERSIONS (default "1.28.0 1.29.0 1.30.0 1.31.0 1.32.0 1.33.0").
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

KUBE_DIR=${LANNER_KUBE_DIR:-/tmp/lanner-kube}
read -r -a K8S_VERSIONS <<<"${DEPLOY_K8S_VERSIONS:-1.28.0 1.29.0 1.30.0 1.31.0 1.32.0 1.33.0}"
SETS=(defaults plain full minimal external-llm)

cd "$ROOT"
ensure_venv || { echo "deploy: 0 checks passed, 1 failed"; exit 1; }
PY="$DEPLOY_VENV/bin/python"
BIN="$DEPLOY_VENV/bin"
CHECK="$HERE/deploycheck.py"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lanner-deploy.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

PASSED=0
FAILED=0
N=0
# check NAME CMD...: run CMD, print "ok" with its last output line, or "FAIL" with the
# tail of its output.
check() {
    local name=$1; shift
    N=$((N + 1))
    local log="$WORK/check.$N.log"
    if "$@" >"$log" 2>&1; then
        PASSED=$((PASSED + 1))
        local last
        last=$(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-110)
        printf 'ok    %-52s %s\n' "$name" "${last:-(no findings)}"
    else
        FAILED=$((FAILED + 1))
        printf 'FAIL  %s\n' "$name"
        grep -v '^\s*$' "$log" | tail -n 40 | sed 's/^/      /'
    fi
}

# kubernetes-validate prints nothing with --quiet when every object validates; a WARN
# (no schema: unknown kind or apiVersion) fails too, since CRD kinds are split out.
kubeval() {
    local version=$1; shift
    local out rc
    out=$("$BIN/kubernetes-validate" --strict --quiet -k "$version" "$@" 2>&1); rc=$?
    if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
        printf '%s\n' "$out"
        return 1
    fi
    local n
    n=$("$PY" -c 'import sys, yaml; print(sum(1 for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d))' "$@")
    echo "$n objects valid against Kubernetes $version (strict)"
}

yamllint_sets() {
    local s
    for s in "${SETS[@]}"; do
        "$BIN/yamllint" --strict -c deploy/.yamllint "$WORK/r/$s/files" || return 1
    done
    echo "${#SETS[@]} renders clean"
}

# Run a deploycheck.py subcommand on deploy/manifests/ and on every render; sum up.
on_all() {
    local sub=$1 s n total=0
    shift
    "$PY" "$CHECK" "$sub" deploy/manifests/*.yaml deploy/manifests/monitoring/*.yaml >"$WORK/$sub.out" \
        || { cat "$WORK/$sub.out"; return 1; }
    total=$(sed -n 's/.*: \([0-9]*\) assertions passed.*/\1/p' "$WORK/$sub.out")
    for s in "${SETS[@]}"; do
        "$PY" "$CHECK" "$sub" "$WORK/r/$s/core.yaml" "$WORK/r/$s/crd.yaml" >"$WORK/$sub.out" \
            || { sed "s/^/[$s] /" "$WORK/$sub.out"; return 1; }
        n=$(sed -n 's/.*: \([0-9]*\) assertions passed.*/\1/p' "$WORK/$sub.out")
        total=$((total + n))
    done
    echo "$total assertions passed on deploy/manifests + ${#SETS[@]} renders"
}

# A built lanner binary, if any: agentcheck.py then loads the mounted rules with it.
find_lanner() {
    local t=${CARGO_TARGET_DIR:-$ROOT/target} b
    for b in "${LANNER_BIN:-}" "$t/release/lanner" "$t/debug/lanner"; do
        if [ -n "$b" ] && [ -x "$b" ]; then echo "$b"; return 0; fi
    done
    return 1
}

# agentcheck.py on deploy/manifests/ (value set "plain") and on every render.
agent_checks() {
    local s n total=0 lanner=() bin
    if bin=$(find_lanner); then lanner=(--lanner "$bin"); fi
    "$PY" "$HERE/agentcheck.py" plain deploy/manifests/*.yaml "${lanner[@]}" >"$WORK/agent.out" \
        || { cat "$WORK/agent.out"; return 1; }
    total=$(sed -n 's/.*: \([0-9]*\) assertions passed.*/\1/p' "$WORK/agent.out")
    for s in "${SETS[@]}"; do
        "$PY" "$HERE/agentcheck.py" "$s" "$WORK/r/$s/core.yaml" "${lanner[@]}" >"$WORK/agent.out" \
            || { sed "s/^/[$s] /" "$WORK/agent.out"; return 1; }
        n=$(sed -n 's/.*: \([0-9]*\) assertions passed.*/\1/p' "$WORK/agent.out")
        total=$((total + n))
    done
    local how="rules loaded by ${bin:-}"
    [ ${#lanner[@]} -gt 0 ] || how="no lanner binary built: rules not loaded"
    echo "$total assertions passed on deploy/manifests + ${#SETS[@]} renders ($how)"
}

checkov_run() {
    # checkov exits 1 on failed checks; its compact output lists them.
    "$BIN/checkov" --config-file deploy/.checkov.yaml "$@" 2>&1 | grep -v '^\s*$' \
        | grep -vE 'found symbolic link|^\[|^ *\\' ; return "${PIPESTATUS[0]}"
}

# kubectl 1.20 (matches the test API server): the one xtask/kube/kube.sh fetched from
# Debian's kubernetes-client package, else that package unpacked into the cache here.
find_kubectl() {
    local k
    for k in "$KUBE_DIR/bin/kubectl" "$DEPLOY_CACHE"/kube/*/kubectl "$DEPLOY_CACHE/deploy-kubectl/usr/bin/kubectl"; do
        [ -x "$k" ] && { echo "$k"; return 0; }
    done
    local dir="$DEPLOY_CACHE/deploy-kubectl" tmp
    tmp=$(mktemp -d)
    dlog "fetching kubectl from Debian's kubernetes-client package"
    if ! (cd "$tmp" && apt-get download -q kubernetes-client >/dev/null 2>&1); then
        apt-get update -q >/dev/null 2>&1
        (cd "$tmp" && apt-get download -q kubernetes-client >/dev/null 2>&1) || { rm -rf "$tmp"; return 1; }
    fi
    mkdir -p "$dir" && dpkg -x "$tmp"/kubernetes-client_*.deb "$dir" && rm -rf "$tmp"
    [ -x "$dir/usr/bin/kubectl" ] && echo "$dir/usr/bin/kubectl"
}

# Server-side dry run of deploy/manifests/ against the real kube-apiserver. Objects of an
# apiVersion the server does not serve are left out with a note: the Prometheus
# Operator CRDs (not installed there) and, on the 1.20 test server, policy/v1.
kubectl_dry_run() {
    local kubectl=$1 cfg="$KUBE_DIR/admin.kubeconfig"
    shift
    local served="$WORK/api-versions" keep="$WORK/dryrun.yaml"
    "$kubectl" --kubeconfig "$cfg" api-versions >"$served" || return 1
    "$PY" - "$served" "$keep" "$@" <<'EOF' || return 1
import sys, yaml
served = set(open(sys.argv[1]).read().split())
keep = []
for path in sys.argv[3:]:
    for d in yaml.safe_load_all(open(path)):
        if not d:
            continue
        name = f"{d['kind']}/{d['metadata']['name']}"
        if d["apiVersion"] in served:
            keep.append(d)
        elif d["apiVersion"].startswith("monitoring.coreos.com/"):
            print(f"note: {name} skipped: CRD {d['apiVersion']} is not installed on the test API server")
        else:
            print(f"note: {name} skipped: {d['apiVersion']} is not served by the test API server")
yaml.safe_dump_all(keep, open(sys.argv[2], "w"), sort_keys=False)
print(f"{len(keep)} objects for the dry run")
EOF
    # Namespaced objects need their namespace to exist; the dry run of everything else
    # persists nothing. Created for real when missing (the tests apply it the same way).
    if ! "$kubectl" --kubeconfig "$cfg" get namespace lanner >/dev/null 2>&1; then
        echo "note: creating namespace lanner on the test API server (needed by the dry run)"
        "$kubectl" --kubeconfig "$cfg" create namespace lanner || return 1
    fi
    local out
    out=$("$kubectl" --kubeconfig "$cfg" apply --dry-run=server -f "$keep" 2>&1) || { printf '%s\n' "$out"; return 1; }
    printf '%s\n' "$out" | sed 's/^/  /'
    echo "$(printf '%s\n' "$out" | grep -c 'server dry run') objects accepted by kube-apiserver $("$kubectl" --kubeconfig "$cfg" version -o json 2>/dev/null | "$PY" -c 'import sys, json; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
}

echo "deploy: validating deploy/ (venv $DEPLOY_VENV)"
check "yamllint deploy/" "$BIN/yamllint" --strict -c deploy/.yamllint deploy/
check "render chart (${#SETS[@]} value sets)" "$PY" "$CHECK" render "$WORK/r"
check "deploy/manifests/ matches the chart" "$PY" "$CHECK" check-plain "$WORK/r"
check "yamllint chart renders" yamllint_sets
check "helm lint --strict (value sets x 1.28/1.33)" "$PY" "$CHECK" lint
check "quarantine NetworkPolicy (from the worker config)" \
    "$PY" "$CHECK" extract-quarantine deploy/manifests/triage-configmap.yaml "$WORK/quarantine.yaml"
CORE_RENDERS=()
for s in "${SETS[@]}"; do CORE_RENDERS+=("$WORK/r/$s/core.yaml"); done
for v in "${K8S_VERSIONS[@]}"; do
    check "kubernetes-validate --strict $v: deploy/manifests" kubeval "$v" deploy/manifests/*.yaml "$WORK/quarantine.yaml"
    check "kubernetes-validate --strict $v: chart renders" kubeval "$v" "${CORE_RENDERS[@]}"
done
check "CRD objects: ServiceMonitor, PrometheusRule" on_all crds
check "security invariants, exact RBAC, references" on_all policy
check "agent as run: propagation, caps, --rules, hostname" agent_checks
check "Grafana dashboard" "$PY" "$CHECK" dashboard deploy/grafana/lanner-dashboard.json
check "Dockerfile stages" "$PY" "$CHECK" dockerfile deploy/docker/Dockerfile
check "checkov kubernetes: deploy/manifests" checkov_run --framework kubernetes -d deploy/manifests
check "checkov kubernetes: chart render (full)" checkov_run --framework kubernetes -d "$WORK/r/full/files"
check "checkov dockerfile" checkov_run --framework dockerfile -f deploy/docker/Dockerfile

if [ -f "$KUBE_DIR/admin.kubeconfig" ]; then
    if KUBECTL=$(find_kubectl); then
        check "kubectl apply --dry-run=server: deploy/manifests" kubectl_dry_run "$KUBECTL" \
            deploy/manifests/*.yaml deploy/manifests/monitoring/*.yaml
        check "kubectl apply --dry-run=server: chart render (full)" kubectl_dry_run "$KUBECTL" \
            "$WORK/r/full/core.yaml" "$WORK/r/full/crd.yaml"
    else
        check "kubectl from Debian's kubernetes-client" false
    fi
else
    echo "note: $KUBE_DIR/admin.kubeconfig not found: server-side dry run skipped (xtask/kube/kube.sh up)"
fi

echo "deploy: $PASSED checks passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
