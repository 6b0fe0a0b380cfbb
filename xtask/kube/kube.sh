#!/usr/bin/env bash
# Lanner test infrastructure: a real Kubernetes API server (plus etcd) on loopback.
#
#   xtask/kube/kube.sh build   build/fetch kube-apiserver (+ kubelet, scheduler, controller-manager: one make), etcd, kubectl
#   xtask/kube/kube.sh up      start etcd + kube-apiserver on https://127.0.0.1:6443 (runs build first)
#   xtask/kube/kube.sh down    stop both and remove the run dir
#   xtask/kube/kube.sh env     print `export ...` lines: eval "$(xtask/kube/kube.sh env)"
#   xtask/kube/kube.sh status  say whether it is up (exit 0 if healthy, 1 otherwise)
#
# Everything comes from Debian bookworm packages (no registry ships a kube-apiserver):
#   * kube-apiserver is built from the `kubernetes` source package (vendored, offline) with
#     Go 1.19 from `golang-1.19-go`/`golang-1.19-src`, after applying reflect2-go118.patch;
#   * etcd from `etcd-server`, kubectl 1.20 from `kubernetes-client`.
# All .debs are fetched with a private apt configuration (its own sources list with a deb-src
# line, its own lists and cache under the cache dir) and unpacked with `dpkg -x`: nothing is
# installed system-wide except `rsync` (needed by the kubernetes build) when it is missing.
#
# Environment:
#   LANNER_CACHE      cache root (default ~/.cache/lanner); binaries under $LANNER_CACHE/kube/<version>/
#   LANNER_KUBE_DIR   run dir (default /tmp/lanner-kube): certs, tokens, kubeconfigs, logs, pids, etcd data
#   LANNER_KUBE_PORT  apiserver port (default 6443)
#   LANNER_ETCD_PORT  etcd client port (default 2379, or a free port if 2379 is taken; peer port is +1)
#   LANNER_DEBIAN_MIRROR  Debian archive URI (default: the one configured in /etc/apt/sources.list*)
#
# The API server has no kubelet, scheduler or controller-manager: see docs/test-infra.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${LANNER_CACHE:-${HOME:-/root}/.cache/lanner}
RUN=${LANNER_KUBE_DIR:-/tmp/lanner-kube}
KUBE_PORT=${LANNER_KUBE_PORT:-6443}

# Pinned Debian versions (bookworm main). The cache is keyed by them.
KUBE_SRC_VERSION=1.20.5+really1.20.2-1.1+deb12u1   # source package `kubernetes` (= kubernetes-client)
GO_DEB_VERSION=1.19.8-2                            # golang-1.19-go / golang-1.19-src
ETCD_DEB_VERSION=3.4.23-4+b4                       # etcd-server
SUITE=bookworm

PATCH_FILE="$HERE/reflect2-go118.patch"
KDIR="$CACHE/kube/$KUBE_SRC_VERSION"
APISERVER="$KDIR/kube-apiserver"
KUBECTL="$KDIR/kubectl"
GOROOT_DIR="$CACHE/go/$GO_DEB_VERSION/root/usr/lib/go-1.19"
ETCD_DIR="$CACHE/etcd/$ETCD_DEB_VERSION"
ETCD="$ETCD_DIR/etcd"
APTDIR="$CACHE/apt"

