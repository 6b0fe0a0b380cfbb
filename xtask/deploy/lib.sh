# Shared by xtask/deploy/validate.sh and xtask/deploy/render.sh (sourced, not run).
#
# ensure_venv: a Python venv under ${LANNER_CACHE:-$HOME/.cache/lanner}/deploy-venv
# with the pinned validation tools, all from PyPI. Idempotent: a stamp file holds
# the package list; when it matches, nothing is installed (about 0.1 s).

DEPLOY_CACHE=${LANNER_CACHE:-$HOME/.cache/lanner}
DEPLOY_VENV="$DEPLOY_CACHE/deploy-venv"
# Exact pins (checked with `pip index versions`). helm-python-sdk bundles Helm's v4
# Go SDK as a shared library (no helm binary exists in any reachable registry);
# kubernetes-validate ships the OpenAPI schemas of Kubernetes 1.25-1.37.
DEPLOY_PY_PKGS=(
    yamllint==1.38.0
    kubernetes-validate==1.37.0
    checkov==3.3.30
    helm-python-sdk==0.2.2
    promql-parser==0.11.0
    dockerfile==3.4.0
    PyYAML==6.0.3
)

dlog() { printf 'deploy: %s\n' "$*" >&2; }

ensure_venv() {
    local stamp="$DEPLOY_VENV/.lanner-packages" want
    want=$(printf '%s\n' "${DEPLOY_PY_PKGS[@]}")
    if [ -x "$DEPLOY_VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        dlog "installing python3-venv (Debian)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >/dev/null; } \
            || { dlog "ERROR: python3 venv support is missing"; return 1; }
    fi
    dlog "creating the validation venv in $DEPLOY_VENV (~1 min, once)"
    mkdir -p "$DEPLOY_CACHE"
    [ -x "$DEPLOY_VENV/bin/python" ] || python3 -m venv "$DEPLOY_VENV" || return 1
    "$DEPLOY_VENV/bin/python" -m pip install -q --disable-pip-version-check "${DEPLOY_PY_PKGS[@]}" \
        || { dlog "ERROR: pip install into $DEPLOY_VENV failed"; return 1; }
    printf '%s\n' "$want" >"$stamp"
}
