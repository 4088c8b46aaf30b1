#!/bin/sh
# Build the endpoint machine: Secure Boot (Microsoft-keyed OVMF), shim ->
# GRUB -> kernel, all signed; BadSec's module signed with a machine owner
# key (MOK) planted in the firmware variables; a TPM 2.0 (swtpm); the root
# on LUKS2.  No loop device and no dm-crypt on the host.
#
#   tests/vm/endpoint/build.sh [--overlay DIR] [--conf FILE] OUTDIR
#
#   --overlay DIR   copied over the root before anything else (cp -a DIR/.)
#   --conf FILE     appended to the guest's /etc/lifeline/lifeline.conf
#
# OUTDIR afterwards (one machine: keep these together):
#   disk.img            GPT: p1 ESP (FAT32), p2 LUKS2 (ext4 inside)
#   OVMF_VARS.fd        a copy of OVMF_VARS_4M.ms.fd + MokList
#   tpm/                swtpm state (TPM 2.0, sha256 bank only)
#   id_ed25519          root's ssh key (from tests/vm/build-root.sh)
#   mok.key mok.der     the machine owner key badsec.ko is signed with
#   recovery.passphrase the LUKS recovery slot's passphrase (never typed)
#   provision.key       the first boot's key file (in the first initramfs
#                       only; tests/vm/endpoint/provision.py binds the TPM
#                       and removes it)
#   disk.img.info       KVER, CMDLINE, LUKS_UUID, ESP_OFFSET, ROOT_OFFSET
#
# The Debian root comes from tests/vm/build-root.sh with the endpoint's
# extra packages and its own cache directory (so it never evicts the plain
# rig's cached root): ${LIFELINE_VM_CACHE:-/var/cache/lifeline-vm}/endpoint.
# The signed shim and GRUB come from their Debian packages (apt-get
# download, cached in the same directory by package version).
#
# lifeline is installed as tests/vm/mkdisk.sh --lifeline does it:
# make -C SRC install DESTDIR=ROOT PREFIX=/usr, lifelined.service enabled.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
vmdir=$(cd "$here/.." && pwd)
top=$(cd "$here/../../.." && pwd)
overlays=
confs=
while [ $# -gt 0 ]; do
	case "$1" in
	--overlay) overlays="$overlays ${2:?}"; shift 2 ;;
	--conf)    confs="$confs ${2:?}"; shift 2 ;;
	-*) echo "usage: build.sh [--overlay DIR] [--conf FILE] OUTDIR" >&2; exit 2 ;;
	*) break ;;
	esac
