#!/usr/bin/env bash
# Lanner toolchain bootstrap: installs what building the eBPF programs needs.
#
#  * the pinned Rust toolchain from rust-toolchain.toml, with rust-src (the eBPF
#    crate builds `core` itself for bpfel-unknown-none);
#  * bpf-linker 0.13.0 linked against the libLLVM that ships inside rustc's own
#    sysroot (Debian's LLVM is too old; bpf-linker's default llvm-23 is absent).
#
# Idempotent and fast when already done: it skips bpf-linker when the installed
# binary already links the current rustc's libLLVM. Caches live outside the
# clone (~/.cargo/bin, ~/.cache/lanner) so later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLCHAIN=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
BPF_LINKER_VERSION=0.13.0
CACHE=${LANNER_CACHE:-$HOME/.cache/lanner}

log() { printf 'bootstrap: %s\n' "$*" >&2; }

if ! rustup toolchain list | grep -q "^${TOOLCHAIN}"; then
    log "installing Rust ${TOOLCHAIN}"
    rustup toolchain install "${TOOLCHAIN}" --profile minimal
fi
if ! rustup component list --toolchain "${TOOLCHAIN}" --installed | grep -q '^rust-src'; then
    log "adding rust-src to ${TOOLCHAIN}"
    rustup component add rust-src --toolchain "${TOOLCHAIN}"
fi

SYSROOT=$(rustc +"${TOOLCHAIN}" --print sysroot)
LIBLLVM=$(find "${SYSROOT}/lib" -maxdepth 1 -name 'libLLVM.so.*' | head -n1)
if [ -z "${LIBLLVM}" ]; then
    LIBLLVM=$(find "${SYSROOT}/lib" -maxdepth 1 -name 'libLLVM-*.so' | head -n1)
fi
[ -n "${LIBLLVM}" ] || { log "no libLLVM in ${SYSROOT}/lib"; exit 1; }
LLVM_MAJOR=$(basename "${LIBLLVM}" | sed -E 's/^libLLVM[.-](so\.)?([0-9]+).*/\2/')
PREFIX="${CACHE}/llvm-${TOOLCHAIN}"

BIN="${CARGO_HOME:-$HOME/.cargo}/bin/bpf-linker"
# Capture first: `cmd | grep -q` under pipefail fails when grep exits early.
have_version=$("${BIN}" --version 2>/dev/null || true)
have_libs=$(ldd "${BIN}" 2>/dev/null || true)
if [[ "${have_version}" == *"${BPF_LINKER_VERSION}"* && "${have_libs}" == *"${PREFIX}/lib/$(basename "${LIBLLVM}")"* ]]; then
    log "bpf-linker ${BPF_LINKER_VERSION} already linked against $(basename "${LIBLLVM}")"
    exit 0
fi

log "building bpf-linker ${BPF_LINKER_VERSION} against ${LIBLLVM} (llvm-${LLVM_MAJOR}, ~2 min)"
mkdir -p "${PREFIX}/lib"
ln -sf "${LIBLLVM}" "${PREFIX}/lib/libLLVM.so"
ln -sf "${LIBLLVM}" "${PREFIX}/lib/$(basename "${LIBLLVM}")"
# Its own target dir: a CARGO_TARGET_DIR shared with a concurrent build breaks the install.
CARGO_TARGET_DIR="${CACHE}/bpf-linker-build" LLVM_PREFIX="${PREFIX}" cargo +"${TOOLCHAIN}" install bpf-linker --version "${BPF_LINKER_VERSION}" \
    --locked --force --no-default-features --features "llvm-${LLVM_MAJOR}"
log "bpf-linker installed: $("${BIN}" --version)"
