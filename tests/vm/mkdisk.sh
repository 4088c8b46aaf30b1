#!/bin/sh
# Make a bootable GPT disk image from a root directory, without loop mounts.
#
#   tests/vm/mkdisk.sh [OPTIONS] ROOTDIR DISK.img
#
# Layout (512-byte sectors):
#   1 MiB gap | p1 ESP, FAT32, 256 MiB | p2 root, ext4 | GPT backup
#   ESP: \EFI\BOOT\BOOTX64.EFI = Debian's systemd-boot (OVMF boots the
#        removable-media path, no boot entry needed), \loader\loader.conf,
#        \loader\entries\lifeline.conf, \vmlinuz, \initrd.img
#   root: ROOTDIR copied in by `mke2fs -d` at the partition's byte offset
#
# Steps, in this order (ROOTDIR is modified in place: use a work copy, as
# build-root.sh makes):
#   1. copy each --overlay DIR over ROOTDIR
#   2. run each --prepare CMD on the host (sh -c, with ROOT=ROOTDIR exported)
#   3. --lifeline SRC: make -C SRC install DESTDIR=ROOTDIR PREFIX=/usr, then
#      `systemctl enable lifelined.service` in the root if that unit exists;
#      --deb FILE: the package installed in the root with `dpkg -i` (its
#      Depends must already be there: build-pkg-root.sh; its maintainer
#      scripts run as on a fleet machine). An /etc/lifeline/lifeline.conf
#      placed by --prepare is kept (--force-confold), as an administrator's
#      pre-seeded configuration is
#   4. run each --chroot CMD inside ROOTDIR (sh -c in a chroot)
#   5. write /etc/fstab and a post-update hook that copies every later
#      update-initramfs image to the ESP (esp-initrd-hook), then regenerate
#      the initramfs with update-initramfs in the chroot (so every
#      initramfs-tools hook installed above, lifeline's included, is in the
#      image)
#   6. build the ESP and the ext4 root and put them into DISK.img
#
# Options (each may be repeated; the LIFELINE_VM_* variables add one more):
#   --overlay DIR      LIFELINE_VM_OVERLAY
#   --prepare CMD      LIFELINE_VM_PREPARE
#   --lifeline SRC     LIFELINE_VM_LIFELINE
#   --deb FILE         LIFELINE_VM_DEB
#   --chroot CMD       LIFELINE_VM_CHROOT
#   --cmdline ARGS     LIFELINE_VM_CMDLINE    appended to the kernel command line
#   --root-size MIB    LIFELINE_VM_ROOT_MB    root partition size (default 4096)
#   --var-size MIB     LIFELINE_VM_VAR_MB     a separate /var (the CIS layout): p3,
#                      ext4, made from ROOTDIR/var; /var on the root is left an
#                      empty mount point; fstab mounts it by PARTUUID
# Other environment:
#   LIFELINE_VM_INITRAMFS_MODULES=most|dep|list  override the root's MODULES=list
#   LIFELINE_VM_SDBOOT  systemd-boot binary (default the host's systemd-boot-efi)
#
# Writes DISK.img.info (shell syntax): KVER, CMDLINE, ROOT_PARTUUID,
# ESP_PARTUUID, ROOT_FSUUID, ESP_OFFSET, ROOT_OFFSET (bytes).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
usage() { echo "usage: mkdisk.sh [--overlay DIR] [--prepare CMD] [--lifeline SRC] [--deb FILE] [--chroot CMD] [--cmdline ARGS] [--root-size MIB] [--var-size MIB] ROOTDIR DISK.img" >&2; exit 2; }

# Repeated options are kept as newline-separated lists (one entry a line).
overlays=${LIFELINE_VM_OVERLAY:-}
prepares=${LIFELINE_VM_PREPARE:-}
lifelines=${LIFELINE_VM_LIFELINE:-}
debs=${LIFELINE_VM_DEB:-}
chroots=${LIFELINE_VM_CHROOT:-}
cmdline_extra=${LIFELINE_VM_CMDLINE:-}
root_mb=${LIFELINE_VM_ROOT_MB:-4096}
var_mb=${LIFELINE_VM_VAR_MB:-0}
add() { if [ -n "$1" ]; then printf '%s\n%s' "$1" "$2"; else printf '%s' "$2"; fi; }
while [ $# -gt 0 ]; do
	case "$1" in
	--overlay)   overlays=$(add "$overlays" "${2:?}"); shift 2 ;;
	--prepare)   prepares=$(add "$prepares" "${2:?}"); shift 2 ;;
	--lifeline)  lifelines=$(add "$lifelines" "${2:?}"); shift 2 ;;
	--deb)       debs=$(add "$debs" "${2:?}"); shift 2 ;;
	--chroot)    chroots=$(add "$chroots" "${2:?}"); shift 2 ;;
	--cmdline)   cmdline_extra="$cmdline_extra ${2:?}"; shift 2 ;;
	--root-size) root_mb=${2:?}; shift 2 ;;
	--var-size)  var_mb=${2:?}; shift 2 ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || usage