done
out=${1:?usage: build.sh [--overlay DIR] [--conf FILE] OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
t0=$(date +%s)

cache=${LIFELINE_VM_CACHE:-/var/cache/lifeline-vm}/endpoint
ROOT_MB=${LIFELINE_EP_ROOT_MB:-2048}
ESP_MB=128

# Guest packages on top of the rig's root.  Why each:
#   cryptsetup cryptsetup-initramfs   the LUKS root, unlocked in the initramfs
#                                     (clevis-initramfs does not pull the latter)
#   clevis clevis-luks clevis-tpm2 clevis-initramfs tpm2-tools
#                                     the TPM2 pin, bound in the guest, and
#                                     tpm2_pcrread for the PCR 7 checks
#   bash gawk                         clevis's initramfs hook wants them (and
#                                     curl and ps, already in the root)
#   mokutil keyutils                  mokutil --sb-state, keyctl for keyrings
LIFELINE_VM_EXTRA_PKGS="mokutil keyutils cryptsetup cryptsetup-initramfs clevis clevis-tpm2 clevis-luks clevis-initramfs tpm2-tools bash gawk"
export LIFELINE_VM_EXTRA_PKGS
LIFELINE_VM_CACHE=$cache "$vmdir/build-root.sh" "$out/base"
ROOT=$out/base/root
kver=$(cat "$out/base/kver")
cp "$out/base/id_ed25519" "$out/base/id_ed25519.pub" "$out/"
t1=$(date +%s)

# Run a command inside the root (as mkdisk.sh's in_root: a private mount
# namespace with /proc, /sys and /dev; nothing stays mounted on the host).
in_root() {
	unshare --mount --propagation private -- sh -ec '
		r=$1; shift
		mount -t proc proc "$r/proc"
		mount -t sysfs sysfs "$r/sys"
		mount --rbind /dev "$r/dev"
		exec chroot "$r" "$@"' in_root "$ROOT" "$@"
}

# --- the signed boot chain (Debian's Microsoft-signed shim, Debian-signed GRUB)
efidir=$cache/efi
mkdir -p "$efidir"
(
	cd "$efidir"
	for p in shim-signed grub-efi-amd64-signed; do
		v=$(apt-cache policy "$p" | sed -n 's/^ *Candidate: //p')
		[ -n "$v" ] && [ "$v" != "(none)" ] || { echo "build: no candidate for $p (apt-get update?)" >&2; exit 1; }
		d=$efidir/$p-$v
		if [ ! -d "$d" ]; then
			rm -f ./"$p"_*.deb
			apt-get download "$p=$v" >/dev/null 2>&1 || apt-get download "$p=$v"
			dpkg-deb -x ./"$p"_*.deb "$d.tmp"
			mv "$d.tmp" "$d"
			rm -f ./"$p"_*.deb
		fi
		ln -sfn "$d" "$efidir/$p"
	done
)
shim=$efidir/shim-signed/usr/lib/shim/shimx64.efi.signed
grub=$efidir/grub-efi-amd64-signed/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
[ -s "$shim" ] && [ -s "$grub" ] || { echo "build: signed shim/GRUB missing in $efidir" >&2; exit 1; }

# --- the machine owner key, and the vendor's module signed with it
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
	-subj "/CN=BadSec Security module signing (lifeline test MOK)/" \
	-addext "basicConstraints=critical,CA:FALSE" \
	-addext "keyUsage=digitalSignature" \
	-addext "extendedKeyUsage=codeSigning" \
	-keyout "$out/mok.key" -outform DER -out "$out/mok.der" 2>/dev/null
signfile=$(ls "$ROOT"/usr/lib/linux-kbuild-*/scripts/sign-file | head -1)
[ -x "$signfile" ] || { echo "build: no sign-file in the root (linux-kbuild)" >&2; exit 1; }
ko=/lib/modules/$kver/extra/badsec.ko
install -m 0600 "$out/mok.key" "$ROOT/root/mok.key"
install -m 0644 "$out/mok.der" "$ROOT/root/mok.der"
in_root "${signfile#"$ROOT"}" sha256 /root/mok.key /root/mok.der "$ko"
rm -f "$ROOT/root/mok.key" "$ROOT/root/mok.der"
tail -c 28 "$ROOT$ko" | grep -q '~Module signature appended~' || { echo "build: $ko not signed" >&2; exit 1; }
echo "build: $ko signed with the MOK ($(openssl x509 -inform DER -in "$out/mok.der" -noout -subject))"

# --- overlays, lifeline, its configuration (as tests/vm/scenario.py's guest)
for o in $overlays; do cp -a "$o/." "$ROOT/"; done
make -C "$top" install DESTDIR="$ROOT" PREFIX=/usr
in_root systemctl enable lifelined.service
mkdir -p "$ROOT/etc/lifeline/components.d"
python3 - "$ROOT/etc/lifeline/components.d/badsec.conf" <<EOF
import sys
sys.path.insert(0, "$vmdir")
from scenario import BADSEC_CONF
open(sys.argv[1], "w").write(BADSEC_CONF)
EOF
# Short settings so the whole outage fits CI: threshold 2 (safe mode at the
# third boot of the loop), blessed 20 s after boot.
cat > "$ROOT/etc/lifeline/lifeline.conf" <<'EOF'
[boot]
threshold = 2
escalate_after = 2
stable_after = 20
boot_watchdog = 300
panic_reboot = 5
store = efi
initramfs_watchdog = i6300esb
EOF
for c in $confs; do cat "$c" >> "$ROOT/etc/lifeline/lifeline.conf"; done

# --- the encrypted root's configuration
luks_uuid=$(cat /proc/sys/kernel/random/uuid)
esp_partuuid=$(cat /proc/sys/kernel/random/uuid)
esp_vol=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$ROOT/etc/machine-id"
echo >> "$ROOT/etc/machine-id"
cmdline="root=/dev/mapper/root ro console=ttyS0,115200 panic=5 oops=panic"
cat > "$ROOT/etc/fstab" <<EOF
# written by tests/vm/endpoint/build.sh
/dev/mapper/root	/	ext4	errors=remount-ro	0	1
PARTUUID=$esp_partuuid	/boot/efi	vfat	umask=0077,nofail,x-systemd.device-timeout=600	0	0
EOF
mkdir -p "$ROOT/boot/efi"
# The first boot unlocks with a key file inside the initramfs
# (cryptsetup-initramfs's KEYFILE_PATTERN); provision.py binds the TPM,
# removes the key file's slot and this line's key, and rebuilds the
# initramfs.  "initramfs": the hook cannot see the device from a chroot.
install -d -m 0700 "$ROOT/etc/cryptsetup-keys.d"
head -c 64 /dev/urandom > "$out/provision.key"
install -m 0400 "$out/provision.key" "$ROOT/etc/cryptsetup-keys.d/root.key"
echo "root UUID=$luks_uuid /etc/cryptsetup-keys.d/root.key luks,discard,initramfs" > "$ROOT/etc/crypttab"
mkdir -p "$ROOT/etc/cryptsetup-initramfs" "$ROOT/etc/initramfs-tools/conf.d" \
	"$ROOT/etc/initramfs-tools/hooks" "$ROOT/etc/initramfs/post-update.d"
echo 'KEYFILE_PATTERN="/etc/cryptsetup-keys.d/*.key"' > "$ROOT/etc/cryptsetup-initramfs/conf-hook"
# UMASK: the image holds a key file until provisioning is done.
# COMPRESSLEVEL=1: zstd -9 (the default) costs minutes in the guest under
# TCG, for a few MB less on the ESP.
printf 'UMASK=0077\nCOMPRESSLEVEL=1\n' > "$ROOT/etc/initramfs-tools/conf.d/endpoint.conf"
cat > "$ROOT/etc/initramfs-tools/hooks/endpoint-crypt-modules" <<'EOF'
#!/bin/sh
# lifeline endpoint rig: dm-crypt and the ciphers the LUKS2 root needs.
# With MODULES=list the cryptroot hook, run in a chroot that has no open
# mapping to look at, cannot tell which cipher modules the device uses.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules dm_mod dm_crypt xts ecb cbc af_alg algif_skcipher
EOF
chmod 0755 "$ROOT/etc/initramfs-tools/hooks/endpoint-crypt-modules"
# The boot loader reads the kernel and initramfs from the ESP: every
# update-initramfs in the guest copies the new image there.
cat > "$ROOT/etc/initramfs/post-update.d/zz-endpoint-esp" <<'EOF'
#!/bin/sh
# lifeline endpoint rig: GRUB boots \initrd.img on the ESP; keep it current.
set -e
[ -f "$2" ] || exit 0
if mountpoint -q /boot/efi; then
	cp "$2" /boot/efi/initrd.img.new
	mv /boot/efi/initrd.img.new /boot/efi/initrd.img
	sync -f /boot/efi
	echo "zz-endpoint-esp: $2 -> /boot/efi/initrd.img"
fi
EOF
chmod 0755 "$ROOT/etc/initramfs/post-update.d/zz-endpoint-esp"

ti=$(date +%s)
in_root update-initramfs -u -k "$kver"
echo "build: initramfs built in $(($(date +%s) - ti)) s ($(du -h "$ROOT/boot/initrd.img-$kver" | cut -f1))"
# The key file is in the initramfs; the root keeps a copy only until
# provision.py has bound the TPM.

work=$(mktemp -d "$out/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP

# --- the ESP: shim as the removable-media loader, GRUB next to it, its
# config where the signed GRUB looks ($prefix = /EFI/debian), kernel and
# initramfs.  No fbx64.efi: shim would run the fallback instead of GRUB.
mkfs.vfat -F 32 -n ESP -i "$esp_vol" -C "$work/esp.img" $((ESP_MB * 1024)) >/dev/null
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT ::/EFI/debian
mcopy -i "$work/esp.img" "$shim" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$work/esp.img" "$grub" ::/EFI/BOOT/grubx64.efi
cat > "$work/grub.cfg" <<EOF
# lifeline endpoint rig (tests/vm/endpoint/build.sh)
set timeout=0
set default=0
search --no-floppy --fs-uuid --set=root $(echo "$esp_vol" | sed 's/^\(....\)/\1-/' | tr a-f A-F)
menuentry 'Debian 12 (lifeline endpoint rig)' {
	linux /vmlinuz $cmdline
	initrd /initrd.img
}
EOF
mcopy -i "$work/esp.img" "$work/grub.cfg" ::/EFI/debian/grub.cfg
mcopy -i "$work/esp.img" "$work/grub.cfg" ::/EFI/BOOT/grub.cfg
mcopy -i "$work/esp.img" "$ROOT/boot/vmlinuz-$kver" ::/vmlinuz
mcopy -i "$work/esp.img" "$ROOT/boot/initrd.img-$kver" ::/initrd.img

# --- the root: ext4 by mke2fs -d, 32 MiB short of the partition, then
# encrypted in place (cryptsetup moves the data to make room for the LUKS2
# header).  Slot 0: the recovery passphrase; slot 1: the provisioning key.
# Both on cheap PBKDF2: the guest has no AES-NI and TCG is slow, and the
# tests never type the passphrase anyway.
tr -dc 'a-z0-9' < /dev/urandom | head -c 32 > "$out/recovery.passphrase"
# lazy_itable_init=0: ext4 would otherwise zero its inode tables in the
# guest after the first mount, every block through dm-crypt under TCG (no
# AES-NI): minutes of soft lockups.  The host zeroes them here instead.
mke2fs -q -F -t ext4 -L root -E lazy_itable_init=0,lazy_journal_init=0 -d "$ROOT" "$work/root.img" $(((ROOT_MB - 32) * 1024))k
truncate -s $((ROOT_MB * 1048576)) "$work/root.img"
te=$(date +%s)
cryptsetup reencrypt --batch-mode --encrypt --type luks2 --reduce-device-size 32M \
	--uuid "$luks_uuid" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$out/recovery.passphrase" "$work/root.img"
cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$out/recovery.passphrase" "$work/root.img" "$out/provision.key"
echo "build: root encrypted in $(($(date +%s) - te)) s (LUKS2 $luks_uuid)"

# --- the disk
esp_start=2048
esp_sectors=$((ESP_MB * 2048))
root_start=$((esp_start + esp_sectors))
root_sectors=$((ROOT_MB * 2048))
total=$((root_start + root_sectors + 2048))
rm -f "$out/disk.img"
truncate -s $((total * 512)) "$out/disk.img"
sgdisk -o \
	-n 1:$esp_start:+$esp_sectors -t 1:ef00 -c 1:ESP -u 1:"$esp_partuuid" \
	-n 2:$root_start:+$root_sectors -t 2:8309 -c 2:root \
	"$out/disk.img" >"$work/sgdisk.log" 2>&1 || { cat "$work/sgdisk.log" >&2; exit 1; }
sgdisk -v "$out/disk.img" | grep -q 'No problems found' || { sgdisk -v "$out/disk.img" >&2; exit 1; }
dd if="$work/esp.img" of="$out/disk.img" bs=1M seek=$((esp_start / 2048)) conv=notrunc,sparse status=none
dd if="$work/root.img" of="$out/disk.img" bs=1M seek=$((root_start / 2048)) conv=notrunc status=none

# --- firmware variables (Microsoft-keyed, Secure Boot on) + the MOK, and
# the TPM
cp /usr/share/OVMF/OVMF_VARS_4M.ms.fd "$out/OVMF_VARS.fd"
"$here/varstore.py" "$out/OVMF_VARS.fd" plant-mok "$out/mok.der"
rm -rf "$out/tpm"
mkdir -p "$out/tpm"
swtpm_setup --tpm2 --tpmstate "$out/tpm" --pcr-banks sha256 --overwrite >"$work/swtpm.log" 2>&1 ||
	{ cat "$work/swtpm.log" >&2; exit 1; }

cat > "$out/disk.img.info" <<EOF
KVER='$kver'
CMDLINE='$cmdline'
LUKS_UUID='$luks_uuid'
ESP_PARTUUID='$esp_partuuid'
ESP_OFFSET=$((esp_start * 512))
ROOT_OFFSET=$((root_start * 512))
EOF
rm -rf "$out/base/root"
echo "build: endpoint machine ready in $out in $(($(date +%s) - t0)) s (root $((t1 - t0)) s)"
