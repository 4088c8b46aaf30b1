#!/bin/sh
# The endpoint VM scenario (make check-vm-endpoint): Secure Boot, a
# MOK-signed module, a TPM-sealed LUKS root, the crash loop cured with no
# key typed, and the negative control.  See README.md here.
#
#   tests/vm/endpoint/run.sh [--work DIR]
#
# Runs as root.  LIFELINE_SKIP_VM=1 skips it (and says so).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "${LIFELINE_SKIP_VM:-0}" = 1 ]; then
	echo "check-vm-endpoint: SKIPPED (LIFELINE_SKIP_VM=1)"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "check-vm-endpoint: needs root (mmdebstrap, chroot, mke2fs -d)" >&2
	exit 1
fi
missing=
for t in swtpm swtpm_setup cryptsetup qemu-system-x86_64 mmdebstrap sgdisk mkfs.vfat mcopy; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
for f in /usr/share/OVMF/OVMF_CODE_4M.secboot.fd /usr/share/OVMF/OVMF_VARS_4M.ms.fd; do
	[ -e "$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
	echo "check-vm-endpoint: missing on this host:$missing (Debian: swtpm swtpm-tools cryptsetup-bin ovmf qemu-system-x86 mmdebstrap gdisk dosfstools mtools)" >&2
	exit 1
fi
# Secure Boot firmware (SMM) + dm-crypt without AES-NI under TCG: every
# boot is slower than the plain rig's; vmlib's waits scale by this.
LIFELINE_VM_TIMEOUT_SCALE=${LIFELINE_VM_TIMEOUT_SCALE:-2}
export LIFELINE_VM_TIMEOUT_SCALE
exec python3 "$here/scenario.py" "$@"