ROOT=$(cd "$1" && pwd)
disk=$2
export ROOT
sdboot=${LIFELINE_VM_SDBOOT:-/usr/lib/systemd/boot/efi/systemd-bootx64.efi}
t0=$(date +%s)

[ -x "$ROOT/sbin/init" ] || [ -L "$ROOT/sbin/init" ] || { echo "mkdisk: $ROOT is not a root directory" >&2; exit 1; }
kver=$(ls "$ROOT/lib/modules")
case "$kver" in
*[!A-Za-z0-9._+-]*|"") echo "mkdisk: expected exactly one kernel in $ROOT/lib/modules, got: $kver" >&2; exit 1 ;;
esac

# Run a command inside the root.  A private mount namespace gives the chroot
# /proc, /sys and /dev (update-initramfs and hooks expect them) and takes
# the mounts away by itself when the command ends, even if it is killed:
# nothing is left mounted on the host.
in_root() {
	unshare --mount --propagation private -- sh -ec '
		r=$1; shift
		mount -t proc proc "$r/proc"
		mount -t sysfs sysfs "$r/sys"
		mount --rbind /dev "$r/dev"
		exec chroot "$r" "$@"' in_root "$ROOT" "$@"
}

# each LIST FUNCTION: call FUNCTION with each non-empty line of LIST (fd 3,
# so the commands keep the script's stdin)
each() {
	while IFS= read -r item <&3; do
		if [ -n "$item" ]; then "$2" "$item"; fi
	done 3<<EOF
$1
EOF
}
do_overlay() { echo "mkdisk: overlay $1"; cp -a "$1/." "$ROOT/"; }
do_prepare() { echo "mkdisk: prepare: $1"; sh -ec "$1"; }
do_lifeline() {
	echo "mkdisk: installing lifeline from $1"
	make -C "$1" install DESTDIR="$ROOT" PREFIX=/usr
	if [ -e "$ROOT/usr/lib/systemd/system/lifelined.service" ] ||
	   [ -e "$ROOT/lib/systemd/system/lifelined.service" ]; then
		in_root systemctl enable lifelined.service
	fi
}
do_deb() {
	echo "mkdisk: installing the package $1 (dpkg -i)"
	cp "$1" "$ROOT/var/tmp/lifeline-under-test.deb"
	in_root dpkg -i --force-confold /var/tmp/lifeline-under-test.deb
	rm -f "$ROOT/var/tmp/lifeline-under-test.deb"
}
do_chroot() { echo "mkdisk: in root: $1"; in_root sh -ec "$1"; }
each "$overlays" do_overlay
each "$prepares" do_prepare
each "$lifelines" do_lifeline
each "$debs" do_deb
each "$chroots" do_chroot

# Fresh identities for this disk.
esp_partuuid=$(cat /proc/sys/kernel/random/uuid)
root_partuuid=$(cat /proc/sys/kernel/random/uuid)
root_fsuuid=$(cat /proc/sys/kernel/random/uuid)
var_partuuid=$(cat /proc/sys/kernel/random/uuid)
esp_vol=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')

# Each disk is its own machine (lifeline reports and targets by machine-id).
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$ROOT/etc/machine-id"
echo >> "$ROOT/etc/machine-id"

cmdline="root=PARTUUID=$root_partuuid ro console=ttyS0,115200 panic=5 oops=panic${cmdline_extra:+ $cmdline_extra}"
cmdline=$(echo $cmdline)

cat > "$ROOT/etc/fstab" <<EOF
# written by tests/vm/mkdisk.sh
PARTUUID=$root_partuuid	/	ext4	errors=remount-ro	0	1
PARTUUID=$esp_partuuid	/boot/efi	vfat	umask=0077,nofail	0	0
EOF
mkdir -p "$ROOT/boot/efi"
if [ "$var_mb" -gt 0 ]; then
	printf 'PARTUUID=%s\t/var\text4\tdefaults\t0\t2\n' "$var_partuuid" >> "$ROOT/etc/fstab"
fi

# The guest's own update-initramfs (a package's postinst or postrm, an
# administrator) must reach what the firmware boots, the ESP's \initrd.img
# (esp-initrd-hook; it does nothing in the chroot, where no ESP is mounted).
install -D -m 0755 "$here/esp-initrd-hook" "$ROOT/etc/initramfs/post-update.d/zz-lifeline-vm-esp"

# The initramfs, by the root's own initramfs-tools (hooks included).
ti=$(date +%s)
conf=$ROOT/etc/initramfs-tools/conf.d/zz-lifeline-vm-modules.conf
if [ -n "${LIFELINE_VM_INITRAMFS_MODULES:-}" ]; then
	echo "MODULES=$LIFELINE_VM_INITRAMFS_MODULES" > "$conf"
