#!/bin/sh
# Install the FAKE OldSec Agent into a root directory on the host:
#   oldsec/install.sh ROOT
# /opt/oldsec/bin/oldsecd, /etc/systemd/system/oldsec.service (enabled),
# /etc/lifeline/components.d/oldsec.conf. Its files are dated 2025-06-01
# here (mtime); the disk's inode change times are set afterwards with
# `oldsec/install.sh --age DISK.img` (mke2fs copies the host's ctime, which
# no tool can set on the host).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
FILES="/opt/oldsec/bin/oldsecd /etc/systemd/system/oldsec.service"
STAMP=202506010000
if [ "${1:-}" = --age ]; then
	disk=${2:?usage: oldsec/install.sh --age DISK.img}
	for f in $FILES; do
		for field in mtime ctime atime; do
			"$here/../imgfs.sh" "$disk" debugfs -w "set_inode_field $f $field ${STAMP}00"
		done
	done
	exit 0
fi
root=${1:?usage: oldsec/install.sh ROOT | --age DISK.img}
install -D -m 0755 "$here/oldsecd" "$root/opt/oldsec/bin/oldsecd"
install -D -m 0644 "$here/oldsec.service" "$root/etc/systemd/system/oldsec.service"
install -D -m 0644 "$here/oldsec.conf" "$root/etc/lifeline/components.d/oldsec.conf"
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../oldsec.service "$root/etc/systemd/system/multi-user.target.wants/oldsec.service"
for f in $FILES; do
	touch -h -t "$STAMP" "$root$f"
done
