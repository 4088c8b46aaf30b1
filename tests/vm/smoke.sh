#!/bin/sh
# The VM rig's skeleton scenario, end to end (see smoke.py for the steps):
# build (or reuse) the Debian 12 root, make a disk, boot it under OVMF with
# QEMU TCG, write/read an EFI variable across a reboot and from the host,
# then a badsec crash -> reset -> next boot with the oops in efi-pstore.
#
#   tests/vm/smoke.sh
#
# Environment:
#   LIFELINE_VM_WORK   work directory parent (default /var/tmp/lifeline-vm)
#   LIFELINE_VM_CACHE  root cache (default /var/cache/lifeline-vm)
#   LIFELINE_VM_KEEP=1 keep the work directory on success too
#   LIFELINE_VM_SMOKE_HANG=1  also the HANG + hardware watchdog scenario
# Exit status 0 only if every check held.  Runs as root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${LIFELINE_VM_WORK:-/var/tmp/lifeline-vm}/smoke
t0=$(date +%s)

rm -rf "$work"
mkdir -p "$work"
echo "smoke: work directory $work"

"$here/build-root.sh" "$work"
t1=$(date +%s)

# The skeleton has no lifeline yet, so nothing loads efi_pstore before
# badsec.service might run: have systemd-modules-load do it (badsec.service
# is ordered after it).  This also exercises mkdisk.sh's --overlay hook.
mkdir -p "$work/overlay/etc/modules-load.d"
echo efi_pstore > "$work/overlay/etc/modules-load.d/smoke-efi-pstore.conf"
"$here/mkdisk.sh" --overlay "$work/overlay" "$work/root" "$work/disk.img"
t2=$(date +%s)

rc=0
python3 "$here/smoke.py" "$work" || rc=$?
t3=$(date +%s)
echo "smoke: root $((t1 - t0)) s, disk $((t2 - t1)) s, VM scenario $((t3 - t2)) s, total $((t3 - t0)) s"
if [ "$rc" = 0 ]; then
	[ "${LIFELINE_VM_KEEP:-0}" = 1 ] || rm -rf "$work"
	echo "smoke: PASS"
else
	echo "smoke: FAIL (logs kept in $work: serial.log, events.log, qemu.log)"
fi
exit "$rc"
