#!/usr/bin/env bash
# Lanner test infrastructure: a real single-node Kubernetes cluster on this machine.
#
#   xtask/kube/cluster.sh up      etcd, kube-apiserver, controller-manager, scheduler, containerd, kubelet; node Ready
#   xtask/kube/cluster.sh down    stop everything, remove every trace (safe to run twice)
#   xtask/kube/cluster.sh status  what is up (exit 0 only when the node is Ready)
#   xtask/kube/cluster.sh env     print `export ...` lines (KUBECONFIG, PATH with kubectl 1.20)
#
# Binaries: kube-apiserver, kubelet, kube-scheduler, kube-controller-manager built from Debian's
# `kubernetes` source by kube.sh (one `make`, cached in $LANNER_CACHE/kube/<version>/), etcd and
# kubectl from Debian packages (kube.sh), containerd + runc + CNI plugins from Debian packages
# installed with apt (never started as services). The pause image is built from the same source
# (image.sh). See ../../docs/deploy.md ("real cluster") and ../../deploy/README.md.
#
# Network hygiene (nothing leaves this machine): the node IP is on `lo`; pods sit on their own
# bridge (lanner0, no masquerade to the outside, no global ip_forward); kubelet runs with
# AWS_EC2_METADATA_DISABLED=true; the apiserver reaches the kubelet by InternalIP only; pods
# resolve names through svcproxy.py on the bridge, which answers cluster names and never forwards;
# blackhole routes keep pod/service CIDR traffic on the host.
#
# Environment:
#   LANNER_CLUSTER_DIR   run dir (default /tmp/lanner-cluster)
#   LANNER_CLUSTER_PORT  apiserver port (default 6643; kube.sh's standalone apiserver uses 6443)
set -euo pipefail

CL_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=xtask/kube/image.sh
source "$CL_HERE/image.sh"

CRUN=${LANNER_CLUSTER_DIR:-/tmp/lanner-cluster}
CSTATE=/run/lanner-cluster          # containerd state (sockets of shims, task dirs)
API_PORT=${LANNER_CLUSTER_PORT:-6643}
NODE=lanner-node
NODE_IP=10.99.66.1                  # on lo (a /32), the node's InternalIP
BRIDGE=lanner0
POD_CIDR=10.244.66.0/24
BRIDGE_IP=10.244.66.1
SVC_CIDR=10.96.0.0/12
API_SVC_IP=10.96.0.1
KUBELET_PORT=10650
KUBELET_HEALTHZ_PORT=10648
SCHED_PORT=10659
CM_PORT=10657
SOCK="$CRUN/containerd.sock"
KCTL() { "$KUBECTL" --kubeconfig "$CRUN/admin.kubeconfig" "$@"; }
# kubelet sets these at start (setupKernelTunables); saved at `up`, restored at `down`.
KUBELET_SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"
COMPONENTS="containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet svcproxy"

