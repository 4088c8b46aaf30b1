#!/bin/bash
# The bytes lifeline adds to every initramfs: a real initramfs-tools image
# built without lifeline, then `make install` and the same image built
# again, in a chroot of the VM rig's Debian 12 root (tests/vm/build-root.sh
# caches it as /var/cache/lifeline-vm/root-*.tar.zst; the newest one is
# unpacked as it is, never rebuilt: no cache, no figure). The same approach
# as tests/initramfs/run.sh, only the initramfs-tools image and no checks,
# so that it fits in `make bench`. lifeline is configured as the VM rig
# configures its guests (tests/vm/scenario.py LIFELINE_CONF: among others
# initramfs_watchdog = i6300esb, the rig's watchdog).
#
# The goal (<= 300 KiB added) is judged on the image file, the
# zstd-compressed cpio that /boot holds and the boot loader reads: that is
# what a machine pays in disk, boot loader read time and RAM before the
# kernel unpacks it. The unpacked bytes are printed as information: with
# the pieces the design requires (libefivar 151 KiB, the watchdog core
# 90 KiB, efivarfs 48 KiB) they cannot reach 300 KiB.
#
#   tests/bench/bench-initramfs.sh [BUILD_DIR]
#
# Environment: LIFELINE_BUILD (the build directory, default "build"),
# LIFELINE_VM_CACHE (default /var/cache/lifeline-vm), BENCH_TABLE (run.sh:
# the summary table's rows), BENCH_SKIP_INITRAMFS=1 (skip: ~1.5 min).
# Prints only; always exits 0. Needs root (chroot).
set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-${LIFELINE_BUILD:-build}}
cache=${LIFELINE_VM_CACHE:-/var/cache/lifeline-vm}
start=$(date +%s)

row() {
	[ -n "${BENCH_TABLE:-}" ] && printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$BENCH_TABLE"
	return 0
}
skip() {
	echo "initramfs size: skipped ($1)"
	row "initramfs bytes added by lifeline" "skipped ($1)" "-" "-" "<= 300 KiB (zstd image)" "-"
	exit 0
}
elapsed() { echo "$(($(date +%s) - start)) s"; }

[ "${BENCH_SKIP_INITRAMFS:-0}" = 1 ] && skip "BENCH_SKIP_INITRAMFS=1"
# shellcheck disable=SC2012 # newest first; the names are ours (root-<hex>)
tarball=$(ls -t "$cache"/root-*.tar.zst 2> /dev/null | head -1)
[ -n "$tarball" ] || skip "no VM root cache"
[ "$(id -u)" = 0 ] || skip "needs root for chroot"
for tool in zstd tar chroot find sort join awk make; do
	command -v "$tool" > /dev/null || skip "no $tool"
done
build=$(cd "$build" 2> /dev/null && pwd) || skip "no build directory"
[ -x "$build/initramfs-hook/lifeline-early" ] || skip "lifeline not built"

# The root (~0.7 GB unpacked) goes to a tmpfs when one has room: nothing
# here needs a disk, and writing it back and deleting it again costs the
# (shared, busy) disk a minute or more. Else $TMPDIR or /var/tmp.
base=${TMPDIR:-/var/tmp}
shm_free=$(df -Pk /dev/shm 2> /dev/null | awk 'NR == 2 && $1 == "tmpfs" { print $4 }')
[ "${shm_free:-0}" -gt $((2 * 1024 * 1024)) ] && base=/dev/shm
work=$(mktemp -d "$base/bench-initramfs.XXXXXX") || skip "no work directory"
trap 'rm -rf "$work"' EXIT
trap 'exit 0' INT TERM HUP
root=$work/root
mkdir -p "$root"
echo "unpacking $tarball into $work"
# Left out: what no initramfs hook reads (compiler, kernel headers,
# translations, documentation).
if ! zstd -q -dc "$tarball" | tar -C "$root" --numeric-owner -xf - \
	--exclude='./usr/lib/gcc' --exclude='./usr/libexec/gcc' --exclude='./usr/src' \
	--exclude='./usr/share/locale' --exclude='./usr/share/doc' --exclude='./usr/share/man' \
	--exclude='./usr/bin/x86_64-linux-gnu-lto-dump-*' 2> "$work/unpack.log"; then
	sed 's/^/    | /' "$work/unpack.log" | tail -5
	skip "the VM root cache could not be unpacked"
fi
kver=$(ls "$root/lib/modules" 2> /dev/null)
case "$kver" in
*[!A-Za-z0-9._+-]* | "") skip "the cached root has not exactly one kernel ('$kver')" ;;
esac
[ -x "$root/usr/sbin/mkinitramfs" ] || skip "no mkinitramfs in the cached root"
echo "root unpacked ($(elapsed)); kernel $kver"

# mkinitramfs NAME: the image $root/tmp/NAME.img, unpacked into $root/tmp/NAME.
mkimage() {
	chroot "$root" mkinitramfs -o "/tmp/$1.img" "$kver" > "$work/mkinitramfs-$1.log" 2>&1 &&
		chroot "$root" unmkinitramfs "/tmp/$1.img" "/tmp/$1" > "$work/unmk-$1.log" 2>&1
}
# file_bytes TREE: the regular files' sizes, each hard-linked file once (as
# cpio stores it).
file_bytes() {
	find "$1" -type f -printf '%i %s\n' | sort -u | awk '{ s += $2 } END { print s + 0 }'
}
# The unpacked image (with an early microcode archive: its main part).
tree_of() { if [ -d "$root/tmp/$1/main" ]; then echo "$root/tmp/$1/main"; else echo "$root/tmp/$1"; fi; }