log() { printf 'kube: %s\n' "$*" >&2; }
die() { printf 'kube: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

# ---------------------------------------------------------------------------------------------
# private apt
# ---------------------------------------------------------------------------------------------

# The Debian archive host configured on this machine (first non-security `.../debian` URI).
debian_mirror() {
    if [ -n "${LANNER_DEBIAN_MIRROR:-}" ]; then
        printf '%s\n' "$LANNER_DEBIAN_MIRROR"
        return
    fi
    local uri
    uri=$({
        # deb822 (*.sources): "URIs: a b"; one-line (*.list): "deb [opts] uri suite comps"
        grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources \
            | sed -E 's/^[[:space:]]*URIs:[[:space:]]*//' | tr -s '[:blank:]' '\n'
        grep -hsE '^[[:space:]]*deb(-src)?[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
    } | grep -E '^(https?|file)://' | grep -vE 'debian-security|/security' | grep -E '/debian(/|$)' | head -n1 || true)
    [ -n "$uri" ] || die "no Debian archive URI found in /etc/apt/sources.list* (set LANNER_DEBIAN_MIRROR)"
    printf '%s\n' "${uri%/}"
}

APT_READY=0
apt_private() {
    apt-get -q \
        -o Dir::Etc::SourceList="$APTDIR/sources.list" \
        -o Dir::Etc::SourceParts="$APTDIR/sources.list.d" \
        -o Dir::State::Lists="$APTDIR/lists" \
        -o Dir::Cache="$APTDIR/cache" \
        -o APT::Sandbox::User=root \
        "$@"
}

apt_private_ready() {
    [ "$APT_READY" = 1 ] && return
    local mirror signed=""
    mirror=$(debian_mirror)
    mkdir -p "$APTDIR/sources.list.d" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
    if [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
        signed="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    fi
    printf 'deb %s%s %s main\ndeb-src %s%s %s main\n' \
        "$signed" "$mirror" "$SUITE" "$signed" "$mirror" "$SUITE" >"$APTDIR/sources.list"
    log "apt: updating private package lists ($mirror $SUITE main, deb + deb-src)"
    apt_private update >"$APTDIR/update.log" 2>&1 \
        || { tail -n 20 "$APTDIR/update.log" >&2; die "apt-get update (private config, $mirror) failed"; }
    APT_READY=1
}

# fetch_deb NAME VERSION DEST: unpack NAME=VERSION into DEST with dpkg -x.
fetch_deb() {
    local name=$1 version=$2 dest=$3 tmp
    apt_private_ready
    mkdir -p "$CACHE"
    tmp=$(mktemp -d "$CACHE/.dl.XXXXXX")
    log "apt: downloading $name=$version"
    (cd "$tmp" && apt_private download "$name=$version" >"$tmp/download.log" 2>&1) \
        || { tail -n 20 "$tmp/download.log" >&2; rm -rf "$tmp"; die "apt-get download $name=$version failed (version gone from the mirror? update the pin in $0)"; }
    mkdir -p "$dest"
    dpkg -x "$tmp"/"${name}"_*.deb "$dest" || { rm -rf "$tmp"; die "dpkg -x of $name failed"; }
    rm -rf "$tmp"
}

apt_system_install() {
    log "apt: installing $* (system)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1; then
        apt-get update -q >/dev/null 2>&1 || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null \
            || die "apt-get install $* failed"
    fi
}

# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------

ensure_go() {
    if [ -x "$GOROOT_DIR/bin/go" ] && [ -f "$CACHE/go/$GO_DEB_VERSION/.complete" ]; then
        return
    fi
    local root="$CACHE/go/$GO_DEB_VERSION/root"
    rm -rf "$CACHE/go/$GO_DEB_VERSION"
    fetch_deb golang-1.19-go "$GO_DEB_VERSION" "$root"
    fetch_deb golang-1.19-src "$GO_DEB_VERSION" "$root"
    GOROOT="$GOROOT_DIR" "$GOROOT_DIR/bin/go" version >/dev/null 2>&1 \
        || die "unpacked Go at $GOROOT_DIR does not run"
    touch "$CACHE/go/$GO_DEB_VERSION/.complete"
    log "go: $(GOROOT="$GOROOT_DIR" "$GOROOT_DIR/bin/go" version) at $GOROOT_DIR"
}

ensure_etcd() {
    if [ -x "$ETCD" ] && "$ETCD" --version >/dev/null 2>&1; then
        log "etcd $ETCD_DEB_VERSION cached at $ETCD"
        return
    fi
    rm -rf "$ETCD_DIR"
    fetch_deb etcd-server "$ETCD_DEB_VERSION" "$ETCD_DIR/root"
    ln -sf root/usr/bin/etcd "$ETCD"
    "$ETCD" --version >/dev/null 2>&1 || die "etcd from etcd-server $ETCD_DEB_VERSION does not run"
    log "etcd: $("$ETCD" --version | head -n1) at $ETCD"
}

ensure_kubectl() {
    if [ -x "$KUBECTL" ] && "$KUBECTL" version --client >/dev/null 2>&1; then
        log "kubectl $KUBE_SRC_VERSION cached at $KUBECTL"
        return
    fi
    rm -rf "$KDIR/client"
    fetch_deb kubernetes-client "$KUBE_SRC_VERSION" "$KDIR/client"
    ln -sf client/usr/bin/kubectl "$KUBECTL"
    "$KUBECTL" version --client >/dev/null 2>&1 || die "kubectl from kubernetes-client $KUBE_SRC_VERSION does not run"
    log "kubectl: $("$KUBECTL" version --client --short 2>/dev/null || true) at $KUBECTL"
}

build_info() {
    printf 'source=kubernetes %s\ngo=%s\npatch=%s\n' "$KUBE_SRC_VERSION" "$GO_DEB_VERSION" \
        "$(sha256sum "$PATCH_FILE" | cut -d' ' -f1)"
}

# The Kubernetes binaries built from the source package. Each one is cached as $KDIR/<name> with a
# <name>.buildinfo (source, Go and patch versions): an existing kube-apiserver-only cache stays valid
# when the node binaries are added, and a changed pin rebuilds exactly the stale ones.
KUBE_BINS_ALL="kube-apiserver kubelet kube-scheduler kube-controller-manager"

kube_bin_cached() { # NAME
    [ -x "$KDIR/$1" ] && [ "$(cat "$KDIR/$1.buildinfo" 2>/dev/null)" = "$(build_info)" ]
}

# ensure_kube_bins NAME...: build the missing/stale ones in ONE `make WHAT=...` (they share most of
# the compile: kubelet alone ~12 min, all four ~15-25 min on 2 cores).
ensure_kube_bins() {
    [ -f "$PATCH_FILE" ] || die "missing $PATCH_FILE"
    local name missing=() what=()
    for name in "$@"; do
        if kube_bin_cached "$name"; then
            log "$name $KUBE_SRC_VERSION cached at $KDIR/$name"
        else
            missing+=("$name")
            what+=("cmd/$name")
        fi
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    local started scratch src
    started=$(date +%s)
    command -v rsync >/dev/null || apt_system_install rsync
    command -v make >/dev/null || apt_system_install make
    command -v patch >/dev/null || apt_system_install patch
    command -v dpkg-source >/dev/null || apt_system_install dpkg-dev
    ensure_go
    mkdir -p "$KDIR"
    # A scratch dir of our own: a concurrent build (another checkout) never deletes ours.
    scratch=$(mktemp -d "$KDIR/build.XXXXXX")
    mkdir -p "$scratch/home"
    apt_private_ready
    log "apt: fetching source package kubernetes=$KUBE_SRC_VERSION"
    (cd "$scratch" && apt_private source --download-only "kubernetes=$KUBE_SRC_VERSION" >"$scratch/source.log" 2>&1) \
        || { tail -n 20 "$scratch/source.log" >&2; die "apt-get source kubernetes=$KUBE_SRC_VERSION failed"; }
    src="$scratch/src"
    (cd "$scratch" && dpkg-source -x ./kubernetes_*.dsc "$src" >"$scratch/unpack.log" 2>&1) \
        || { tail -n 20 "$scratch/unpack.log" >&2; die "dpkg-source -x kubernetes failed"; }
    log "build: applying $(basename "$PATCH_FILE")"
    patch -p1 -s -d "$src" <"$PATCH_FILE" || die "applying $PATCH_FILE to kubernetes $KUBE_SRC_VERSION failed"
    log "build: make WHAT=\"${what[*]}\" with Go $GO_DEB_VERSION (offline, 10-25 min, log: $scratch/build.log)"
    if ! (cd "$src" && env -u GOFLAGS -u GOPATH -u GO111MODULE \
            PATH="$GOROOT_DIR/bin:$PATH" GOROOT="$GOROOT_DIR" GOPROXY=off GOTOOLCHAIN=local \
            HOME="$scratch/home" GOCACHE="$scratch/gocache" \
            make WHAT="${what[*]}" >"$scratch/build.log" 2>&1); then
        tail -n 40 "$scratch/build.log" >&2
        die "build of ${missing[*]} failed (full log: $scratch/build.log)"
    fi
    local bin
    for name in "${missing[@]}"; do
        bin=$(find "$src/_output" -type f -name "$name" -perm -u+x | head -n1)
        [ -n "$bin" ] || die "build finished but no $name binary under $src/_output"
        "$bin" --version >/dev/null 2>&1 || die "built $name does not run"
        cp "$bin" "$KDIR/$name.tmp.$$"
        mv -f "$KDIR/$name.tmp.$$" "$KDIR/$name"
        build_info >"$KDIR/$name.buildinfo"
    done
    cp "$scratch/build.log" "$KDIR/build.log"
    # The scratch (~2.5 GB, ~100k files) takes a minute to delete here: do it in the background.
    local trash="$KDIR/.trash-$$"
    mv "$scratch" "$trash"
    setsid rm -rf "$trash" </dev/null >/dev/null 2>&1 &
    log "build: ${missing[*]} ($KUBE_SRC_VERSION) built in $(($(date +%s) - started)) s -> $KDIR"
}

ensure_apiserver() { ensure_kube_bins kube-apiserver; }

cmd_build() {
    mkdir -p "$KDIR"
    # All four in one make: the real-cluster tier (cluster.sh) needs the node binaries too, and
    # building them with the apiserver shares most of the compile.
    # shellcheck disable=SC2086
    ensure_kube_bins $KUBE_BINS_ALL
    ensure_etcd
    ensure_kubectl
}

# ---------------------------------------------------------------------------------------------
# up / down
# ---------------------------------------------------------------------------------------------

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive PIDFILE NAME: the pid in PIDFILE runs a process whose command line mentions NAME.
pid_alive() {
    local pid
    [ -f "$1" ] || return 1
    pid=$(cat "$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$2"
}

api_ready() {
    [ -f "$RUN/tokens/admin" ] && [ -f "$RUN/pki/ca.crt" ] || return 1
    [ "$(curl -s --max-time 3 --cacert "$RUN/pki/ca.crt" \
        -H "Authorization: Bearer $(cat "$RUN/tokens/admin")" \
        "https://127.0.0.1:$KUBE_PORT/readyz" 2>/dev/null)" = ok ]
}

stop_pid() { # PIDFILE NAME
    local pid
    pid_alive "$1" "$2" || { rm -f "$1"; return 0; }
    pid=$(cat "$1")
    log "stopping $2 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$2 (pid $pid) did not stop in 10 s, killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

gen_pki() {
    local pki="$RUN/pki"
    mkdir -p "$pki"
    # A CA plus a leaf serving cert (rustls/webpki refuses a CA certificate as end-entity).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=lanner-test-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 || die "openssl: CA generation failed"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=kube-apiserver" -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" >/dev/null 2>&1 \
        || die "openssl: serving key generation failed"
    cat >"$pki/apiserver.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1
EOF
    openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -days 3650 -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" >/dev/null 2>&1 \
        || die "openssl: signing the serving certificate failed"
    # Service-account token signing key (RSA).
    openssl genrsa -out "$pki/sa.key" 2048 >/dev/null 2>&1 || die "openssl: service-account key generation failed"
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" >/dev/null 2>&1 || die "openssl: sa.pub failed"
    chmod 600 "$pki"/*.key
}

gen_tokens() {
    local t="$RUN/tokens"
    mkdir -p "$t"
    local name
    for name in admin agent triage; do
        openssl rand -hex 24 >"$t/$name"
    done
    chmod 600 "$t"/*
    {
        printf '%s,lanner-admin,uid-lanner-admin,"system:masters"\n' "$(cat "$t/admin")"
        printf '%s,system:serviceaccount:lanner:lanner-agent,uid-lanner-agent,"system:serviceaccounts,system:serviceaccounts:lanner"\n' "$(cat "$t/agent")"
        printf '%s,system:serviceaccount:lanner:lanner-triage,uid-lanner-triage,"system:serviceaccounts,system:serviceaccounts:lanner"\n' "$(cat "$t/triage")"
    } >"$RUN/token-auth.csv"
    chmod 600 "$RUN/token-auth.csv"
}

write_kubeconfig() { # NAME USER
    local name=$1 user=$2
    cat >"$RUN/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lanner-test
  cluster:
    server: https://127.0.0.1:$KUBE_PORT
    certificate-authority-data: $(base64 -w0 "$RUN/pki/ca.crt")
users:
- name: $user
  user:
    token: $(cat "$RUN/tokens/$name")
contexts:
- name: $name
  context:
    cluster: lanner-test
    user: $user
    namespace: default
current-context: $name
EOF
    chmod 600 "$RUN/$name.kubeconfig"
}

tail_log() { # FILE
    [ -f "$1" ] && { log "last lines of $1:"; tail -n 25 "$1" >&2; }
    return 0
}

cmd_up() {
    if pid_alive "$RUN/kube-apiserver.pid" kube-apiserver && pid_alive "$RUN/etcd.pid" etcd && api_ready; then
        log "already up and healthy: https://127.0.0.1:$KUBE_PORT (run dir $RUN)"
        return 0
    fi
    cmd_build
    local started
    started=$(date +%s.%N)
    if [ -d "$RUN" ]; then
        if [ -f "$RUN/.lanner-kube" ]; then
            log "cleaning stale run dir $RUN"
            stop_pid "$RUN/kube-apiserver.pid" kube-apiserver
            stop_pid "$RUN/etcd.pid" etcd
            rm -rf "$RUN"
        elif [ -n "$(ls -A "$RUN")" ]; then
            die "$RUN exists, is not empty and was not made by this script (set LANNER_KUBE_DIR)"
        fi
    fi
    port_busy "$KUBE_PORT" && die "port 127.0.0.1:$KUBE_PORT is already in use (set LANNER_KUBE_PORT)"
    local etcd_port=${LANNER_ETCD_PORT:-2379}
    if port_busy "$etcd_port" || port_busy $((etcd_port + 1)); then
        [ -n "${LANNER_ETCD_PORT:-}" ] && die "etcd port $etcd_port or $((etcd_port + 1)) is already in use"
        etcd_port=$(python3 -c 'import socket
for p in range(23790, 23990, 2):
    ok = True
    for q in (p, p + 1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", q))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(p)
        break') || true
        [ -n "$etcd_port" ] || die "no free port pair for etcd"
        log "port 2379 is taken, using $etcd_port for etcd"
    fi

    mkdir -p "$RUN/logs" "$RUN/bin"
    touch "$RUN/.lanner-kube"
    chmod 700 "$RUN"
    ln -sf "$APISERVER" "$RUN/bin/kube-apiserver"
    ln -sf "$ETCD" "$RUN/bin/etcd"
    ln -sf "$KUBECTL" "$RUN/bin/kubectl"
    echo "$etcd_port" >"$RUN/etcd.port"
    log "generating CA, serving certificate, service-account key and tokens in $RUN"
    gen_pki
    gen_tokens

    log "starting etcd on 127.0.0.1:$etcd_port"
    setsid "$ETCD" --name lanner --data-dir "$RUN/etcd-data" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" \
        --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
        --initial-cluster "lanner=http://127.0.0.1:$((etcd_port + 1))" \
        --logger zap --log-level warn \
        </dev/null >"$RUN/logs/etcd.log" 2>&1 &
    echo $! >"$RUN/etcd.pid"
    local i
    for i in $(seq 1 100); do
        curl -s --max-time 2 "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q '"health":"true"' && break
        pid_alive "$RUN/etcd.pid" etcd || { tail_log "$RUN/logs/etcd.log"; die "etcd exited during startup"; }
        [ "$i" = 100 ] && { tail_log "$RUN/logs/etcd.log"; die "etcd not healthy after 20 s"; }
        sleep 0.2
    done

    log "starting kube-apiserver on https://127.0.0.1:$KUBE_PORT"
    setsid "$APISERVER" \
        --etcd-servers="http://127.0.0.1:$etcd_port" \
        --bind-address=127.0.0.1 --secure-port="$KUBE_PORT" --insecure-port=0 \
        --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
        --tls-cert-file="$RUN/pki/apiserver.crt" --tls-private-key-file="$RUN/pki/apiserver.key" \
        --cert-dir="$RUN/pki" \
        --token-auth-file="$RUN/token-auth.csv" \
        --authorization-mode=RBAC \
        --service-account-key-file="$RUN/pki/sa.pub" \
        --service-account-signing-key-file="$RUN/pki/sa.key" \
        --service-account-issuer=https://kubernetes.default.svc \
        --api-audiences=https://kubernetes.default.svc \
        --disable-admission-plugins=ServiceAccount \
        --service-cluster-ip-range=10.96.0.0/12 \
        --allow-privileged=true \
        --profiling=false \
        </dev/null >"$RUN/logs/kube-apiserver.log" 2>&1 &
    echo $! >"$RUN/kube-apiserver.pid"

    write_kubeconfig admin lanner-admin
    write_kubeconfig agent lanner-agent
    write_kubeconfig triage lanner-triage
    cmd_env >"$RUN/env"

    local deadline=$(($(date +%s) + ${LANNER_KUBE_TIMEOUT:-60}))
    until api_ready; do
        pid_alive "$RUN/kube-apiserver.pid" kube-apiserver \
            || { tail_log "$RUN/logs/kube-apiserver.log"; die "kube-apiserver exited during startup"; }
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail_log "$RUN/logs/kube-apiserver.log"
            die "kube-apiserver /readyz not ok after ${LANNER_KUBE_TIMEOUT:-60} s"
        fi
        sleep 0.5
    done
    log "up in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s: https://127.0.0.1:$KUBE_PORT; KUBECONFIG=$RUN/admin.kubeconfig (eval \"\$($0 env)\")"
}

cmd_down() {
    if [ ! -d "$RUN" ]; then
        log "not running (no $RUN)"
        return 0
    fi
    [ -f "$RUN/.lanner-kube" ] || die "$RUN was not made by this script; not touching it"
    stop_pid "$RUN/kube-apiserver.pid" kube-apiserver
    stop_pid "$RUN/etcd.pid" etcd
    rm -rf "$RUN"
    log "down; removed $RUN"
}

cmd_status() {
    if pid_alive "$RUN/kube-apiserver.pid" kube-apiserver && pid_alive "$RUN/etcd.pid" etcd && api_ready; then
        log "up and healthy: https://127.0.0.1:$KUBE_PORT (run dir $RUN)"
    else
        log "not up"
        return 1
    fi
}

cmd_env() {
    [ -f "$RUN/admin.kubeconfig" ] || log "warning: not up yet (run: $0 up)"
    q() { printf '%q' "$1"; }
    cat <<EOF
export LANNER_KUBE_DIR=$(q "$RUN")
export LANNER_KUBE_SERVER=$(q "https://127.0.0.1:$KUBE_PORT")
export LANNER_KUBE_CA=$(q "$RUN/pki/ca.crt")
export KUBECONFIG=$(q "$RUN/admin.kubeconfig")
export LANNER_KUBE_ADMIN_KUBECONFIG=$(q "$RUN/admin.kubeconfig")
export LANNER_KUBE_AGENT_KUBECONFIG=$(q "$RUN/agent.kubeconfig")
export LANNER_KUBE_TRIAGE_KUBECONFIG=$(q "$RUN/triage.kubeconfig")
export LANNER_KUBE_ADMIN_TOKEN_FILE=$(q "$RUN/tokens/admin")
export LANNER_KUBE_AGENT_TOKEN_FILE=$(q "$RUN/tokens/agent")
export LANNER_KUBE_TRIAGE_TOKEN_FILE=$(q "$RUN/tokens/triage")
export PATH=$(q "$RUN/bin"):"\$PATH"
EOF
}

# Sourced by cluster.sh for its helpers: run a subcommand only when executed.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
    build) cmd_build ;;
    up) cmd_up ;;
    down) cmd_down ;;
    env) cmd_env ;;
    status) cmd_status ;;
    -h | --help | help) usage ;;
    *)
        usage
        die "unknown or missing subcommand '${1:-}' (expected build, up, down, env, status)"
        ;;
    esac
fi