else
	rm -f "$conf"
fi
if [ -e "$ROOT/boot/initrd.img-$kver" ]; then
	in_root update-initramfs -u -k "$kver"
else
	in_root update-initramfs -c -k "$kver"
fi
echo "mkdisk: initramfs built in $(($(date +%s) - ti)) s ($(du -h "$ROOT/boot/initrd.img-$kver" | cut -f1))"

work=$(mktemp -d "${disk}.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP

# ESP image.  FAT32, 256 MiB: room for an initramfs made with MODULES=most.
esp_mb=256
mkfs.vfat -F 32 -n ESP -i "$esp_vol" -C "$work/esp.img" $((esp_mb * 1024)) >/dev/null
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$work/esp.img" "$sdboot" ::/EFI/BOOT/BOOTX64.EFI
cat > "$work/loader.conf" <<EOF
default lifeline.conf
timeout 0
editor no
EOF
cat > "$work/lifeline.conf" <<EOF
title   Debian 12 (lifeline VM rig)
linux   /vmlinuz
initrd  /initrd.img
options $cmdline
EOF
mcopy -i "$work/esp.img" "$work/loader.conf" ::/loader/loader.conf
mcopy -i "$work/esp.img" "$work/lifeline.conf" ::/loader/entries/lifeline.conf
mcopy -i "$work/esp.img" "$ROOT/boot/vmlinuz-$kver" ::/vmlinuz
mcopy -i "$work/esp.img" "$ROOT/boot/initrd.img-$kver" ::/initrd.img

# Disk image: sparse, partitioned with sgdisk.  Not "sgdisk -q" together
# with -o/-n: that combination silently wrote no table here.
esp_start=2048
esp_sectors=$((esp_mb * 2048))
root_start=$((esp_start + esp_sectors))
root_sectors=$((root_mb * 2048))
var_start=$((root_start + root_sectors))
var_sectors=$((var_mb * 2048))
total=$((var_start + var_sectors + 2048))
rm -f "$disk"
truncate -s $((total * 512)) "$disk"
sgdisk -o \
	-n 1:$esp_start:+$esp_sectors -t 1:ef00 -c 1:ESP -u 1:"$esp_partuuid" \
	-n 2:$root_start:+$root_sectors -t 2:8304 -c 2:root -u 2:"$root_partuuid" \
	"$disk" >"$work/sgdisk.log" 2>&1 || { cat "$work/sgdisk.log" >&2; exit 1; }
if [ "$var_mb" -gt 0 ]; then
	sgdisk -n 3:$var_start:+$var_sectors -t 3:8310 -c 3:var -u 3:"$var_partuuid" \
		"$disk" >>"$work/sgdisk.log" 2>&1 || { cat "$work/sgdisk.log" >&2; exit 1; }
fi
sgdisk -v "$disk" | grep -q 'No problems found' || { sgdisk -v "$disk" >&2; exit 1; }
dd if="$work/esp.img" of="$disk" bs=1M seek=$((esp_start * 512 / 1048576)) conv=notrunc,sparse status=none

# Root: mke2fs copies the directory tree (owners, modes, xattrs, device
# nodes) straight into the image at the partition's offset.  -F: the file
# holds a partition table and mke2fs would ask before writing.
if [ "$var_mb" -gt 0 ]; then
	# /var's content goes to p3; the root keeps an empty mount point
	mke2fs -q -F -t ext4 -L var -d "$ROOT/var" \
		-E offset=$((var_start * 512)) "$disk" $((var_sectors / 2))k
	mv "$ROOT/var" "$work/var-moved"
	mkdir -m 0755 "$ROOT/var"
fi
mke2fs -q -F -t ext4 -L root -U "$root_fsuuid" -d "$ROOT" \
	-E offset=$((root_start * 512)) "$disk" $((root_sectors / 2))k
if [ "$var_mb" -gt 0 ]; then
	rmdir "$ROOT/var"
	mv "$work/var-moved" "$ROOT/var"
fi

cat > "$disk.info" <<EOF
KVER='$kver'
CMDLINE='$cmdline'
ESP_PARTUUID='$esp_partuuid'
ROOT_PARTUUID='$root_partuuid'
ROOT_FSUUID='$root_fsuuid'
ESP_OFFSET=$((esp_start * 512))
ROOT_OFFSET=$((root_start * 512))
VAR_PARTUUID='$([ "$var_mb" -gt 0 ] && echo "$var_partuuid")'
VAR_OFFSET=$((var_mb > 0 ? var_start * 512 : 0))
EOF
echo "mkdisk: $disk ready in $(($(date +%s) - t0)) s (kernel $kver, cmdline: $cmdline)"