if ! mkimage plain; then
	sed 's/^/    | /' "$work/mkinitramfs-plain.log" | tail -5
	skip "mkinitramfs without lifeline failed"
fi
echo "image without lifeline built ($(elapsed))"
if ! make -s -C "$top" install DESTDIR="$root" PREFIX=/usr O="$build" > "$work/install.log" 2>&1; then
	sed 's/^/    | /' "$work/install.log" | tail -5
	skip "make install DESTDIR=<root> failed"
fi
# The VM rig's lifeline.conf (make install keeps an existing one).
if ! (cd "$top/tests/vm" && python3 -c 'import scenario; print(scenario.LIFELINE_CONF % {"watchdog": 300, "threshold": 3, "store": "efi"}, end="")') \
	> "$root/etc/lifeline/lifeline.conf" 2> "$work/conf.log"; then
	sed 's/^/    | /' "$work/conf.log" | tail -3
	skip "could not take the VM rig's lifeline.conf from tests/vm/scenario.py"
fi
echo "lifeline.conf as the VM rig writes it: $(grep -v '^;' "$root/etc/lifeline/lifeline.conf" | grep . | tr '\n' ' ')"
if ! mkimage lifeline; then
	sed 's/^/    | /' "$work/mkinitramfs-lifeline.log" | tail -5
	skip "mkinitramfs with lifeline failed"
fi
echo "image with lifeline built ($(elapsed))"

plain=$(tree_of plain)
with=$(tree_of lifeline)
b_plain=$(file_bytes "$plain")
b_with=$(file_bytes "$with")
z_plain=$(stat -c %s "$root/tmp/plain.img")
z_with=$(stat -c %s "$root/tmp/lifeline.img")
added=$((b_with - b_plain))
zadded=$((z_with - z_plain))

(cd "$plain" && find . -type f -printf '%s %P\n') | sort -k2 > "$work/plain.sizes"
(cd "$with" && find . -type f -printf '%s %P\n') | sort -k2 > "$work/with.sizes"
echo
echo "initramfs-tools image (MODULES=list, as the VM rig builds it), kernel $kver:"
printf '  %-28s %12s %12s\n' "" "uncompressed" "zstd image"
printf '  %-28s %12d %12d\n' "without lifeline (bytes)" "$b_plain" "$z_plain"
printf '  %-28s %12d %12d\n' "with lifeline (bytes)" "$b_with" "$z_with"
printf '  %-28s %12d %12d   (zstd image +%d KiB: goal <= 300 KiB; unpacked +%d KiB: info)\n' \
	"added" "$added" "$zadded" $((zadded / 1024)) $((added / 1024))
echo
echo "  new files by kind (bytes):"
join -1 2 -2 2 -v 1 "$work/with.sizes" "$work/plain.sizes" | awk '
	{ k = "other" }
	$1 ~ /^usr\/lib\/lifeline\// { k = "lifeline-early" }
	$1 ~ /\.so(\.[0-9]+)*$/ { k = "shared libraries" }
	$1 ~ /\.ko(\.[a-z]+)?$/ { k = "kernel modules (efivarfs, efi-pstore, watchdogs)" }
	$1 ~ /^etc\/lifeline\// { k = "configuration (etc/lifeline)" }
	$1 ~ /^scripts\// { k = "boot scripts" }
	{ s[k] += $2; n[k]++ }
	END { for (k in s) printf "    %9d  %s (%d files)\n", s[k], k, n[k] }' | sort -rn
new=$(join -1 2 -2 2 -v 1 "$work/with.sizes" "$work/plain.sizes" | awk '{ s += $2 } END { print s + 0 }')
changed=$(join -1 2 -2 2 "$work/with.sizes" "$work/plain.sizes" | awk '$2 != $3 { printf " %s", $1 }')
printf '    %9d  changes to files both images have (hard links counted once):%s\n' \
	$((added - new)) "$changed"
echo "  every file lifeline adds or changes (bytes unpacked; changed: the difference):"
{
	join -1 2 -2 2 -v 1 "$work/with.sizes" "$work/plain.sizes" | awk '{ print $2, $1, "new" }'
	join -1 2 -2 2 "$work/with.sizes" "$work/plain.sizes" |
		awk '$2 != $3 { print $2 - $3, $1, "changed (" $3 " -> " $2 ")" }'
} | sort -rn | awk '{ n = $1; f = $2; $1 = ""; $2 = ""; sub(/^  /, ""); printf "    %9d  %s  %s\n", n, f, $0 }'
echo "  (libraries the image already had, such as libcrypto for kmod, cost nothing here)"
echo "initramfs: $(elapsed)"

kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "x%.3f", a / b }'; }
row "initramfs bytes added, zstd image" "$(kib "$zadded")" "image w/o $(mib "$z_plain")" \
	"$(ratio "$z_with" "$z_plain")" "<= 300 KiB (the image file)" \
	"$([ "$zadded" -le $((300 * 1024)) ] && echo met || echo 'NOT met')"
row "initramfs bytes added, unpacked" "$(kib "$added")" "image w/o $(mib "$b_plain")" \
	"$(ratio "$b_with" "$b_plain")" "-" "info"
exit 0