clog() { printf 'cluster: %s\n' "$*" >&2; }
cdie() { printf 'cluster: ERROR: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || cdie "needs root (kubelet, containerd, network set-up)"; }

# pid_alive and stop_pid come from kube.sh.
comp_alive() { pid_alive "$CRUN/$1.pid" "$1"; }

start_bg() { # NAME CMD... (env is inherited)
    local name=$1
    shift
    setsid "$@" </dev/null >"$CRUN/logs/$name.log" 2>&1 &
    echo $! >"$CRUN/$name.pid"
}

wait_for() { # SECONDS DESC COMPONENT CMD...
    local secs=$1 desc=$2 comp=$3 i
    shift 3
    for i in $(seq 1 $((secs * 4))); do
        "$@" >/dev/null 2>&1 && return 0
        # A process in the middle of an exec shows an empty command line (its new
        # mm has no arguments yet): svcproxy goes through pyenv's shim, three
        # execs, and a check landing in one of them read it as exited (2 CI runs
        # of ~50). Only a second miss half a second later means exited.
        if [ -n "$comp" ] && ! comp_alive "$comp" && { sleep 0.5; ! comp_alive "$comp"; }; then
            tail_log "$CRUN/logs/$comp.log"
            cdie "$comp exited while waiting for: $desc"
        fi
        sleep 0.25
    done
    [ -n "$comp" ] && tail_log "$CRUN/logs/$comp.log"
    cdie "timed out after $secs s waiting for: $desc"
}

api_ok() {
    [ "$(curl -s --max-time 3 --cacert "$CRUN/pki/ca.crt" -H "Authorization: Bearer $(cat "$CRUN/tokens/admin")" \
        "https://127.0.0.1:$API_PORT/readyz" 2>/dev/null)" = ok ]
}

node_ready() {
    [ "$(KCTL get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

free_port_pair() { # FIRST: prints the first p >= FIRST with p and p+1 free
    python3 - "$1" <<'EOF'
import socket, sys
start = int(sys.argv[1])
for p in range(start, start + 200, 2):
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
        break
EOF
}

# ---------------------------------------------------------------------------------------------
# certificates, tokens, kubeconfigs
# ---------------------------------------------------------------------------------------------

cl_pki() {
    # CA, apiserver serving cert (127.0.0.1 + the kubernetes Service IP), SA key: kube.sh's gen_pki.
    RUN=$CRUN gen_pki
    local pki="$CRUN/pki"
    # The apiserver's client certificate towards the kubelet (exec, logs, port-forward).
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
        -keyout "$pki/apiserver-kubelet-client.key" -out "$pki/apiserver-kubelet-client.csr" >/dev/null 2>&1 \
        || cdie "openssl: kubelet client key failed"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' \
        >"$pki/client.ext"
    openssl x509 -req -in "$pki/apiserver-kubelet-client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
        -CAcreateserial -days 3650 -extfile "$pki/client.ext" -out "$pki/apiserver-kubelet-client.crt" >/dev/null 2>&1 \
        || cdie "openssl: signing the kubelet client certificate failed"
    # The kubelet's serving certificate (the apiserver connects to NODE_IP).
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$NODE" \
        -keyout "$pki/kubelet.key" -out "$pki/kubelet.csr" >/dev/null 2>&1 || cdie "openssl: kubelet key failed"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s,DNS:%s\n' \
        "$NODE_IP" "$NODE" >"$pki/kubelet.ext"
    openssl x509 -req -in "$pki/kubelet.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 3650 \
        -extfile "$pki/kubelet.ext" -out "$pki/kubelet.crt" >/dev/null 2>&1 || cdie "openssl: kubelet cert failed"
    chmod 600 "$pki"/*.key
}

cl_tokens() {
    local t="$CRUN/tokens" name
    mkdir -p "$t"
    for name in admin node; do openssl rand -hex 24 >"$t/$name"; done
    chmod 600 "$t"/*
    {
        printf '%s,lanner-admin,uid-lanner-admin,"system:masters"\n' "$(cat "$t/admin")"
        printf '%s,system:node:%s,uid-lanner-node,"system:nodes"\n' "$(cat "$t/node")" "$NODE"
    } >"$CRUN/token-auth.csv"
    chmod 600 "$CRUN/token-auth.csv"
}

cl_kubeconfig() { # NAME USER TOKEN-NAME
    cat >"$CRUN/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lanner-cluster
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 "$CRUN/pki/ca.crt")
users:
- name: $2
  user:
    token: $(cat "$CRUN/tokens/$3")
contexts:
- name: $1
  context:
    cluster: lanner-cluster
    user: $2
    namespace: default
current-context: $1
EOF
    chmod 600 "$CRUN/$1.kubeconfig"
}

# ---------------------------------------------------------------------------------------------
# host network: node IP, bridge, routes, iptables (all recorded for `down`)
# ---------------------------------------------------------------------------------------------

cl_net_up() {
    # (no `| grep -q` under pipefail: an early exit of grep fails the pipeline)
    case "$(ip -o addr show dev lo)" in *" $NODE_IP/32 "*) ;; *) ip addr add "$NODE_IP/32" dev lo ;; esac
    ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
    case "$(ip -o addr show dev "$BRIDGE")" in *" $BRIDGE_IP/"*) ;; *) ip addr add "$BRIDGE_IP/24" dev "$BRIDGE" ;; esac
    ip link set "$BRIDGE" up
    # Interface-scoped: pod -> host 127.0.0.1 (DNAT to the apiserver), pod -> Service -> pod.
    sysctl -qw "net.ipv4.conf.$BRIDGE.route_localnet=1" "net.ipv4.conf.$BRIDGE.forwarding=1"
    # Nothing for the Service range or other pod ranges goes to the default route.
    ip route replace blackhole "$SVC_CIDR"
    ip route replace blackhole 10.244.0.0/16
    # nat: LANNER-CLUSTER-PRE (pods -> Services; svcproxy.py fills LANNER-CLUSTER-SVC),
    # LANNER-CLUSTER-POST (hairpin: a pod reaching a Service backed by a pod on the same bridge).
    iptables -w -t nat -N LANNER-CLUSTER-PRE 2>/dev/null || iptables -w -t nat -F LANNER-CLUSTER-PRE
    iptables -w -t nat -N LANNER-CLUSTER-SVC 2>/dev/null || iptables -w -t nat -F LANNER-CLUSTER-SVC
    iptables -w -t nat -N LANNER-CLUSTER-POST 2>/dev/null || iptables -w -t nat -F LANNER-CLUSTER-POST
    iptables -w -t nat -A LANNER-CLUSTER-PRE -d "$API_SVC_IP/32" -p tcp --dport 443 \
        -j DNAT --to-destination "127.0.0.1:$API_PORT"
    iptables -w -t nat -A LANNER-CLUSTER-PRE -j LANNER-CLUSTER-SVC
    iptables -w -t nat -A LANNER-CLUSTER-POST -s "$POD_CIDR" -m conntrack --ctstate DNAT \
        -j SNAT --to-source "$BRIDGE_IP"
    iptables -w -t nat -C PREROUTING -i "$BRIDGE" -j LANNER-CLUSTER-PRE 2>/dev/null \
        || iptables -w -t nat -A PREROUTING -i "$BRIDGE" -j LANNER-CLUSTER-PRE
    iptables -w -t nat -C POSTROUTING -o "$BRIDGE" -j LANNER-CLUSTER-POST 2>/dev/null \
        || iptables -w -t nat -A POSTROUTING -o "$BRIDGE" -j LANNER-CLUSTER-POST
    # Host -> Service (kubectl port-forward is not needed; tests use the apiserver's proxy).
}

cl_net_down() {
    iptables -w -t nat -D PREROUTING -i "$BRIDGE" -j LANNER-CLUSTER-PRE 2>/dev/null || true
    iptables -w -t nat -D POSTROUTING -o "$BRIDGE" -j LANNER-CLUSTER-POST 2>/dev/null || true
    local c
    for c in LANNER-CLUSTER-PRE LANNER-CLUSTER-SVC LANNER-CLUSTER-POST; do
        iptables -w -t nat -F "$c" 2>/dev/null || true
        iptables -w -t nat -X "$c" 2>/dev/null || true
    done
    ip route del blackhole "$SVC_CIDR" 2>/dev/null || true
    ip route del blackhole 10.244.0.0/16 2>/dev/null || true
    ip link del "$BRIDGE" 2>/dev/null || true
    ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# configuration files
# ---------------------------------------------------------------------------------------------

cl_write_configs() {
    mkdir -p "$CRUN/cni/net.d" "$CRUN/cni/ipam" "$CRUN/containerd/root" "$CSTATE" "$CRUN/kubelet"
    cat >"$CRUN/cni/net.d/10-lanner.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "lanner-cluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CRUN/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$BRIDGE_IP"}]],
        "routes": [{"dst": "$SVC_CIDR", "gw": "$BRIDGE_IP"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
    cat >"$CRUN/containerd.toml" <<EOF
version = 2
root = "$CRUN/containerd/root"
state = "$CSTATE/containerd"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # root here lacks CAP_SYS_RESOURCE: runc cannot set the sandbox's oom_score_adj below ours.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CRUN/cni/net.d"
    max_conf_num = 1
EOF
    # Pods resolve through svcproxy.py on the bridge; it never forwards a query.
    printf 'nameserver %s\n' "$BRIDGE_IP" >"$CRUN/resolv.conf"
    cat >"$CRUN/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $CRUN/pki/kubelet.crt
tlsPrivateKeyFile: $CRUN/pki/kubelet.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: $CRUN/pki/ca.crt
authorization:
  mode: AlwaysAllow
cgroupDriver: cgroupfs
failSwapOn: false
makeIPTablesUtilChains: false
clusterDNS: [$BRIDGE_IP]
clusterDomain: cluster.local
resolvConf: $CRUN/resolv.conf
staticPodPath: ""
serializeImagePulls: false
# ConfigMap volume updates reach pods within ~10 s instead of ~1 min (the e2e reloads rules).
syncFrequency: 10s
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
}

# ---------------------------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------------------------

cl_build() {
    mkdir -p "$KDIR"
    # shellcheck disable=SC2086
    ensure_kube_bins $KUBE_BINS_ALL
    ensure_etcd
    ensure_kubectl
    local pkgs=() p
    for p in containerd runc containernetworking-plugins; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || pkgs+=("$p")
    done
    [ "${#pkgs[@]}" = 0 ] || apt_system_install "${pkgs[@]}"
    command -v iptables >/dev/null || apt_system_install iptables
    command -v gcc >/dev/null || apt_system_install gcc libc6-dev
}

cl_record_host() {
    local s
    : >"$CRUN/sysctl.saved"
    for s in $KUBELET_SYSCTLS; do
        printf '%s=%s\n' "$s" "$(sysctl -n "$s")" >>"$CRUN/sysctl.saved"
    done
    # Directories kubelet/containerd/CNI create outside the run dir: remove at down what we made.
    : >"$CRUN/created-dirs"
    for s in /var/log/pods /var/log/containers /var/lib/cni /run/containerd /run/netns /var/lib/kubelet /etc/cni; do
        [ -e "$s" ] || echo "$s" >>"$CRUN/created-dirs"
    done
    ls /run/netns 2>/dev/null | sort >"$CRUN/netns-before" || true
}

cmd_cl_up() {
    need_root
    if cl_healthy; then
        clog "already up: node $NODE Ready, https://127.0.0.1:$API_PORT (run dir $CRUN)"
        return 0
    fi
    cl_build
    if [ -e "$CRUN" ] || [ -e "$CSTATE" ]; then
        clog "cleaning a previous, unhealthy run first"
        cmd_cl_down
    fi
    local started etcd_port
    started=$(date +%s)
    port_busy "$API_PORT" && cdie "port 127.0.0.1:$API_PORT is in use (set LANNER_CLUSTER_PORT)"
    etcd_port=$(free_port_pair 2579)
    [ -n "$etcd_port" ] || cdie "no free port pair for etcd"
    mkdir -p "$CRUN/logs"
    chmod 700 "$CRUN"
    touch "$CRUN/.lanner-cluster"
    # From here on, a failure tears down what was started.
    trap 'clog "up failed: tearing down"; cmd_cl_down || true' ERR
    cl_record_host
    echo "$etcd_port" >"$CRUN/etcd.port"

    clog "certificates, tokens, configuration in $CRUN"
    cl_pki
    cl_tokens
    cl_kubeconfig admin lanner-admin admin
    cl_kubeconfig kubelet "system:node:$NODE" node
    cl_write_configs
    cl_net_up

    clog "containerd ($SOCK)"
    start_bg containerd containerd --config "$CRUN/containerd.toml"
    wait_for 30 "containerd socket" containerd ctr --address "$SOCK" version

    clog "images: pause (sandbox) and busybox into containerd"
    mkdir -p "$IMG_OUT"
    rm -f "$IMG_OUT/digests.txt.tmp"
    build_pause_image
    build_busybox_image
    rm -f "$IMG_OUT/digests.txt.tmp"
    import_images "$SOCK" "$IMG_OUT/pause.tar" "$IMG_OUT/busybox.tar"

    clog "etcd (127.0.0.1:$etcd_port)"
    start_bg etcd "$ETCD" --name lanner-cluster --data-dir "$CRUN/etcd-data" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
        --initial-cluster "lanner-cluster=http://127.0.0.1:$((etcd_port + 1))" --logger zap --log-level warn
    wait_for 30 "etcd health" etcd sh -c "curl -s --max-time 2 http://127.0.0.1:$etcd_port/health | grep -q '\"health\":\"true\"'"

    clog "kube-apiserver (https://127.0.0.1:$API_PORT)"
    start_bg kube-apiserver "$KDIR/kube-apiserver" \
        --etcd-servers="http://127.0.0.1:$etcd_port" \
        --bind-address=127.0.0.1 --secure-port="$API_PORT" --insecure-port=0 \
        --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
        --tls-cert-file="$CRUN/pki/apiserver.crt" --tls-private-key-file="$CRUN/pki/apiserver.key" \
        --cert-dir="$CRUN/pki" --client-ca-file="$CRUN/pki/ca.crt" \
        --token-auth-file="$CRUN/token-auth.csv" \
        --authorization-mode=Node,RBAC \
        --enable-admission-plugins=NodeRestriction \
        --service-account-key-file="$CRUN/pki/sa.pub" \
        --service-account-signing-key-file="$CRUN/pki/sa.key" \
        --service-account-issuer=https://kubernetes.default.svc \
        --api-audiences=https://kubernetes.default.svc \
        --service-cluster-ip-range="$SVC_CIDR" \
        --kubelet-client-certificate="$CRUN/pki/apiserver-kubelet-client.crt" \
        --kubelet-client-key="$CRUN/pki/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority="$CRUN/pki/ca.crt" \
        --kubelet-preferred-address-types=InternalIP \
        --allow-privileged=true --profiling=false
    wait_for 90 "kube-apiserver /readyz" kube-apiserver api_ok

    clog "kube-controller-manager, kube-scheduler"
    # persistentvolume-binder binds the e2e's hostPath PersistentVolume (the LLM model) to the
    # chart's claim; there is no provisioner, so nothing else creates volumes.
    start_bg kube-controller-manager "$KDIR/kube-controller-manager" \
        --kubeconfig="$CRUN/admin.kubeconfig" \
        --authentication-kubeconfig="$CRUN/admin.kubeconfig" --authorization-kubeconfig="$CRUN/admin.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$CM_PORT" --port=0 --leader-elect=false \
        --controllers='*,-nodeipam,-cloud-node-lifecycle,-route,-service,-bootstrapsigner,-tokencleaner,-csrsigning,-csrapproving,-attachdetach,-persistentvolume-expander' \
        --service-account-private-key-file="$CRUN/pki/sa.key" --root-ca-file="$CRUN/pki/ca.crt" \
        --use-service-account-credentials=false --profiling=false
    start_bg kube-scheduler "$KDIR/kube-scheduler" \
        --kubeconfig="$CRUN/admin.kubeconfig" \
        --authentication-kubeconfig="$CRUN/admin.kubeconfig" --authorization-kubeconfig="$CRUN/admin.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --port=0 --leader-elect=false --profiling=false

    clog "svcproxy (cluster DNS on $BRIDGE_IP:53, Service DNAT rules)"
    start_bg svcproxy python3 "$CL_HERE/svcproxy.py" --kubeconfig "$CRUN/admin.kubeconfig" \
        --listen "$BRIDGE_IP" --chain LANNER-CLUSTER-SVC
    wait_for 20 "svcproxy ready" svcproxy test -f "$CRUN/logs/svcproxy.ready"

    clog "kubelet (node $NODE, $NODE_IP:$KUBELET_PORT)"
    mkdir -p "$CRUN/kubelet"
    AWS_EC2_METADATA_DISABLED=true start_bg kubelet "$KDIR/kubelet" \
        --config="$CRUN/kubelet.yaml" --kubeconfig="$CRUN/kubelet.kubeconfig" \
        --container-runtime=remote --container-runtime-endpoint="unix://$SOCK" \
        --image-service-endpoint="unix://$SOCK" \
        --root-dir="$CRUN/kubelet" --cert-dir="$CRUN/pki" \
        --hostname-override="$NODE" --node-ip="$NODE_IP" \
        --pod-infra-container-image="$PAUSE_REF" --register-node=true --v=1
    wait_for 120 "node $NODE Ready" kubelet node_ready
    # The nodelifecycle controller lifts node.kubernetes.io/not-ready; DaemonSets wait for it.
    wait_for 60 "not-ready taint gone" kubelet sh -c \
        "! '$KUBECTL' --kubeconfig '$CRUN/admin.kubeconfig' get node $NODE -o jsonpath='{.spec.taints}' | grep -q not-ready"
    wait_for 60 "default service account" kube-controller-manager KCTL get serviceaccount default -n default
    trap - ERR
    cmd_cl_env >"$CRUN/env"
    clog "up in $(($(date +%s) - started)) s: node $NODE Ready; eval \"\$($0 env)\""
}

# ---------------------------------------------------------------------------------------------
# down
# ---------------------------------------------------------------------------------------------

# Remove a cgroup subtree depth-first (cgroupfs directories: rmdir, never rm -r).
rm_cgroup_tree() {
    [ -d "$1" ] || return 0
    find "$1" -depth -type d -exec rmdir {} + 2>/dev/null || true
}

kill_cgroup_procs() { # DIR
    [ -d "$1" ] || return 0
    local f pid
    for f in $(find "$1" -name cgroup.procs 2>/dev/null); do
        for pid in $(cat "$f" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    done
}

umount_below() { # PREFIX...: unmount every mount point below each prefix, deepest first
    local p
    for p in "$@"; do
        awk -v p="$p" '$5 == p || index($5, p "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
    done
}

cmd_cl_down() {
    need_root
    if [ ! -e "$CRUN" ] && [ ! -e "$CSTATE" ]; then
        clog "not running (no $CRUN)"
        return 0
    fi
    if [ -e "$CRUN" ] && [ ! -f "$CRUN/.lanner-cluster" ]; then
        cdie "$CRUN was not made by this script; not touching it"
    fi
    trap - ERR
    # Pods first, while the kubelet still runs: it stops the sandboxes (CNI DEL: veth, netns, IPAM).
    if comp_alive kube-apiserver && comp_alive kubelet && api_ok; then
        clog "deleting every pod (the kubelet tears down the sandboxes)"
        stop_pid "$CRUN/kube-controller-manager.pid" kube-controller-manager
        stop_pid "$CRUN/kube-scheduler.pid" kube-scheduler
        KCTL delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
        local i
        for i in $(seq 1 60); do
            [ -z "$(ctr --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    local c
    for c in kubelet svcproxy kube-scheduler kube-controller-manager kube-apiserver etcd; do
        stop_pid "$CRUN/$c.pid" "$c"
    done
    # Anything still in the pods' cgroups (containers the kubelet did not get to): kill.
    for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods; do kill_cgroup_procs "$c"; done
    # Shims of our containerd (matched by its socket path, never by name alone).
    local pid
    for pid in $(pgrep -f -- "-address $SOCK" 2>/dev/null || true); do kill -9 "$pid" 2>/dev/null || true; done
    stop_pid "$CRUN/containerd.pid" containerd
    for pid in $(pgrep -f -- "$SOCK" 2>/dev/null || true); do kill -9 "$pid" 2>/dev/null || true; done
    sleep 0.3
    # Mounts: pod volumes (kubelet root), overlay rootfs and shm (containerd), netns bind mounts.
    umount_below "$CRUN" "$CSTATE" /run/containerd
    local ns
    for ns in $(ls /run/netns 2>/dev/null); do
        case "$ns" in
        cni-*)
            if ! grep -qx "$ns" "$CRUN/netns-before" 2>/dev/null; then
                umount "/run/netns/$ns" 2>/dev/null || true
                rm -f "/run/netns/$ns"
            fi
            ;;
        esac
    done
    for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods; do rm_cgroup_tree "$c"; done
    cl_net_down
    # veths left behind by a sandbox that was not torn down.
    for c in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
        [ "$(cat "/sys/class/net/$c/master/ifindex" 2>/dev/null)" = "" ] || true
        ip -d link show "$c" 2>/dev/null | grep -q "master $BRIDGE" && ip link del "$c" 2>/dev/null || true
    done
    if [ -f "$CRUN/sysctl.saved" ]; then
        while IFS= read -r kv; do sysctl -qw "$kv" >/dev/null 2>&1 || clog "could not restore $kv"; done <"$CRUN/sysctl.saved"
    fi
    if [ -f "$CRUN/created-dirs" ]; then
        while IFS= read -r d; do
            case "$d" in
            /run/netns) rmdir "$d" 2>/dev/null || true ;;
            *) rm -rf "$d" ;;
            esac
        done <"$CRUN/created-dirs"
    fi
    rm -rf "$CSTATE" "$CRUN"
    clog "down: processes, mounts, cgroups, netns, bridge, routes, iptables and sysctls cleaned; removed $CRUN"
}

# ---------------------------------------------------------------------------------------------
# status / env
# ---------------------------------------------------------------------------------------------

cl_healthy() {
    local c
    [ -f "$CRUN/.lanner-cluster" ] || return 1
    for c in $COMPONENTS; do comp_alive "$c" || return 1; done
    api_ok && node_ready
}

cmd_cl_status() {
    if [ ! -f "$CRUN/.lanner-cluster" ]; then
        clog "down (no $CRUN)"
        return 1
    fi
    local c bad=0
    for c in $COMPONENTS; do
        if comp_alive "$c"; then clog "  $c: running (pid $(cat "$CRUN/$c.pid"))"; else clog "  $c: NOT running"; bad=1; fi
    done
    if api_ok; then clog "  apiserver: https://127.0.0.1:$API_PORT ready"; else clog "  apiserver: not ready"; bad=1; fi
    if node_ready; then clog "  node $NODE: Ready"; else clog "  node $NODE: not Ready"; bad=1; fi
    if [ "$bad" = 0 ]; then
        KCTL get pods -A -o wide >&2 2>/dev/null || true
        clog "up"
    else
        clog "degraded (cargo xtask cluster down && cargo xtask cluster up)"
    fi
    return "$bad"
}

cmd_cl_env() {
    q() { printf '%q' "$1"; }
    cat <<EOF
export LANNER_CLUSTER_DIR=$(q "$CRUN")
export KUBECONFIG=$(q "$CRUN/admin.kubeconfig")
export CONTAINERD_ADDRESS=$(q "$SOCK")
export PATH=$(q "$KDIR"):"\$PATH"
EOF
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
    up) cmd_cl_up ;;
    down) cmd_cl_down ;;
    status) cmd_cl_status ;;
    env) cmd_cl_env ;;
    *)
        sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
        cdie "unknown or missing subcommand '${1:-}' (expected up, down, status, env)"
        ;;
    esac
fi
