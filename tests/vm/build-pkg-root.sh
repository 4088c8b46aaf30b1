#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build (or reuse from the cache) a Debian 12 guest root with lifeline
# installed from its package, as a fleet machine gets it: only the
# package's own Depends, resolved by apt, plus the few packages a VM test
# needs (TEST_PKGS below, each with its reason). No compiler, no -dev
# package, no busybox: a missing dependency or tool then fails a test
# instead of being hidden by the rig.
#
#   tests/vm/build-pkg-root.sh OUTDIR [DEB]
#
#   DEB     the package (default: build/deb/lifeline_*_amd64.deb; make deb)
#
# Produces:
#   OUTDIR/root/            the root directory: the package's Depends (as apt
#                           resolved them when the root was built with the
#                           package) and the test packages, WITHOUT lifeline
#                           itself; mkdisk.sh --deb installs the package
#                           being tested (dpkg -i: no network, no apt, so a
#                           Depends added since is a test failure)
#   OUTDIR/id_ed25519[.pub] an ssh key made for this OUTDIR (root's key)
#   OUTDIR/kver             the guest kernel version
#
# The fake vendor's module (badsec/) is built outside the guest: it is
# taken from the build root of build-root.sh (gcc, make and the same
# kernel's headers; badsec/install.sh builds it there); only the module and
# the product's files are copied into the guest.
#
# Cache (${LIFELINE_VM_CACHE:-/var/cache/lifeline-vm}):
#   pkgroot-<key>.tar.zst   the guest root; <key> hashes this script,
#                           customize-root.sh, badsec/, the package's
#                           Depends and Pre-Depends (not its content: the
#                           root holds no lifeline), the package lists and
#                           the machine's apt sources
#
# Building the root, the package is installed by apt exactly as on a fleet
# machine, checked (configured, lifelined enabled, every initramfs carries
# lifeline-early) and then purged, so the cached root can take any later
# build of the package with the same Depends.
# Environment: LIFELINE_VM_CACHE, LIFELINE_VM_REBUILD=1 (ignore the cache),
# LIFELINE_VM_EXTRA_PKGS (more packages; part of the key).
#
# No mirror is named: mmdebstrap without a MIRROR argument uses Debian's
# default archive, which this machine's apt setup reaches (a frozen
# snapshot, hence Check-Valid-Until "false"), as build-root.sh does.
set -eu

# --check-and-purge ROOT: an mmdebstrap customize hook (on the host, with
# /proc, /sys and /dev mounted in ROOT). What a test may rely on: apt
# installed and configured the package, postinst enabled lifelined and
# rebuilt every initramfs with lifeline-early (and the "enabled" flag) in
# it. Then the package is purged: the tests install their own build.
if [ "${1:-}" = --check-and-purge ]; then
	r=${2:?}
	status=$(chroot "$r" dpkg-query -W -f='${db:Status-Abbrev}' lifeline)
	[ "$status" = "ii " ] || {
		echo "build-pkg-root: lifeline is '$status' in the root, not installed" >&2
		exit 1
	}
	chroot "$r" systemctl is-enabled -q lifelined.service || {
		echo "build-pkg-root: postinst did not enable lifelined.service" >&2
		exit 1
	}
	for img in "$r"/boot/initrd.img-*; do
		list=$(chroot "$r" lsinitramfs "${img#"$r"}")
		for f in usr/lib/lifeline/lifeline-early usr/lib/lifeline/enabled; do
			echo "$list" | grep -q "^$f\$" || {
				echo "build-pkg-root: $img does not carry $f" >&2
				exit 1
			}
		done
	done
	chroot "$r" dpkg --purge lifeline
	if chroot "$r" systemctl is-enabled -q lifelined.service 2> /dev/null; then
		echo "build-pkg-root: lifelined.service still enabled after the purge" >&2
		exit 1
	fi
	exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:?usage: build-pkg-root.sh OUTDIR [DEB]}
