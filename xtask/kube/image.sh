#!/usr/bin/env bash
# Lanner's container images without a registry or a Docker engine (`cargo xtask image`).
#
#   xtask/kube/image.sh build    agent, triage, pause, busybox, victim (and llm) images -> target/images/*.tar
#   xtask/kube/image.sh import   build, then import them all into the test cluster's containerd
#
# Each image is a docker-archive tar written by mkimage.py from a root filesystem assembled here:
#   lanner-agent   /usr/local/bin/lanner (target/release/lanner, `cargo xtask build`), the shared
#                  libraries `ldd` lists for it, /etc/ssl/certs/ca-certificates.crt from Debian's
#                  ca-certificates package, /etc/passwd+group; runs as 0:0, `lanner run`
#   lanner-triage  the same files; runs as 65532:65532 (nonroot), `lanner triage`
#   pause          Kubernetes' own build/pause/linux/pause.c (same source package as the kubelet),
#                  gcc -static: the pod sandbox image
#   busybox        /bin/busybox from Debian's busybox-static plus its applet links: test workloads
#   victim         the busybox tree plus what the kill chain of cluster-e2e.sh needs and busybox
#                  lacks: /bin/bash from Debian's bash-static (the /dev/tcp reverse shell), a
#                  `gcc -static` /usr/local/bin/escalate (drops to uid 1000, then setuid(0): the
#                  simulation's `python3 -c 'os.setuid(0)'` as uid 1000), user app (1000),
#                  /etc/cron.d and /root/.ssh
#   lanner-llm     when the LLM venv exists (xtask/llm/llm.sh install): llama.cpp's server from
#                  the xllamacpp wheel, xtask/llm/serve.py, Debian's python3.11 + stdlib; 65532
# Same inputs -> same bytes -> same digests (sorted entries, fixed times and owners). The digests
# are printed and written to target/images/digests.txt. deploy/docker/Dockerfile describes the
# same content for users with a registry (deploy/README.md).
#
# Environment: LANNER_CLUSTER_DIR (cluster run dir, for `import`), LANNER_CACHE.
set -euo pipefail

IMG_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=xtask/kube/kube.sh
source "$IMG_HERE/kube.sh"

REPO_ROOT=$(cd "$IMG_HERE/../.." && pwd)
IMG_OUT="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/images"
LANNER_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/lanner"
CA_DEB_VERSION=20230311+deb12u1                 # ca-certificates (bookworm)
BUSYBOX_DEB_VERSION=1:1.35.0-4+deb12u1+b1         # busybox-static (bookworm)
BASH_STATIC_DEB_VERSION=5.2.15-2+b13              # bash-static (bookworm)
PAUSE_VERSION=3.4.1                               # build/pause/Makefile TAG of kubernetes 1.20
IMAGE_REGISTRY=lanner.local
PAUSE_REF="$IMAGE_REGISTRY/pause:$PAUSE_VERSION"
BUSYBOX_REF="$IMAGE_REGISTRY/busybox:1.35.0"
VICTIM_REF="$IMAGE_REGISTRY/victim:1"
LLM_REF="$IMAGE_REGISTRY/lanner-llm:1"

ilog() { printf 'image: %s\n' "$*" >&2; }

lanner_version() {
    "$LANNER_BIN" --version | awk '{print $NF}'
}
agent_ref() { printf '%s/lanner-agent:%s\n' "$IMAGE_REGISTRY" "$(lanner_version)"; }
triage_ref() { printf '%s/lanner-triage:%s\n' "$IMAGE_REGISTRY" "$(lanner_version)"; }

# ensure_pause_src: build/pause/linux/pause.c of the pinned kubernetes source, cached in $KDIR.
ensure_pause_src() {
    [ -f "$KDIR/pause.c" ] && return 0
    local tmp
    mkdir -p "$KDIR"
    tmp=$(mktemp -d "$KDIR/.pause.XXXXXX")
    apt_private_ready
    (cd "$tmp" && apt_private source --download-only "kubernetes=$KUBE_SRC_VERSION" >"$tmp/source.log" 2>&1) \
        || { tail -n 20 "$tmp/source.log" >&2; rm -rf "$tmp"; die "apt-get source kubernetes=$KUBE_SRC_VERSION failed"; }
    tar -xzf "$tmp"/kubernetes_*.orig.tar.gz -C "$tmp" --wildcards '*/build/pause/linux/pause.c' \
        || { rm -rf "$tmp"; die "no build/pause/linux/pause.c in the kubernetes source"; }
    cp "$(find "$tmp" -path '*/build/pause/linux/pause.c' | head -n1)" "$KDIR/pause.c"
    rm -rf "$tmp"
}

