#!/bin/sh
# Read and change files in a disk made by mkdisk.sh from the host, with the
# VM powered off, without loop mounts (debugfs / mtools at a byte offset).
#
#   imgfs.sh DISK offset [N]            byte offset of partition N (default 2)
#   imgfs.sh DISK cat PATH              print a file of the ext4 root
#   imgfs.sh DISK ls PATH               list a directory of the ext4 root
#   imgfs.sh DISK exists PATH           exit 0 if PATH exists in the root
#   imgfs.sh DISK put LOCAL PATH        copy a host file in (replaces PATH;
#                                       owner, mode, mtime from LOCAL; the
#                                       directory must exist)
#   imgfs.sh DISK rm PATH               remove a file from the root
#   imgfs.sh DISK debugfs [-w] CMD      any debugfs request on the root
#   imgfs.sh DISK recover               replay the root's journal if needed
#   imgfs.sh DISK esp-cat PATH          print a file of the ESP (FAT)
#   imgfs.sh DISK esp-ls [PATH]         list a directory of the ESP
#
# After a crash the ext4 journal may hold unreplayed changes: debugfs would
# read stale files, and a write would be undone by the replay at the next
# mount.  So every command on the root first replays the journal when the
# filesystem says it needs it (this changes the image as the next mount
# would; the VM must be off or held).
set -eu
disk=${1:?usage: imgfs.sh DISK offset|cat|ls|exists|put|rm|debugfs|esp-cat|esp-ls ...}
cmd=${2:?usage: imgfs.sh DISK offset|cat|ls|exists|put|rm|debugfs|esp-cat|esp-ls ...}
shift 2

part_offset() {
	# sgdisk prints "First sector: 264192 (at 129.0 MiB)"; images use
	# 512-byte logical sectors.
	first=$(sgdisk -i "$1" "$disk" | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
	[ -n "$first" ] || { echo "imgfs.sh: no partition $1 in $disk" >&2; exit 1; }
	echo $((first * 512))
}

root_dev() { echo "$disk?offset=$(part_offset 2)"; }

part_size() {
	n=$(sgdisk -i "$1" "$disk" | sed -n 's/^Partition size: \([0-9]*\) sectors.*/\1/p')
	echo $((n * 512))
}

# e2fsck cannot replay a journal at an offset in e2fsprogs 1.47.0 (see
# fsck-part.py), so the replay works on a copy of the partition.
replay_journal() {
	if dumpe2fs -h "$(root_dev)" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery'; then
		python3 "$(dirname "$0")/fsck-part.py" "$disk" "$(part_offset 2)" "$(part_size 2)"
	fi
}

dir_of() { case "$1" in */*) d=${1%/*}; echo "${d:-/}" ;; *) echo / ;; esac; }

case "$cmd" in
offset)
	part_offset "${1:-2}"
	;;
recover)
	replay_journal
	;;
cat)
	replay_journal
	# debugfs prints nothing and exits 0 for a missing file: check first
	"$0" "$disk" exists "$1" || { echo "imgfs.sh: $1: not in $disk" >&2; exit 1; }
	debugfs -R "cat \"$1\"" "$(root_dev)" 2>/dev/null
	;;
ls)
	replay_journal
	debugfs -R "ls -l \"$1\"" "$(root_dev)" 2>/dev/null
	;;
exists)
	replay_journal
	debugfs -R "stat \"$1\"" "$(root_dev)" 2>&1 | grep -q '^Inode:'
	;;
put)
	local_file=${1:?put LOCAL PATH}
	path=${2:?put LOCAL PATH}
	replay_journal
	cmds=$(mktemp)
	trap 'rm -f "$cmds"' EXIT
	# debugfs "write" names the new file in the current directory only
	{
		echo "cd \"$(dir_of "$path")\""
		if "$0" "$disk" exists "$path"; then echo "rm \"${path##*/}\""; fi
		echo "write \"$local_file\" \"${path##*/}\""
	} > "$cmds"
	debugfs -w -f "$cmds" "$(root_dev)" >/dev/null 2>&1
	"$0" "$disk" exists "$path" || { echo "imgfs.sh: writing $path into $disk failed" >&2; exit 1; }
	;;
rm)
	replay_journal
	debugfs -w -R "rm \"$1\"" "$(root_dev)" >/dev/null 2>&1
	! "$0" "$disk" exists "$1"
	;;
debugfs)
	replay_journal
	if [ "${1:-}" = -w ]; then
		shift
		debugfs -w -R "$*" "$(root_dev)"
	else
		debugfs -R "$*" "$(root_dev)"
	fi
	;;
esp-cat)
	# mtools: "image@@offset" addresses a FAT filesystem inside a disk
	mcopy -n -i "$disk@@$(part_offset 1)" "::$1" -
	;;
esp-ls)
	mdir -i "$disk@@$(part_offset 1)" "::${1:-/}"
	;;
*)
	echo "imgfs.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