deb=${2:-$(ls -t "$top"/build/deb/lifeline_*_amd64.deb 2>/dev/null | head -n 1)}
if [ -z "$deb" ] || [ ! -f "$deb" ]; then
	echo "build-pkg-root: no package; run 'make deb' first or pass DEB" >&2
	exit 1
fi
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
cache=${LIFELINE_VM_CACHE:-/var/cache/lifeline-vm}

# Everything the guest has beyond the package and its Depends, in one place:
#   linux-image-amd64     a kernel to boot (generic: the cloud kernel has no
#                         i6300esb watchdog driver)
#   systemd-sysv          systemd as PID 1 (the package needs systemd, not
#                         that it is init)
#   zstd                  initramfs-tools compresses with zstd (a Recommends
#                         of initramfs-tools-core, not pulled without it)
#   e2fsprogs             fsck.ext4 for the root file system in the initramfs
#   openssh-server        the tests run commands and copy files over ssh
#   dbus, libpam-systemd  logind sessions for those ssh logins
# Not here on purpose: busybox (the initramfs must work without it),
# gcc/make/linux-headers (badsec.ko is built outside), any -dev package.
TEST_PKGS="linux-image-amd64 systemd-sysv zstd e2fsprogs openssh-server dbus
libpam-systemd ${LIFELINE_VM_EXTRA_PKGS:-}"
TEST_PKGS=$(echo $TEST_PKGS | tr ' ' '\n' | sort -u | tr '\n' ' ')
# Must not be in the guest (checked after the build).
FORBIDDEN='^(gcc|gcc-[0-9]+|cpp|cpp-[0-9]+|clang.*|make|busybox|busybox-static|linux-headers-.*|.*-dev)$'

sources() { cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || :; }
key=$(
	{
		cat "$here/build-pkg-root.sh" "$here/customize-root.sh"
		for f in badsec.c Kbuild badsec.service badsecd.service badsecd \
			badsec-update set-content.sh badsec.conf; do
			cat "$here/badsec/$f"
		done
		dpkg-deb -f "$deb" Depends Pre-Depends
		echo "$TEST_PKGS"
		sources
	} | sha256sum | cut -c1-16
)
tarball=$cache/pkgroot-$key.tar.zst

mkdir -p "$cache"
# Its own lock: building this root must not hold build-root.sh up.
exec 9> "$cache/.pkg-lock"
flock 9

# mmdebstrap_bookworm TARGET [OPTION...]
mmdebstrap_bookworm() {
	target=$1
	shift
	mmdebstrap --mode=root --variant=apt --format=directory \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--aptopt='APT::Install-Recommends "false"' \
		"$@" bookworm "$target"
}

# badsec.ko for kernel $1: build-root.sh's root (cached) has gcc, make and
# that kernel's headers, and badsec/install.sh built the module in it.
build_badsec() {
	kv=$1
	"$here/build-root.sh" "$tmp/buildroot" >&2
	bkv=$(cat "$tmp/buildroot/kver")
	if [ "$bkv" != "$kv" ]; then
		echo "build-pkg-root: the build root has kernel $bkv, the guest $kv" >&2
		exit 1
	fi
	cp "$tmp/buildroot/root/lib/modules/$kv/extra/badsec.ko" "$tmp/badsec.ko"
	rm -rf "$tmp/buildroot"
	echo "$tmp/badsec.ko"
}

