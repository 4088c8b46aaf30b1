#!/bin/sh
# Build (or reuse from the cache) the Debian 12 root the VM tests boot.
#
#   tests/vm/build-root.sh OUTDIR
#
# Produces:
#   OUTDIR/root/            the root directory (owned by root, xattrs kept),
#                           ready for tests/vm/mkdisk.sh; tests may change it
#   OUTDIR/id_ed25519[.pub] an ssh key made for this OUTDIR; the public half
#                           is root's authorized key in OUTDIR/root
#   OUTDIR/kver             the guest kernel version
#
# The expensive part (mmdebstrap, ~200 s, plus building badsec.ko) is cached
# as ${LIFELINE_VM_CACHE:-/var/cache/lifeline-vm}/root-<key>.tar.zst, where
# <key> hashes everything that decides the root's content: this script,
# customize-root.sh, the badsec product files, the package list and the
# machine's apt sources.  Change any of them and the root is rebuilt; else the
# tarball is only unpacked (a few seconds).
#
# Environment:
#   LIFELINE_VM_CACHE       cache directory (default /var/cache/lifeline-vm)
#   LIFELINE_VM_EXTRA_PKGS  more Debian packages for the root (part of the key)
#   LIFELINE_VM_REBUILD=1   ignore the cache entry and build again
#
# No mirror is named here on purpose: mmdebstrap without a MIRROR argument
# uses Debian's default archive, which this machine's apt setup reaches (the
# sources are a frozen snapshot, hence Check-Valid-Until "false").
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-root.sh OUTDIR}
cache=${LIFELINE_VM_CACHE:-/var/cache/lifeline-vm}

# The root's packages.  Why each non-obvious one is here:
#   linux-image-amd64     generic kernel: the cloud kernel has no i6300esb
#   linux-headers-amd64, gcc, make   build badsec.ko inside the root (chroot)
#   initramfs-tools, zstd, busybox   the real initramfs, made by mkdisk.sh
#   openssh-server, openssh-sftp-server   tests run commands and scp files
#   dbus, libpam-systemd  logind sessions for ssh logins without errors
#   e2fsprogs             fsck.ext4 for the root, chattr/lsattr
#   libefivar1 efivar libinih1 libcurl4 libjson-c5 libssl3
#                         run-time libraries of lifeline's programs, which are
#                         installed later with `make install DESTDIR=root`
#   procps iproute2 curl strace less   poking around in a test guest
PKGS="systemd systemd-sysv udev kmod dbus libpam-systemd
openssh-server openssh-sftp-server initramfs-tools busybox zstd
linux-image-amd64 linux-headers-amd64 gcc make
e2fsprogs procps iproute2 curl strace less
libefivar1 efivar libinih1 libcurl4 libjson-c5 libssl3
${LIFELINE_VM_EXTRA_PKGS:-}"
PKGS=$(echo $PKGS | tr ' ' '\n' | sort -u | tr '\n' ' ')

key=$(
	{
		cat "$here/build-root.sh" "$here/customize-root.sh"
		for f in badsec.c Kbuild badsec.service badsecd.service badsecd \
			badsec-update install.sh set-content.sh badsec.conf; do
			cat "$here/badsec/$f"
		done
		echo "$PKGS"
		cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || :
	} | sha256sum | cut -c1-16
)
tarball=$cache/root-$key.tar.zst

mkdir -p "$cache"
# One builder at a time per cache (parallel test runs share it).
exec 9>"$cache/.lock"
flock 9

if [ -s "$tarball" ] && [ "${LIFELINE_VM_REBUILD:-0}" != 1 ]; then
	echo "build-root: using cached root $tarball"
else
	echo "build-root: building root $tarball (mmdebstrap, a few minutes)"
	start=$(date +%s)
	tmp=$cache/build-$key.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# Remove the half-built directory on failure or interruption.
	trap 'rm -rf "$tmp"' EXIT
	trap 'exit 130' INT TERM HUP
	# --essential-hook: runs before the kernel and initramfs-tools are
	# installed, so the kernel's postinst builds a small initramfs
	# (MODULES=list, seconds) instead of MODULES=most (~53 s); mkdisk.sh
	# builds the initramfs that is booted anyway.
	# The customize hooks finish the guest (customize-root.sh) and install
	# the fake BadSec Security product with good content (badsec/).
	mmdebstrap --mode=root --variant=apt --format=directory \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--aptopt='APT::Install-Recommends "false"' \
		--include="$(echo $PKGS | tr ' ' ',')" \
		--essential-hook="'$here/customize-root.sh' --initramfs-only \"\$1\"" \
		--customize-hook="'$here/customize-root.sh' \"\$1\"" \
		--customize-hook="'$here/badsec/install.sh' \"\$1\" good" \
		bookworm "$tmp/root"
	# Keep numeric owners, xattrs (file capabilities) and ACLs.
	tar -C "$tmp/root" --numeric-owner --xattrs --xattrs-include='*' --acls \
		-cf - . | zstd -q -T0 -3 -o "$tmp/root.tar.zst"
	mv "$tmp/root.tar.zst" "$tarball"
	rm -rf "$tmp"
	trap - EXIT
	# Cache entries are ~270 MB each: keep this one and the one used
	# before it (another checkout may still want that one).
	ls -t "$cache"/root-*.tar.zst | tail -n +3 | while read -r old; do
		rm -f "$old"
	done
	echo "build-root: built in $(($(date +%s) - start)) s"
fi

# Unpack a fresh copy for this OUTDIR (tests change their root freely).
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
echo "build-root: root ready in $out/root (kernel $(cat "$out/kver"))"
