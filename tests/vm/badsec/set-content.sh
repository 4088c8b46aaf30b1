#!/bin/sh
# Switch the FAKE BadSec Security content ("bad update" / "good update").
#   set-content.sh ROOTDIR|DISK.img good|crash|hang|FILE
# ROOTDIR: a root directory on the host (before mkdisk.sh).
# DISK.img: a disk made by mkdisk.sh, with the VM powered off; written with
#   debugfs into the ext4 root partition (partition 2), no loop mount.
# Inside a running guest use /opt/badsec/bin/badsec-update instead.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: set-content.sh ROOTDIR|DISK.img good|crash|hang|FILE}
what=${2:?usage: set-content.sh ROOTDIR|DISK.img good|crash|hang|FILE}
path=/opt/badsec/content/channel-291.bin

case "$what" in
good)  data="GOOD channel 291 (good update)" ;;
crash) data="CRASH channel 291 (bad update)" ;;
hang)  data="HANG channel 291 (bad update)" ;;
*)     data=$(cat "$what") ;;
esac

if [ -d "$target" ]; then
	mkdir -p "$target${path%/*}"
	printf '%s\n' "$data" > "$target$path"
	chmod 0644 "$target$path"
else
	tmp=$(mktemp)
	trap 'rm -f "$tmp"' EXIT
	printf '%s\n' "$data" > "$tmp"
	chmod 0644 "$tmp"
	"$here/../imgfs.sh" "$target" put "$tmp" "$path"
fi
echo "badsec content in $target: $data"