# The FAKE BadSec Security product, laid out as badsec/install.sh does
# (keep the two in step), from a module built elsewhere.
install_badsec() {
	r=$1 ko=$2 kv=$3
	install -D -m 0644 "$ko" "$r/lib/modules/$kv/extra/badsec.ko"
	chroot "$r" depmod -a "$kv"
	install -d -m 0755 "$r/opt/badsec/bin" "$r/opt/badsec/content"
	install -m 0755 "$here/badsec/badsecd" "$here/badsec/badsec-update" "$r/opt/badsec/bin/"
	install -D -m 0644 "$here/badsec/badsec.conf" "$r/etc/badsec/badsec.conf"
	cat > "$r/opt/badsec/README" << 'EOT'
BadSec Security -- a FAKE security product used by lifeline's VM tests.
Its kernel module crashes (CRASH) or freezes the machine (HANG) when the
channel file /opt/badsec/content/channel-291.bin says so. Its agent runs
in kernel or user mode ([sensor] mode in /etc/badsec/badsec.conf); in user
mode, content USERCRASH makes the agent crash the machine.
Switch content: /opt/badsec/bin/badsec-update good|crash|hang|usercrash
EOT
	install -m 0644 "$here/badsec/badsec.service" "$here/badsec/badsecd.service" \
		"$r/etc/systemd/system/"
	chroot "$r" systemctl enable badsec.service badsecd.service
	"$here/badsec/set-content.sh" "$r" good
}

if [ -s "$tarball" ] && [ "${LIFELINE_VM_REBUILD:-0}" != 1 ]; then
	echo "build-pkg-root: using cached root $tarball"
else
	echo "build-pkg-root: building root $tarball from $(basename "$deb")"
	start=$(date +%s)
	tmp=$cache/pkgbuild-$key.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	trap 'rm -rf "$tmp"' EXIT
	trap 'exit 130' INT TERM HUP
	# The package by its path: apt resolves its Depends; the hook makes the
	# .deb visible inside the root under the same path.
	mmdebstrap_bookworm "$tmp/root" \
		--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount \
		--include="$(echo $TEST_PKGS | tr ' ' ',')" --include="$deb" \
		--essential-hook="'$here/customize-root.sh' --initramfs-only \"\$1\"" \
		--customize-hook="'$here/customize-root.sh' \"\$1\"" \
		--customize-hook="'$here/build-pkg-root.sh' --check-and-purge \"\$1\""
	kv=$(ls "$tmp/root/lib/modules")
	case "$kv" in
	*[!A-Za-z0-9._+-]* | "")
		echo "build-pkg-root: expected one kernel in the root, got: $kv" >&2
		exit 1
		;;
	esac
	install_badsec "$tmp/root" "$(build_badsec "$kv")" "$kv"

	bad=$(chroot "$tmp/root" dpkg-query -W -f='${Package}\n' | grep -E "$FORBIDDEN" || :)
	if [ -n "$bad" ]; then
		echo "build-pkg-root: the root has packages it must not have:" $bad >&2
		exit 1
	fi
	chroot "$tmp/root" dpkg-query -W -f='${Package} ${Version}\n' > "$tmp/root/etc/lifeline-vm-packages"

	tar -C "$tmp/root" --numeric-owner --xattrs --xattrs-include='*' --acls \
		-cf - . | zstd -q -T0 -3 -o "$tmp/root.tar.zst"
	mv "$tmp/root.tar.zst" "$tarball"
	rm -rf "$tmp"
	trap - EXIT
	# Keep this entry and the one used before it.
	ls -t "$cache"/pkgroot-*.tar.zst | tail -n +3 | while read -r old; do
		rm -f "$old"
	done
	echo "build-pkg-root: built in $(($(date +%s) - start)) s"
fi

rm -rf "$out/root"
mkdir -p "$out/root"
zstd -q -dc "$tarball" | tar -C "$out/root" --numeric-owner --xattrs \
	--xattrs-include='*' --acls -xf -
flock -u 9

ls "$out/root/lib/modules" > "$out/kver"
rm -f "$out/id_ed25519" "$out/id_ed25519.pub"
ssh-keygen -q -t ed25519 -N '' -C lifeline-vm-rig -f "$out/id_ed25519"
install -d -m 0700 "$out/root/root/.ssh"
install -m 0600 "$out/id_ed25519.pub" "$out/root/root/.ssh/authorized_keys"
echo "build-pkg-root: root ready in $out/root (kernel $(cat "$out/kver"), lifeline from the package)"
