#!/usr/bin/env bash
# Kernel matrix helpers for `cargo xtask kernels` (xtask/src/kernels.rs).
#
#   kernels.sh apt-update              private apt state (never /etc/apt) with the suites the manifest names
#   kernels.sh fetch SUITE PKG VER SHA256
#                                      download the kernel .deb(s), check sha256, print the vmlinuz path
#   kernels.sh initrd OUT LANNER PAYLOAD_DIR BUSYBOX_VER BUSYBOX_SHA256
#                                      newc cpio: busybox-static, lanner + the libraries ldd lists, the payload
#   kernels.sh tools                   install qemu-system-x86 if missing (the host's own apt)
#
# Everything lives under ${LANNER_KERNEL_CACHE:-~/.cache/lanner/kernels}, outside the clone.
set -euo pipefail

CACHE="${LANNER_KERNEL_CACHE:-$HOME/.cache/lanner/kernels}"
APTDIR="$CACHE/apt"
MIRROR="http://deb.debian.org"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

apt_conf() {
	mkdir -p "$APTDIR"/{lists/partial,cache/archives/partial,etc/parts,etc/prefs,state}
	touch "$APTDIR/state/status"
	cat >"$APTDIR/sources.list" <<SRC
deb [signed-by=$KEYRING] $MIRROR/debian bullseye main
deb [signed-by=$KEYRING] $MIRROR/debian-security bullseye-security main
deb [signed-by=$KEYRING] $MIRROR/debian bookworm main
deb [signed-by=$KEYRING] $MIRROR/debian-security bookworm-security main
deb [signed-by=$KEYRING] $MIRROR/debian bookworm-backports main
deb [signed-by=$KEYRING] $MIRROR/debian-security trixie-security main
deb [signed-by=$KEYRING] $MIRROR/debian trixie-backports main
deb [signed-by=$KEYRING] $MIRROR/debian sid main
SRC
	cat >"$APTDIR/apt.conf" <<CONF
Dir::State "$APTDIR/state";
Dir::State::Lists "$APTDIR/lists";
Dir::State::status "$APTDIR/state/status";
Dir::Cache "$APTDIR/cache";
Dir::Etc::SourceList "$APTDIR/sources.list";
Dir::Etc::SourceParts "$APTDIR/etc/parts";
Dir::Etc::Parts "$APTDIR/etc/parts";
Dir::Etc::Preferences "$APTDIR/etc/prefs/none";
Dir::Etc::PreferencesParts "$APTDIR/etc/prefs";
Acquire::Languages "none";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
APT::Architecture "amd64";
Acquire::Check-Valid-Until "false";
APT::Sandbox::User "root";
APT::Architectures { "amd64"; };
CONF
	export APT_CONFIG="$APTDIR/apt.conf"
}

cmd_apt_update() {
	apt_conf
	apt-get -q update >"$APTDIR/update.log" 2>&1 || { cat "$APTDIR/update.log" >&2; exit 1; }
}

# Download PKG=VER into DIR (once), check its sha256, unpack it.
get_deb() {
	local pkg=$1 ver=$2 sha=$3 dir=$4
	mkdir -p "$dir"
	local deb
	deb=$(find "$dir" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
	if [ -z "$deb" ]; then
		[ -f "$APTDIR/lists/lock" ] || cmd_apt_update
		(cd "$dir" && apt-get -q download "$pkg=$ver" >&2) || {
			cmd_apt_update
			(cd "$dir" && apt-get -q download "$pkg=$ver" >&2)
		}
		deb=$(find "$dir" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
	fi
	local got
	got=$(sha256sum "$deb" | cut -d' ' -f1)
	if [ -n "$sha" ] && [ "$got" != "$sha" ]; then
		echo "kernels.sh: sha256 mismatch for $deb: got $got, manifest says $sha" >&2
		rm -f "$deb"
		exit 1
	fi
	echo "kernels.sh: $pkg=$ver sha256 $got" >&2
	[ -d "$dir/root" ] || dpkg-deb -x "$deb" "$dir/root"
}

cmd_fetch() {
	local suite=$1 pkg=$2 ver=$3 sha=$4
	apt_conf
	local dir="$CACHE/debs/$pkg/$ver"
	get_deb "$pkg" "$ver" "$sha" "$dir"
	local vmlinuz
	vmlinuz=$(find "$dir/root" -name 'vmlinuz*' -type f | head -n1)
	[ -n "$vmlinuz" ] || { echo "kernels.sh: no vmlinuz in $pkg=$ver ($suite)" >&2; exit 1; }
	echo "$vmlinuz"
}

cmd_initrd() {
	local out=$1 lanner=$2 payload=$3 bb_ver=$4 bb_sha=$5
	apt_conf
	local bb="$CACHE/busybox/root/bin/busybox"
	if [ ! -x "$bb" ]; then
		get_deb busybox-static "$bb_ver" "$bb_sha" "$CACHE/busybox"
	fi
	TREE=$(mktemp -d "${TMPDIR:-/tmp}/lanner-initrd.XXXXXX")
	trap 'rm -rf "$TREE"' EXIT
	local tree=$TREE
	mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,run,lib64}
	cp "$bb" "$tree/bin/busybox"
	for a in $("$bb" --list); do
		[ -e "$tree/bin/$a" ] || ln -s busybox "$tree/bin/$a"
	done
	cp "$lanner" "$tree/bin/lanner"
	# The dynamically linked agent: every library ldd lists, at the same path.
	ldd "$lanner" | grep -o '/[^ ]*' | while read -r lib; do
		mkdir -p "$tree$(dirname "$lib")"
		cp -L "$lib" "$tree$lib"
	done
	cp -r "$payload"/. "$tree/"
	chmod +x "$tree/init"
	echo "root:x:0:0:root:/root:/bin/sh" >"$tree/etc/passwd"
	echo "nobody:x:65534:65534:nobody:/:/bin/sh" >>"$tree/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$tree/etc/group"
	(cd "$tree" && find . | "$bb" cpio -o -H newc 2>/dev/null) >"$out.tmp"
	mv "$out.tmp" "$out"
	echo "$out"
}

cmd_tools() {
	command -v qemu-system-x86_64 >/dev/null && return
	apt-get -q update >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends qemu-system-x86 >&2
}

sub=${1:-}
shift || true
case "$sub" in
apt-update) cmd_apt_update ;;
fetch) cmd_fetch "$@" ;;
initrd) cmd_initrd "$@" ;;
tools) cmd_tools ;;
*)
	echo "usage: kernels.sh apt-update | fetch SUITE PKG VER SHA256 | initrd OUT LANNER PAYLOAD_DIR BB_VER BB_SHA | tools" >&2
	exit 2
	;;
esac