ensure_deb_tree() { # NAME VERSION -> prints the unpacked root
    local dir="$CACHE/debs/$1/$2"
    if [ ! -f "$dir/.complete" ]; then
        rm -rf "$dir"
        fetch_deb "$1" "$2" "$dir/root"
        touch "$dir/.complete"
    fi
    printf '%s\n' "$dir/root"
}

# fresh_rootfs NAME: an empty rootfs dir with the usual top-level directories.
fresh_rootfs() {
    local r="$IMG_OUT/rootfs/$1"
    rm -rf "$r"
    mkdir -p "$r"/{etc,tmp,proc,sys,dev,usr/local/bin,var/lib}
    chmod 1777 "$r/tmp"
    printf '%s\n' "$r"
}

# add_elf ROOTFS BINARY DEST: the binary plus every library `ldd` lists, at their own paths.
add_elf() {
    local r=$1 bin=$2 dest=$3 lib
    install -D -m 0755 "$bin" "$r$dest"
    for lib in $(ldd "$bin" | awk '/=> \//{print $3} /^[[:space:]]*\/[^ ]+ \(/{print $1}'); do
        install -D -m 0755 "$(readlink -f "$lib")" "$r$lib"
    done
}

add_ca_certs() { # ROOTFS
    local ca
    ca=$(ensure_deb_tree ca-certificates "$CA_DEB_VERSION")
    mkdir -p "$1/etc/ssl/certs"
    # What update-ca-certificates writes on Debian: every mozilla certificate, concatenated.
    find "$ca/usr/share/ca-certificates/mozilla" -name '*.crt' -print0 | LC_ALL=C sort -z \
        | xargs -0 cat >"$1/etc/ssl/certs/ca-certificates.crt"
    [ -s "$1/etc/ssl/certs/ca-certificates.crt" ] || die "no CA certificates in ca-certificates $CA_DEB_VERSION"
    chmod 0644 "$1/etc/ssl/certs/ca-certificates.crt"
}

write_users() { # ROOTFS
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$1/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\nnonroot:x:65532:\n' >"$1/etc/group"
    chmod 0644 "$1/etc/passwd" "$1/etc/group"
}

# mk NAME REF ARGS...: archive the rootfs NAME as REF; records "REF image-id" in digests.
mk() {
    local name=$1 ref=$2 id
    shift 2
    id=$(python3 "$IMG_HERE/mkimage.py" --rootfs "$IMG_OUT/rootfs/$name" --ref "$ref" \
        --out "$IMG_OUT/$name.tar" "$@") || die "mkimage.py failed for $name"
    printf '%s %s %s\n' "$ref" "$id" "sha256:$(sha256sum "$IMG_OUT/$name.tar" | cut -d' ' -f1)" >>"$IMG_OUT/digests.txt.tmp"
    ilog "$ref  id $id  ($IMG_OUT/$name.tar)"
}

build_lanner_images() {
    [ -x "$LANNER_BIN" ] || die "no $LANNER_BIN: run \`cargo xtask build\` first"
    local r version
    version=$(lanner_version)
    for kind in agent triage; do
        r=$(fresh_rootfs "lanner-$kind")
        add_elf "$r" "$LANNER_BIN" /usr/local/bin/lanner
        add_ca_certs "$r"
        write_users "$r"
        mkdir -p "$r/var/lib/lanner"
    done
    mk lanner-agent "$(agent_ref)" --user 0:0 \
        --entrypoint '["/usr/local/bin/lanner"]' --cmd '["run"]' --expose 9376/tcp \
        --label org.opencontainers.image.title=lanner-agent --label "org.opencontainers.image.version=$version"
    mkdir -p "$IMG_OUT/rootfs/lanner-triage/home/nonroot"
    mk lanner-triage "$(triage_ref)" --user 65532:65532 \
        --chown home/nonroot=65532:65532 \
        --entrypoint '["/usr/local/bin/lanner"]' --cmd '["triage"]' --expose 7700/tcp --expose 9377/tcp \
        --label org.opencontainers.image.title=lanner-triage --label "org.opencontainers.image.version=$version"
}

