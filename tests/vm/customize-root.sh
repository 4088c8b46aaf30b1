#!/bin/sh
# Turn a fresh mmdebstrap root into the VM tests' guest.  Run by
# build-root.sh as mmdebstrap hooks (on the host, $1 = the root directory;
# mmdebstrap has /proc, /sys and /dev mounted in it at that point).
#
#   customize-root.sh --initramfs-only ROOT   (essential-hook: before the
#                                              kernel and initramfs-tools)
#   customize-root.sh ROOT                    (customize-hook: at the end)
set -eu

initramfs_config() {
	root=$1
	# MODULES=list: the initramfs holds only what the hook below adds (and
	# what other hooks, e.g. lifeline's, add themselves).  MODULES=most
	# costs ~53 s per image under this machine's speed; MODULES=dep guesses
	# from the *host's* hardware when run in a chroot.  The VM's hardware is
	# fixed (q35, virtio disk, ext4 root), so the list is known.
	# tests/vm/mkdisk.sh can still ask for another policy
	# (LIFELINE_VM_INITRAMFS_MODULES).
	mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/etc/initramfs-tools/hooks"
	cat > "$root/etc/initramfs-tools/conf.d/lifeline-vm.conf" <<'EOF'
# lifeline VM rig: only the modules the rig's hook and other hooks add
MODULES=list
# The fsck hook cannot probe the root's type in a chroot (the PARTUUID in
# fstab names no device on the host): say it, so fsck.ext4 is included.
FSTYPE=ext4
EOF
	cat > "$root/etc/initramfs-tools/hooks/lifeline-vm-modules" <<'EOF'
#!/bin/sh
# lifeline VM rig: drivers needed to find and mount the root in the VM
# (q35 + virtio-blk + ext4 with metadata checksums).  udev loads the
# virtio drivers by alias; mount loads ext4 and ext4 asks for crc32c.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules virtio_pci virtio_blk ext4 crc32c_generic
EOF
	chmod 0755 "$root/etc/initramfs-tools/hooks/lifeline-vm-modules"
}

if [ "${1:-}" = "--initramfs-only" ]; then
	initramfs_config "${2:?root}"
	exit 0
fi

root=${1:?usage: customize-root.sh [--initramfs-only] ROOT}
initramfs_config "$root"

echo lifeline-vm > "$root/etc/hostname"
cat > "$root/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	lifeline-vm
::1		localhost ip6-localhost ip6-loopback
EOF

# Root: empty password (serial console login) and the rig's ssh key, which
# build-root.sh adds per output directory (not cached).
chroot "$root" passwd -q -d root

# DHCP on the virtio NIC (QEMU user network: guest 10.0.2.15, host 10.0.2.2)
mkdir -p "$root/etc/systemd/network"
cat > "$root/etc/systemd/network/50-lifeline-vm.network" <<'EOF'
[Match]
Type=ether

[Network]
DHCP=ipv4
EOF
chroot "$root" systemctl enable systemd-networkd.service

mkdir -p "$root/etc/ssh/sshd_config.d"
cat > "$root/etc/ssh/sshd_config.d/lifeline-vm.conf" <<'EOF'
# lifeline VM rig: the host logs in as root with the rig's key
PermitRootLogin prohibit-password
UseDNS no
EOF

# A test powers off / reboots often: do not wait 90 s for a stuck unit.
mkdir -p "$root/etc/systemd/system.conf.d"
cat > "$root/etc/systemd/system.conf.d/lifeline-vm.conf" <<'EOF'
[Manager]
DefaultTimeoutStopSec=15s
EOF

# systemd-firstboot would prompt on the console for a locale, time zone and
# root password if it ever saw an empty machine-id with a writable /etc:
# never wanted here (mkdisk.sh gives every disk its own machine-id anyway).
chroot "$root" systemctl mask systemd-firstboot.service

# Periodic jobs only add noise and load under emulation.
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
	fstrim.timer man-db.timer; do
	chroot "$root" systemctl disable "$t" 2>/dev/null || :
done

# mkdisk.sh writes the real fstab (it knows the partition UUIDs).
echo "# written by tests/vm/mkdisk.sh" > "$root/etc/fstab"

# No empty sources lines or caches in the image.
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*_Packages 2>/dev/null || :
echo "lifeline VM rig root, built $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$root/etc/lifeline-vm-release"