build_pause_image() {
    ensure_pause_src
    command -v gcc >/dev/null || apt_system_install gcc libc6-dev
    local r
    r=$(fresh_rootfs pause)
    rm -rf "$r"/{etc,tmp,proc,sys,dev,usr,var}
    gcc -Os -static -Wall -Werror -DVERSION="v$PAUSE_VERSION-lanner" -o "$r/pause" "$KDIR/pause.c" \
        || die "gcc -static pause.c failed (libc6-dev installed?)"
    strip "$r/pause"
    mk pause "$PAUSE_REF" --user 65535:65535 --entrypoint '["/pause"]'
}

build_busybox_image() {
    local bb r applet
    bb=$(ensure_deb_tree busybox-static "$BUSYBOX_DEB_VERSION")
    r=$(fresh_rootfs busybox)
    mkdir -p "$r/bin" "$r/root"
    install -m 0755 "$bb/bin/busybox" "$r/bin/busybox"
    for applet in $("$r/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$r/bin/$applet"
    done
    write_users "$r"
    printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' >"$r/etc/shadow"
    chmod 0640 "$r/etc/shadow"
    mk busybox "$BUSYBOX_REF" --user 0:0 --cmd '["sh"]' --env PATH=/bin
}

# The chart's local LLM (llm.enabled) without a registry: llama.cpp's HTTP server as embedded
# in the xllamacpp wheel of the LLM venv (xtask/llm/llm.sh install), run by xtask/llm/serve.py
# (which takes the llama-server flags the chart passes), on Debian's python3.11 and the
# stdlib of this host, non-root. The model stays out of the image (the chart mounts it at
# /models from a volume). Built only when the venv is there.
build_llm_image() {
    local venv="$CACHE/llm/venv" r py=/usr/bin/python3.11 so lib xl
    xl=$(find "$venv"/lib/python3*/site-packages -maxdepth 1 -name xllamacpp -type d 2>/dev/null | head -n1)
    [ -n "$xl" ] || die "no xllamacpp in $venv: xtask/llm/llm.sh install"
    [ -x "$py" ] || die "no $py (Debian's python3.11-minimal)"
    r=$(fresh_rootfs lanner-llm)
    add_elf "$r" "$py" /usr/bin/python3.11
    ln -s python3.11 "$r/usr/bin/python3"
    # The stdlib without tests, GUI, build and packaging parts and bytecode caches.
    mkdir -p "$r/usr/lib/python3.11" "$r/usr/lib/python3/dist-packages" "$r/usr/local/lib/lanner-llm"
    tar -C /usr/lib/python3.11 --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter \
        --exclude=turtledemo --exclude=ensurepip --exclude=lib2to3 --exclude=__pycache__ \
        --exclude='config-3.11-*' --exclude=site-packages --exclude=dist-packages \
        --exclude=sitecustomize.py -cf - . | tar -C "$r/usr/lib/python3.11" -xf -
    cp -a "$xl" "$r/usr/lib/python3/dist-packages/xllamacpp"
    find "$r/usr/lib/python3/dist-packages" -name __pycache__ -prune -exec rm -rf {} +
    for so in "$r/usr/lib/python3/dist-packages/xllamacpp/"*.so "$r/usr/lib/python3.11/lib-dynload/"*.so; do
        for lib in $(ldd "$so" 2>/dev/null | awk '/=> \//{print $3}'); do
            [ -e "$r$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$r$lib"
        done
    done
    install -m 0644 "$REPO_ROOT/xtask/llm/serve.py" "$r/usr/local/lib/lanner-llm/serve.py"
    write_users "$r"
    mk lanner-llm "$LLM_REF" --user 65532:65532 \
        --entrypoint '["/usr/bin/python3.11", "-I", "-B", "/usr/local/lib/lanner-llm/serve.py"]' \
        --env PYTHONDONTWRITEBYTECODE=1 --expose 8080/tcp \
        --label org.opencontainers.image.title=lanner-llm \
        --label "org.opencontainers.image.version=xllamacpp-$(sed -n 's/^xllamacpp=//p' "$CACHE/llm/installed")"
}

# The kill chain's victim (cluster-e2e.sh): busybox + bash + a setuid(0) attempt as uid 1000.
build_victim_image() {
    local bash r
    bash=$(ensure_deb_tree bash-static "$BASH_STATIC_DEB_VERSION")
    command -v gcc >/dev/null || apt_system_install gcc libc6-dev
    [ -x "$IMG_OUT/rootfs/busybox/bin/busybox" ] || build_busybox_image
    r="$IMG_OUT/rootfs/victim"
    rm -rf "$r"
    cp -a "$IMG_OUT/rootfs/busybox" "$r"
    install -m 0755 "$bash/bin/bash-static" "$r/bin/bash"
    mkdir -p "$r/usr/local/bin" "$r/etc/cron.d" "$r/root/.ssh" "$r/home/app"
    chmod 0700 "$r/root/.ssh"
    gcc -Os -static -Wall -Werror -o "$r/usr/local/bin/escalate" "$IMG_HERE/escalate.c" \
        || die "gcc -static escalate.c failed (libc6-dev installed?)"
    strip "$r/usr/local/bin/escalate"
    printf 'app:x:1000:1000:app:/home/app:/bin/sh\n' >>"$r/etc/passwd"
    printf 'app:x:1000:\n' >>"$r/etc/group"
    mk victim "$VICTIM_REF" --user 0:0 --chown home/app=1000:1000 --cmd '["sh"]' \
        --env PATH=/bin:/usr/local/bin
}

cmd_image_build() {
    mkdir -p "$IMG_OUT"
    rm -f "$IMG_OUT/digests.txt.tmp"
    build_lanner_images
    build_pause_image
    build_busybox_image
    build_victim_image
    if [ -d "$CACHE/llm/venv" ]; then build_llm_image; else rm -f "$IMG_OUT/lanner-llm.tar"; ilog "no LLM venv ($CACHE/llm/venv): lanner-llm not built (xtask/llm/llm.sh install)"; fi
    mv -f "$IMG_OUT/digests.txt.tmp" "$IMG_OUT/digests.txt"
    ilog "digests (ref image-id archive-sha256): $IMG_OUT/digests.txt"
    cat "$IMG_OUT/digests.txt"
}

# import_images SOCKET TAR...: into containerd's k8s.io namespace (what the kubelet uses).
import_images() {
    local sock=$1 tar
    shift
    for tar in "$@"; do
        ctr --address "$sock" -n k8s.io images import --no-unpack=false "$tar" >/dev/null \
            || die "ctr images import $tar failed"
    done
}

cmd_image_import() {
    local run=${LANNER_CLUSTER_DIR:-/tmp/lanner-cluster}
    [ -S "$run/containerd.sock" ] || die "the test cluster is not up (no $run/containerd.sock): cargo xtask cluster up"
    cmd_image_build
    import_images "$run/containerd.sock" "$IMG_OUT"/{lanner-agent,lanner-triage,pause,busybox,victim}.tar
    [ ! -f "$IMG_OUT/lanner-llm.tar" ] || import_images "$run/containerd.sock" "$IMG_OUT/lanner-llm.tar"
    ilog "imported into containerd ($run/containerd.sock, namespace k8s.io):"
    ctr --address "$run/containerd.sock" -n k8s.io images ls | awk 'NR==1 || /lanner.local/ {print $1, $3}' >&2
    ctr --address "$run/containerd.sock" -n k8s.io images ls | awk '/lanner.local/ {print $1, $3}' \
        >"$IMG_OUT/containerd-digests.txt"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
    build) cmd_image_build ;;
    import) cmd_image_import ;;
    *) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2; die "expected build or import" ;;
    esac
fi
