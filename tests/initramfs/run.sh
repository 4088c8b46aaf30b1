#!/bin/bash
# lifeline's initramfs glue built into real images and inspected
# (make check-initramfs; run from anywhere, as root).
#
#   initramfs-tools  mkinitramfs + lsinitramfs/unmkinitramfs: lifeline-early
#                    and its libraries, /bin/false, the configuration, the
#                    modules, the init-top/init-bottom scripts and their
#                    order; a cheap run of the image's own lifeline-early; the
#                    bytes lifeline adds (image without vs with lifeline).
#   dracut           dracut + lsinitrd, both flavours: the systemd-based
#                    initrd (units, wants symlinks, no ordering cycle) and the
#                    shell-based one (--omit systemd: hooks, sourced safely).
#
# Where: Debian's initramfs-tools conflicts with dracut, and this machine has
# no kernel of its own, so the images are built in a chroot: the VM rig's
# Debian 12 root (tests/vm/build-root.sh: cached, unpacked in ~20 s; it has
# linux-image-amd64, initramfs-tools, busybox, zstd) plus `make install
# DESTDIR=root PREFIX=/usr`, plus dracut-core (which may coexist with
# initramfs-tools) installed with dpkg from .debs cached on the host in
# $LIFELINE_INITRAMFS_CACHE (default /var/cache/lifeline-initramfs; apt
# fetches them once, resolved against the root's own package status). The
# host's /boot, /lib/modules and boot loader are never touched; nothing is
# mounted in the chroot (none of the tools needs /proc here), so removing
# the work directory is always safe.
#
# Environment:
#   LIFELINE_INITRAMFS_KEEP=1   keep the work directory (printed) for a look
#   LIFELINE_INITRAMFS_CACHE    where the dracut .debs are cached
#   LIFELINE_VM_CACHE           passed on to build-root.sh (the root's cache)
#
# Output: one PASS/FAIL line per check, INFO lines (sizes, time), and last
# "N passed, N failed" alone on a line; exit status 1 on any failure.
set -u
set -o pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
start=$(date +%s)
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
info() { echo "INFO: $*"; }
# step WHAT: say what comes next and when (seconds since the start).
step() { echo "INFO: [$(($(date +%s) - start)) s] $*"; }
# check DESCRIPTION COMMAND...: PASS when the command succeeds.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
	info "initramfs tests took $(($(date +%s) - start)) s"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}
# Show the end of a log after a failed step.
show_log() { sed 's/^/    | /' "$1" | tail -n "${2:-25}"; }

if [ "$(id -u)" != 0 ]; then
	fail "the initramfs tests need root (chroot, dpkg in the test root)"
	finish
fi

work=$(mktemp -d /var/tmp/lifeline-initramfs.XXXXXX)
cleanup() {
	if [ "${LIFELINE_INITRAMFS_KEEP:-0}" = 1 ]; then
		info "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
logs=$work/logs
mkdir -p "$logs"

# ---------------------------------------------------------------- helpers

# tree_has TREE PATH [TEST]: PATH exists (test -e, or TEST such as -x / -f)
# inside the unpacked image TREE, symlinks resolved inside TREE (its own
# /bin/sh in a chroot: absolute links such as dracut's wants symlinks must
# not be resolved against the host).
tree_has() {
	chroot "$1" /bin/sh -c 'test '"${3:--e}"' "$1"' sh "$2" 2>/dev/null
}

# tree_same TREE PATH SRC: the file at PATH in TREE has SRC's content.
tree_same() {
	[ -f "$1$2" ] && cmp -s "$1$2" "$3"
}

# ldd_closure ROOT BINARY: the absolute paths of BINARY's libraries and its
# ELF interpreter, as ROOT's ldd resolves them.
ldd_closure() {
	chroot "$1" ldd "$2" | awk '
		$2 == "=>" && $3 ~ /^\// { print $3; next }
		$1 ~ /^\// { print $1 }'
}

# file_bytes TREE [EXCLUDED_SUBDIR...]: total size of the regular files in
# TREE, each hard-linked file once (as cpio stores it).
file_bytes() {
	local tree=$1 prune=() d
	shift
	for d in "$@"; do prune+=(-path "$tree/$d" -prune -o); done
	find "$tree" "${prune[@]}" -type f -printf '%i %s\n' | sort -u |
		awk '{ s += $2 } END { print s + 0 }'
}

# run_early TREE NAME: the image's own lifeline-early, phase init, in test
# mode (no mounts, watchdog, /proc/sys), chrooted into the unpacked image so
# that the image's libraries are the ones used; a fake efivarfs directory
# (libefivar needs EFIVARFS_PATH, with its trailing '/', at process start).
run_early() {
	local tree=$1 name=$2 rc
	local var=LifelineState-77117627-ad6b-4cc0-8022-2661bb477dc2
	rm -rf "$tree/run/lifeline" "$tree/tmp/efivars"
	mkdir -p "$tree/tmp/efivars" "$tree/run"
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin EFIVARFS_PATH=/tmp/efivars/ \
		chroot "$tree" /usr/lib/lifeline/lifeline-early --phase=init --test --stderr --root=/ \
		> "$logs/$name-early.log" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && [ -s "$tree/run/lifeline/state" ] && [ -s "$tree/run/lifeline/mode" ] &&
		[ -s "$tree/tmp/efivars/$var" ]; then
		pass "$name: the image's lifeline-early --phase=init --test runs with the image's libraries (exit 0, run/lifeline/state and the EFI variable written: $(tr '\n' ' ' < "$tree/run/lifeline/state" | cut -c1-60)...)"
	else
		fail "$name: the image's lifeline-early --phase=init --test (exit $rc; state $(ls "$tree/run/lifeline" 2>/dev/null | tr '\n' ' '))"
		show_log "$logs/$name-early.log"
	fi
}

# common_payload NAME TREE LIST: what every flavour must carry.
common_payload() {
	local name=$1 tree=$2 list=$3 lib missing f n
	check "$name: usr/lib/lifeline/lifeline-early is in the image (listing) and executable" \
		eval 'grep -Eq "(^|[ /])usr/lib/lifeline/lifeline-early$" "$list" && tree_has "$tree" /usr/lib/lifeline/lifeline-early -x'
	check "$name: the image's lifeline-early is the installed one" \
		tree_same "$tree" /usr/lib/lifeline/lifeline-early "$root/usr/lib/lifeline/lifeline-early"
	missing=""
	n=0
	for lib in $(ldd_closure "$root" /usr/lib/lifeline/lifeline-early); do
		n=$((n + 1))
		tree_has "$tree" "$lib" || missing="$missing $lib"
	done
	if [ "$n" -gt 0 ] && [ -z "$missing" ]; then
		pass "$name: lifeline-early's $n libraries (ldd closure) are in the image"
	else
		fail "$name: lifeline-early's libraries missing from the image:${missing:- (ldd found none)}"
	fi
	check "$name: /bin/false is in the image (modprobe \"install MOD /bin/false\")" \
		tree_has "$tree" /bin/false -x
	check "$name: etc/lifeline/lifeline.conf is the root's" \
		tree_same "$tree" /etc/lifeline/lifeline.conf "$root/etc/lifeline/lifeline.conf"
	missing=""
	n=0
	for f in "$root"/usr/lib/lifeline/components.d/*.conf "$root"/etc/lifeline/components.d/*.conf; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		tree_same "$tree" "${f#"$root"}" "$f" || missing="$missing ${f#"$root"}"
	done
	if [ "$n" -gt 0 ] && [ -z "$missing" ]; then
		pass "$name: all $n components.d/*.conf (usr/lib, etc) are in the image"
	else
		fail "$name: components.d files missing or different in the image:${missing:- (none in the root)}"
	fi
	for f in efivarfs efi-pstore i6300esb iTCO_wdt sp5100_tco vfat nls_cp437 nls_ascii; do
		check "$name: kernel module $f is in the image and in its modules.dep" \
			eval 'grep -Eq "/$f\\.ko(\\.[a-z]+)?\$" "$list" &&
				grep -Eq "/$f\\.ko(\\.[a-z]+)?:" "$tree/usr/lib/modules/$kver/modules.dep"'
	done
}

# ---------------------------------------------------------------- the root

step "preparing the Debian 12 test root (tests/vm/build-root.sh)"
if ! "$top/tests/vm/build-root.sh" "$work/vm" > "$logs/build-root.log" 2>&1; then
	fail "tests/vm/build-root.sh could not provide the Debian root"
	show_log "$logs/build-root.log"
	finish
fi
grep '^build-root:' "$logs/build-root.log" | sed 's/^/INFO: /'
root=$work/vm/root
kver=$(cat "$work/vm/kver")
case "$kver" in
*[!A-Za-z0-9._+-]* | "")
	fail "the root has exactly one kernel (got '$kver')"
	finish
	;;
esac
mkdir -p "$root/tmp/lifeline-test"
t=/tmp/lifeline-test # the same directory as seen from inside the chroot

# ------------------------------------------------------ initramfs-tools

# Image without lifeline first (for the bytes it adds), then install
# lifeline and build it again.
step "initramfs-tools: mkinitramfs without lifeline, make install, mkinitramfs with lifeline"
if ! chroot "$root" mkinitramfs -o "$t/plain.img" "$kver" > "$logs/mkinitramfs-plain.log" 2>&1; then
	fail "initramfs-tools: mkinitramfs without lifeline"
	show_log "$logs/mkinitramfs-plain.log"
fi

if make -C "$top" install DESTDIR="$root" PREFIX=/usr > "$logs/make-install.log" 2>&1; then
	pass "make install DESTDIR=<root> PREFIX=/usr"
else
	fail "make install DESTDIR=<root> PREFIX=/usr"
	show_log "$logs/make-install.log"
	finish
fi

# "lifeline is enabled" travels in the image: the flag follows
# lifelined.service's enablement when the image is built (the boot
# watchdog is armed only with it). First an image with lifelined disabled.
if chroot "$root" mkinitramfs -o "$t/disabled.img" "$kver" > "$logs/mkinitramfs-disabled.log" 2>&1 &&
	chroot "$root" lsinitramfs "$t/disabled.img" > "$work/disabled.list" 2>/dev/null; then
	check "initramfs-tools: lifelined disabled: the image carries no usr/lib/lifeline/enabled" \
		eval '! grep -qx "usr/lib/lifeline/enabled" "$work/disabled.list"'
else
	fail "initramfs-tools: mkinitramfs with lifeline, lifelined disabled"
	show_log "$logs/mkinitramfs-disabled.log"
fi
chroot "$root" systemctl enable lifelined.service > "$logs/enable.log" 2>&1 ||
	fail "systemctl enable lifelined.service in the root"

if chroot "$root" mkinitramfs -o "$t/lifeline.img" "$kver" > "$logs/mkinitramfs.log" 2>&1; then
	pass "initramfs-tools: mkinitramfs builds an image with lifeline"
else
	fail "initramfs-tools: mkinitramfs with lifeline"
	show_log "$logs/mkinitramfs.log"
fi
if grep -Eq '^(W: |E: )?lifeline:' "$logs/mkinitramfs.log"; then
	fail "initramfs-tools: the lifeline hook complained: $(grep -E '^(W: |E: )?lifeline:' "$logs/mkinitramfs.log" | head -3)"
fi

if [ -s "$root$t/lifeline.img" ]; then
	name=initramfs-tools
	list=$work/it.list
	step "initramfs-tools: inspecting the image"
	chroot "$root" lsinitramfs "$t/lifeline.img" > "$list" 2> "$logs/lsinitramfs.log" ||
		fail "$name: lsinitramfs"
	chroot "$root" unmkinitramfs "$t/lifeline.img" "$t/it" > "$logs/unmkinitramfs.log" 2>&1 ||
		fail "$name: unmkinitramfs"
	tree=$root$t/it
	[ -d "$tree/main" ] && tree=$tree/main # with an early (microcode) archive

	common_payload "$name" "$tree" "$list"

	check "$name: lifelined enabled: the image carries usr/lib/lifeline/enabled" \
		eval 'grep -qx "usr/lib/lifeline/enabled" "$list"'
	# an image built without busybox has no grep: the script must not need it
	check "$name: scripts/init-top/lifeline calls no grep" \
		eval '! grep -Eq "(^|[^a-z_])grep( |$)" "$tree/scripts/init-top/lifeline"'

	for s in init-top init-bottom; do
		check "$name: scripts/$s/lifeline is in the image, executable, and ours" \
			eval 'grep -qx "scripts/$s/lifeline" "$list" && tree_has "$tree" /scripts/$s/lifeline -x &&
				cmp -s "$tree/scripts/$s/lifeline" "$top/initramfs-hook/initramfs-tools/scripts/$s/lifeline"'
	done
	# initramfs-tools runs init-top, then load_modules (/conf/modules), then
	# init-premount ...; inside a stage, scripts/<stage>/ORDER (PREREQ, else
	# by name). udev's script starts udevd: lifeline must run before that.
	stage=""
	for st in init-top init-premount; do
		if grep -qs 'udevd' "$tree/scripts/$st/udev"; then
			stage=$st
			break
		fi
	done
	order_top=$tree/scripts/init-top/ORDER
	lpos=$(grep -n '^/scripts/init-top/lifeline ' "$order_top" 2>/dev/null | cut -d: -f1 | head -1)
	if [ -z "$lpos" ]; then
		fail "$name: scripts/init-top/ORDER runs lifeline"
	elif [ "$stage" = init-top ]; then
		upos=$(grep -n '^/scripts/init-top/udev ' "$order_top" | cut -d: -f1 | head -1)
		if [ -n "$upos" ] && [ "$lpos" -lt "$upos" ]; then
			pass "$name: init-top/ORDER runs lifeline (line $lpos) before udev, which starts udevd (line $upos)"
		else
			fail "$name: init-top/ORDER runs lifeline (line $lpos) after udev (line ${upos:-?})"
		fi
	elif [ -n "$stage" ]; then
		pass "$name: init-top/ORDER runs lifeline (line $lpos); udevd starts later, in $stage"
	else
		fail "$name: no udev script that starts udevd found in init-top or init-premount"
	fi
	init_top=$(grep -n 'run_scripts /scripts/init-top' "$tree/init" | cut -d: -f1 | head -1)
	load_mod=$(grep -n '^[[:space:]]*load_modules' "$tree/init" | cut -d: -f1 | head -1)
	check "$name: /init runs init-top (line ${init_top:-?}) before load_modules (line ${load_mod:-?})" \
		eval '[ -n "$init_top" ] && [ -n "$load_mod" ] && [ "$init_top" -lt "$load_mod" ]'
	check "$name: init-bottom/ORDER runs lifeline (the real root is at \${rootmnt})" \
		grep -q '^/scripts/init-bottom/lifeline ' "$tree/scripts/init-bottom/ORDER"

	# The boot scripts with lifeline-early replaced by a stub that fails:
	# they must still exit 0 (a failing boot script is only logged, but
	# lifeline's never fail) and pass the right arguments.
	cp "$tree/usr/lib/lifeline/lifeline-early" "$work/early.real"
	printf '#!/bin/sh\necho "$*" >> /tmp/early-calls\nexit 1\n' > "$tree/usr/lib/lifeline/lifeline-early"
	chmod 0755 "$tree/usr/lib/lifeline/lifeline-early"
	mkdir -p "$tree/tmp/stub"
	rm -f "$tree/tmp/early-calls"
	# A stub modprobe first in PATH: on a host that runs the image's kernel
	# the real one would load modules into the host. (/sys, /proc: empty.)
	printf '#!/bin/sh\necho "$*" >> /tmp/modprobe-calls\nexit 0\n' > "$tree/tmp/stub/modprobe"
	rm -f "$tree/tmp/modprobe-calls"
	# /dev is devtmpfs at boot; here a plain file takes the scripts' 2>/dev/null
	mkdir -p "$tree/dev"
	[ -e "$tree/dev/null" ] || : > "$tree/dev/null"
	chmod 0755 "$tree/tmp/stub/modprobe"
	env -i PATH=/tmp/stub:/usr/sbin:/usr/bin:/sbin:/bin rootmnt=/root \
		chroot "$tree" /bin/sh -c '/scripts/init-top/lifeline; echo "top=$?"; /scripts/init-bottom/lifeline; echo "bottom=$?"' \
		> "$logs/it-scripts.log" 2>&1
	calls=$(tr '\n' '|' < "$tree/tmp/early-calls" 2>/dev/null)
	if grep -qx 'top=0' "$logs/it-scripts.log" && grep -qx 'bottom=0' "$logs/it-scripts.log" &&
		[ "$calls" = "--phase=init|--phase=rootfs --root=/root|" ]; then
		pass "$name: init-top and init-bottom scripts exit 0 even when lifeline-early fails; calls: $calls"
	else
		fail "$name: the boot scripts with a failing lifeline-early: $(tr '\n' '|' < "$logs/it-scripts.log"), calls '$calls'"
	fi
	# No /sys/firmware/efi in the chroot: the only modprobe calls are the
	# watchdog drivers, those of the image's list.
	mcalls=$(tr '\n' '|' < "$tree/tmp/modprobe-calls" 2>/dev/null)
	wlist=$(tr '\n' ' ' < "$tree/usr/lib/lifeline/watchdog-drivers.list" 2>/dev/null)
	check "$name: auto without a watchdog on the build machine (empty /sys): the generic list i6300esb iTCO_wdt sp5100_tco in usr/lib/lifeline/watchdog-drivers.list (got '$wlist'), said on the build's output" \
		eval '[ "$wlist" = "i6300esb iTCO_wdt sp5100_tco " ] &&
			grep -q "^I: lifeline: watchdog drivers: no watchdog driver found for this machine: the generic list" "$logs/mkinitramfs.log"'
	check "$name: init-top loads the listed watchdog drivers (modprobe calls: $mcalls)" \
		[ "$mcalls" = "-q i6300esb|-q iTCO_wdt|-q sp5100_tco|" ]
	check "$name: /bin/false is busybox's applet, not a copy of coreutils' false" \
		chroot "$tree" /bin/sh -c '[ /bin/false -ef /bin/busybox ] && ! /bin/false'
	cp "$work/early.real" "$tree/usr/lib/lifeline/lifeline-early"
	rm -rf "$tree/tmp/early-calls" "$tree/tmp/stub" "$tree/tmp/modprobe-calls"

	run_early "$tree" "$name"

	# Bytes lifeline adds: the files of both images, uncompressed.
	if [ -s "$root$t/plain.img" ] &&
		chroot "$root" unmkinitramfs "$t/plain.img" "$t/plain" > "$logs/unmkinitramfs-plain.log" 2>&1; then
		ptree=$root$t/plain
		[ -d "$ptree/main" ] && ptree=$ptree/main
		# run_early wrote run/ and tmp/ into the unpacked tree: not image bytes
		with=$(file_bytes "$tree" run tmp)
		without=$(file_bytes "$ptree")
		added=$((with - without))
		zadded=$(($(stat -c %s "$root$t/lifeline.img") - $(stat -c %s "$root$t/plain.img")))
		# The goal is read on the image file (tests/bench/README.md).
		info "$name: lifeline adds $zadded bytes to the zstd image file (goal <= 300 KiB:" \
			"$([ "$zadded" -le $((300 * 1024)) ] && echo 'met)' || echo 'NOT met)')," \
			"$added bytes ($((added / 1024)) KiB) unpacked ($without -> $with)"
		info "$name: the largest files lifeline adds (bytes):"
		(cd "$tree" && find . -path ./run -prune -o -path ./tmp -prune -o -type f -printf '%s %P\n') |
			sort -k2 > "$work/with.sizes"
		(cd "$ptree" && find . -type f -printf '%s %P\n') | sort -k2 > "$work/plain.sizes"
		join -1 2 -2 2 -v 1 "$work/with.sizes" "$work/plain.sizes" | awk '{ print $2, $1 }' |
			sort -rn | head -12 | sed 's/^/INFO:     /'
	else
		info "$name: no image without lifeline to compare with; bytes added not measured"
	fi
fi

# ------------------------------------------- watchdog driver selection

# [boot] initramfs_watchdog, as initramfs-hook/watchdog-drivers (run by both
# hooks) resolves it against the root's kernel, with a fake sysfs.
step "watchdog driver selection ([boot] initramfs_watchdog)"
conf=$root/etc/lifeline/lifeline.conf
cp "$conf" "$work/lifeline.conf.orig"
# wd_conf VALUE: the root's lifeline.conf with initramfs_watchdog = VALUE
wd_conf() {
	cp "$work/lifeline.conf.orig" "$conf"
	printf '\n[boot]\ninitramfs_watchdog = %s\n' "$1" >> "$conf"
}
# wd_run SYSFS: watchdog-drivers' answer (one line, space-separated), in
# the root, for the root's kernel; stderr in $logs/wd.log
wd_run() {
	chroot "$root" env LIFELINE_SYSFS="$1" /usr/lib/lifeline/watchdog-drivers "$kver" \
		2> "$logs/wd.log" | tr '\n' ' ' | sed 's/ $//'
}
# fake_sysfs DIR: q35-like: lpc_ich at 00:1f.0 with the iTCO_wdt platform
# device it creates, bound and registered as watchdog0; an i6300esb PCI
# device at 00:03.0 that no driver is bound to (its module not loaded).
fake_sysfs() {
	local f=$1 d
	d=$f/devices/pci0000:00
	mkdir -p "$d/0000:00:1f.0/iTCO_wdt/watchdog/watchdog0" "$d/0000:00:03.0" \
		"$f/module/lpc_ich" "$f/module/iTCO_wdt" "$f/bus/pci/drivers/lpc_ich" \
		"$f/bus/platform/drivers/iTCO_wdt" "$f/class/watchdog" "$f/bus/pci/devices" \
		"$f/bus/platform/devices"
	ln -s ../../../../module/lpc_ich "$f/bus/pci/drivers/lpc_ich/module"
	ln -s ../../../../module/iTCO_wdt "$f/bus/platform/drivers/iTCO_wdt/module"
	ln -s ../../../bus/pci/drivers/lpc_ich "$d/0000:00:1f.0/driver"
	ln -s ../../../../bus/platform/drivers/iTCO_wdt "$d/0000:00:1f.0/iTCO_wdt/driver"
	ln -s ../.. "$d/0000:00:1f.0/iTCO_wdt/watchdog/watchdog0/device"
	ln -s ../../devices/pci0000:00/0000:00:1f.0/iTCO_wdt/watchdog/watchdog0 "$f/class/watchdog/watchdog0"
	echo pci:v00008086d00002918sv00001AF4sd00001100bc06sc01i00 > "$d/0000:00:1f.0/modalias"
	echo platform:iTCO_wdt > "$d/0000:00:1f.0/iTCO_wdt/modalias"
	echo pci:v00008086d000025ABsv00001AF4sd00001100bc08sc80i00 > "$d/0000:00:03.0/modalias"
	ln -s ../../../devices/pci0000:00/0000:00:1f.0 "$f/bus/pci/devices/0000:00:1f.0"
	ln -s ../../../devices/pci0000:00/0000:00:03.0 "$f/bus/pci/devices/0000:00:03.0"
	ln -s ../../../devices/pci0000:00/0000:00:1f.0/iTCO_wdt "$f/bus/platform/devices/iTCO_wdt"
}
rm -rf "$root$t/fsys" "$root$t/nosys" "$root$t/oddsys"
fake_sysfs "$root$t/fsys"
mkdir -p "$root$t/nosys"
# a registered watchdog whose driver the root's kernel does not have
mkdir -p "$root$t/oddsys/devices/platform/oddwdt/watchdog/watchdog0" "$root$t/oddsys/module/no_such_wdt" \
	"$root$t/oddsys/bus/platform/drivers/no_such_wdt" "$root$t/oddsys/class/watchdog"
ln -s ../../../../module/no_such_wdt "$root$t/oddsys/bus/platform/drivers/no_such_wdt/module"
ln -s ../../../bus/platform/drivers/no_such_wdt "$root$t/oddsys/devices/platform/oddwdt/driver"
ln -s ../.. "$root$t/oddsys/devices/platform/oddwdt/watchdog/watchdog0/device"
ln -s ../../devices/platform/oddwdt/watchdog/watchdog0 "$root$t/oddsys/class/watchdog/watchdog0"

if [ -x "$root/usr/lib/lifeline/watchdog-drivers" ]; then
	wd_conf auto
	got=$(wd_run "$t/fsys")
	check "watchdog: auto with devices: the bound watchdog's driver after its parent's (lpc_ich creates iTCO_wdt's device), then the unbound i6300esb matched by modalias (got '$got')" \
		[ "$got" = "lpc_ich iTCO_wdt i6300esb" ]
	got=$(wd_run "$t/nosys")
	check "watchdog: auto without any device: the generic list (got '$got')" \
		[ "$got" = "i6300esb iTCO_wdt sp5100_tco" ]
	got=$(wd_run "$t/oddsys")
	check "watchdog: auto finding only a driver the image's kernel lacks: warned, then the generic list (got '$got')" \
		eval '[ "$got" = "i6300esb iTCO_wdt sp5100_tco" ] && grep -q "^W: lifeline: watchdog drivers: no_such_wdt" "$logs/wd.log"'
	wd_conf "i6300esb"
	got=$(wd_run "$t/fsys")
	check "watchdog: an explicit list is taken as it is, whatever the machine has (got '$got')" \
		[ "$got" = "i6300esb" ]
	wd_conf "none"
	got=$(wd_run "$t/fsys")
	check "watchdog: none selects nothing, and says a hang before the root is up is not reset (got '$got')" \
		eval '[ -z "$got" ] && grep -q "is not reset" "$logs/wd.log"'
	wd_conf "auto i6300esb"
	got=$(wd_run "$t/nosys")
	check "watchdog: a bad value is logged and means auto (got '$got')" \
		eval '[ "$got" = "i6300esb iTCO_wdt sp5100_tco" ] && grep -q "expected auto, none or module names" "$logs/wd.log"'

	# The VM rig's setting in a real image: only i6300esb (and the
	# watchdog core it needs), and init-top loads just that.
	wd_conf "i6300esb"
	if chroot "$root" mkinitramfs -o "$t/wd.img" "$kver" > "$logs/mkinitramfs-wd.log" 2>&1 &&
		chroot "$root" unmkinitramfs "$t/wd.img" "$t/wd" > "$logs/unmkinitramfs-wd.log" 2>&1; then
		wtree=$root$t/wd
		[ -d "$wtree/main" ] && wtree=$wtree/main
		dep=$wtree/usr/lib/modules/$kver/modules.dep
		check "watchdog: image with initramfs_watchdog = i6300esb: i6300esb and watchdog in, iTCO_wdt and sp5100_tco out, list 'i6300esb'" \
			eval 'grep -Eq "/i6300esb\.ko(\.[a-z]+)?:" "$dep" && grep -Eq "/watchdog\.ko(\.[a-z]+)?:" "$dep" &&
				! grep -Eq "/(iTCO_wdt|sp5100_tco)\.ko" "$dep" &&
				[ "$(cat "$wtree/usr/lib/lifeline/watchdog-drivers.list")" = i6300esb ]'
		if [ -n "${ptree:-}" ] && [ -d "$ptree" ]; then
			info "watchdog: initramfs_watchdog = i6300esb adds $(($(file_bytes "$wtree" tmp) - $(file_bytes "$ptree"))) bytes uncompressed, $(($(stat -c %s "$root$t/wd.img") - $(stat -c %s "$root$t/plain.img"))) in the zstd image"
		fi
		printf '#!/bin/sh\nexit 0\n' > "$wtree/usr/lib/lifeline/lifeline-early"
		mkdir -p "$wtree/tmp/stub"
		printf '#!/bin/sh\necho "$*" >> /tmp/modprobe-calls\nexit 0\n' > "$wtree/tmp/stub/modprobe"
		chmod 0755 "$wtree/tmp/stub/modprobe"
		rm -f "$wtree/dev/"* 2>/dev/null
		mkdir -p "$wtree/dev"
		: > "$wtree/dev/null"
		env -i PATH=/tmp/stub:/usr/sbin:/usr/bin:/sbin:/bin chroot "$wtree" /scripts/init-top/lifeline \
			> "$logs/wd-init-top.log" 2>&1
		mcalls=$(tr '\n' '|' < "$wtree/tmp/modprobe-calls" 2>/dev/null)
		check "watchdog: that image's init-top loads only i6300esb (modprobe calls: $mcalls)" \
			[ "$mcalls" = "-q i6300esb|" ]
	else
		fail "watchdog: mkinitramfs with initramfs_watchdog = i6300esb"
		show_log "$logs/mkinitramfs-wd.log"
	fi
	cp "$work/lifeline.conf.orig" "$conf"
else
	fail "watchdog: make install put no /usr/lib/lifeline/watchdog-drivers in the root"
fi

# ----------------------------------------------------------------- dracut

# dracut-core .debs (and whatever the root lacks for them), resolved by the
# host's apt against the root's dpkg status, cached on the host, installed
# with dpkg in the root.
step "dracut: installing dracut-core in the root"
cache=${LIFELINE_INITRAMFS_CACHE:-/var/cache/lifeline-initramfs}/debs
mkdir -p "$cache/partial"
aptopts=(-q -o "Dir::State::status=$root/var/lib/dpkg/status" -o "Dir::Cache::archives=$cache/"
	-o APT::Install-Recommends=false -o APT::Sandbox::User=root -o Acquire::Check-Valid-Until=false)
dracut_ok=0
(
	flock 9
	if chroot "$root" dpkg-query -W -f='${Status}\n' dracut-core 2>/dev/null |
		grep -q 'install ok installed'; then
		echo "dracut-core is in the root already" > "$work/debs.list"
		exit 0
	fi
	# Plan and fetch with the host's package lists; when they are missing
	# or stale (a fresh machine, a version gone from the mirror), update
	# them once and try again.
	fetch() {
		plan=$(apt-get "${aptopts[@]}" -s install dracut-core 2>&1) &&
			apt-get "${aptopts[@]}" -y --download-only install dracut-core
	}
	if ! fetch; then
		echo "$plan"
		echo "run.sh: updating the host's package lists and trying again"
		apt-get -q update
		fetch || { echo "$plan"; exit 1; }
	fi
	# "Inst NAME (VERSION RELEASE... [ARCH])" -> NAME_VERSION_ARCH.deb
	# (an upgrade reads "Inst NAME [OLD] (NEW ...)"; epochs are %3a in names)
	echo "$plan" | awk '/^Inst / {
		v = ""
		for (i = 3; i <= NF; i++)
			if (substr($i, 1, 1) == "(") { v = substr($i, 2); break }
		a = $NF; gsub(/[][()]/, "", a)
		f = $2 "_" v "_" a ".deb"; gsub(/:/, "%3a", f); print f }' > "$work/debs.list"
	[ -s "$work/debs.list" ] || exit 1
	rm -rf "$root/tmp/lifeline-debs"
	mkdir -p "$root/tmp/lifeline-debs"
	while read -r deb; do
		cp "$cache/$deb" "$root/tmp/lifeline-debs/" || exit 1
	done < "$work/debs.list"
	chroot "$root" sh -c 'dpkg -i /tmp/lifeline-debs/*.deb'
) 9> "${cache%/debs}/.lock" > "$logs/dracut-install.log" 2>&1 && dracut_ok=1
if [ "$dracut_ok" = 1 ] && chroot "$root" sh -c 'command -v dracut && command -v lsinitrd' > /dev/null; then
	pass "dracut: dracut-core installed in the root ($(tr '\n' ' ' < "$work/debs.list"))"
else
	fail "dracut: installing dracut-core in the root"
	show_log "$logs/dracut-install.log"
fi
check "dracut: make install put the module in /usr/lib/dracut/modules.d/90lifeline" \
	tree_has "$root" /usr/lib/dracut/modules.d/90lifeline/module-setup.sh -f

# check() must refuse the module when lifeline-early is not installed (a
# quick image without kernel modules that asks for it by name).
if [ "$dracut_ok" = 1 ]; then
	mv "$root/usr/lib/lifeline/lifeline-early" "$root/usr/lib/lifeline/lifeline-early.aside"
	chroot "$root" dracut --force --no-kernel --no-hostonly --no-compress -m "base lifeline" \
		--kver "$kver" "$t/dracut-none.img" > "$logs/dracut-none.log" 2>&1
	mv "$root/usr/lib/lifeline/lifeline-early.aside" "$root/usr/lib/lifeline/lifeline-early"
	check "dracut: check() leaves the module out when lifeline-early is not installed" \
		grep -q "module 'lifeline' will not be installed, because command '/usr/lib/lifeline/lifeline-early'" \
		"$logs/dracut-none.log"
fi

# build_dracut FLAVOUR OPTIONS...: a generic image (--no-hostonly; the
# module is NOT named, so check() must include it by itself), only a few
# drivers, uncompressed and unstripped, without the default modules that
# have nothing to do with lifeline (speed: ~40 % less time).
build_dracut() {
	local flavour=$1
	shift
	step "dracut ($flavour): building and unpacking the image"
	if chroot "$root" dracut --force --no-hostonly --drivers "ext4" --no-compress --nostrip \
		--no-early-microcode \
		--omit "crypt dm nvdimm overlay-root qemu lunmask resume terminfo virtiofs kernel-modules-extra" \
		"$@" --kver "$kver" "$t/dracut-$flavour.img" \
		> "$logs/dracut-$flavour.log" 2>&1; then
		pass "dracut ($flavour): dracut --no-hostonly${*:+ $*} builds an image"
	else
		fail "dracut ($flavour): dracut --no-hostonly${*:+ $*} failed"
		show_log "$logs/dracut-$flavour.log"
		return 1
	fi
	check "dracut ($flavour): the lifeline module is included without being asked for" \
		grep -q 'Including module: lifeline ' "$logs/dracut-$flavour.log"
	chroot "$root" lsinitrd "$t/dracut-$flavour.img" > "$work/dracut-$flavour.list" 2>&1 ||
		fail "dracut ($flavour): lsinitrd"
	mkdir -p "$root$t/dracut-$flavour"
	chroot "$root" sh -c 'cd "$1" && lsinitrd --unpack "$2"' sh "$t/dracut-$flavour" \
		"$t/dracut-$flavour.img" > "$logs/lsinitrd-unpack-$flavour.log" 2>&1 ||
		fail "dracut ($flavour): lsinitrd --unpack"
	return 0
}

if [ "$dracut_ok" = 1 ] && build_dracut systemd; then
	name="dracut (systemd)"
	tree=$root$t/dracut-systemd
	list=$work/dracut-systemd.list
	common_payload "$name" "$tree" "$list"
	check "$name: sh and modprobe are in the image (the init unit's ExecStartPre)" \
		eval 'tree_has "$tree" /bin/sh -x && tree_has "$tree" /usr/sbin/modprobe -x'
	u=/usr/lib/systemd/system
	for unit in lifeline-early-init.service lifeline-early-rootfs.service; do
		check "$name: $unit is in the image, mode 0644, as shipped" \
			eval '[ "$(stat -c %a "$tree$u/$unit" 2>/dev/null)" = 644 ] &&
				cmp -s "$tree$u/$unit" "$top/initramfs-hook/dracut/$unit"'
		f=$top/initramfs-hook/dracut/$unit
		check "$name: $unit: DefaultDependencies=no, ConditionPathExists=/etc/initrd-release, \"-\" on every command, no FailureAction/Requires" \
			eval 'grep -qx "DefaultDependencies=no" "$f" &&
				grep -qx "ConditionPathExists=/etc/initrd-release" "$f" &&
				! grep -E "^Exec[A-Za-z]*=[^-]" "$f" | grep -q . &&
				! grep -Eq "^(FailureAction|SuccessAction|OnFailure|Requires|RequiredBy|Requisite|BindsTo)=" "$f"'
	done
	f=$top/initramfs-hook/dracut/lifeline-early-init.service
	check "$name: lifeline-early-init.service runs before udev and systemd-modules-load" \
		eval 'grep "^Before=" "$f" | grep -qw systemd-udevd.service &&
			grep "^Before=" "$f" | grep -qw systemd-udev-trigger.service &&
			grep "^Before=" "$f" | grep -qw systemd-modules-load.service'
	f=$top/initramfs-hook/dracut/lifeline-early-rootfs.service
	check "$name: lifeline-early-rootfs.service runs after sysroot.mount (when /sysroot is mounted), before initrd-cleanup and switch-root, on /sysroot" \
		eval 'grep "^After=" "$f" | grep -qw sysroot.mount &&
			grep -qx "ConditionPathIsMountPoint=/sysroot" "$f" &&
			grep "^Before=" "$f" | grep -qw initrd-cleanup.service &&
			grep "^Before=" "$f" | grep -qw initrd-switch-root.target &&
			grep -q "^ExecStart=-/usr/lib/lifeline/lifeline-early --phase=rootfs --root=/sysroot$" "$f"'
	check "$name: enabled: sysinit.target.wants/lifeline-early-init.service" \
		tree_has "$tree" /etc/systemd/system/sysinit.target.wants/lifeline-early-init.service -f
	check "$name: enabled: initrd.target.wants/lifeline-early-rootfs.service" \
		tree_has "$tree" /etc/systemd/system/initrd.target.wants/lifeline-early-rootfs.service -f
	check "$name: no lifeline hook scripts (dracut-pre-udev/pre-pivot would run them too)" \
		eval '! grep -q "dracut/hooks/.*lifeline" "$list"'
	check "$name: etc/initrd-release exists (the units' condition)" \
		tree_has "$tree" /etc/initrd-release -f
	# systemd-analyze verify over the initrd's own units: syntax, and the
	# transactions of initrd.target and initrd-switch-root.target (an
	# ordering cycle would make systemd delete some job at boot).
	chroot "$root" systemd-analyze verify --man=no --root="$t/dracut-systemd" \
		initrd.target initrd-switch-root.target lifeline-early-init.service \
		lifeline-early-rootfs.service > "$logs/systemd-analyze.log" 2>&1
	va_rc=$?
	if [ "$va_rc" = 0 ] && ! grep -Eqi 'cycle|lifeline' "$logs/systemd-analyze.log"; then
		pass "$name: systemd-analyze verify: the units parse, no ordering cycle in initrd.target / initrd-switch-root.target"
	else
		fail "$name: systemd-analyze verify (exit $va_rc)"
		show_log "$logs/systemd-analyze.log"
	fi
	rm -f "$tree/dev/"* 2>/dev/null # no host device nodes for the run below
	run_early "$tree" "$name"
fi

if [ "$dracut_ok" = 1 ] && build_dracut shell --omit systemd; then
	name="dracut (shell)"
	tree=$root$t/dracut-shell
	list=$work/dracut-shell.list
	common_payload "$name" "$tree" "$list"
	check "$name: the initrd is not systemd-based (/init is dracut's shell init)" \
		eval '! grep -q "lib/systemd/systemd$" "$list" && head -1 "$tree/init" | grep -q "sh"'
	hooks=/usr/lib/dracut/hooks
	init_hook=$hooks/pre-udev/00-lifeline-init.sh
	root_hook=$hooks/pre-pivot/90-lifeline-rootfs.sh
	check "$name: pre-udev hook 00-lifeline-init.sh is in the image, as shipped" \
		eval 'tree_has "$tree" $init_hook -f && cmp -s "$tree$init_hook" "$top/initramfs-hook/dracut/lifeline-init.sh"'
	check "$name: pre-pivot hook 90-lifeline-rootfs.sh is in the image, as shipped" \
		eval 'tree_has "$tree" $root_hook -f && cmp -s "$tree$root_hook" "$top/initramfs-hook/dracut/lifeline-rootfs.sh"'
	check "$name: no lifeline units in the shell-based image" \
		eval '! grep -q "systemd/system/lifeline-early" "$list"'
	# pre-pivot hooks run in name order: ours after 50-mount-usr.sh
	# (/sysroot/usr), if the image has it.
	last=$(ls "$tree$hooks/pre-pivot" | grep -n . | sed -n 's/^\([0-9]*\):90-lifeline-rootfs.sh$/\1/p')
	usr=$(ls "$tree$hooks/pre-pivot" | grep -n . | sed -n 's/^\([0-9]*\):50-mount-usr.sh$/\1/p')
	check "$name: pre-pivot runs lifeline after mount-usr ($(ls "$tree$hooks/pre-pivot" | tr '\n' ' '))" \
		eval '[ -n "$last" ] && { [ -z "$usr" ] || [ "$usr" -lt "$last" ]; }'
	# The hooks are SOURCED by /init: with lifeline-early replaced by a stub
	# (here exiting 1), sourcing them must return to the caller, pass the
	# right arguments, and leave no variable of theirs behind.
	cp "$tree/usr/lib/lifeline/lifeline-early" "$work/early.real"
	printf '#!/bin/sh\necho "$*" >> /tmp/early-calls\nexit 1\n' > "$tree/usr/lib/lifeline/lifeline-early"
	chmod 0755 "$tree/usr/lib/lifeline/lifeline-early"
	rm -f "$tree/tmp/early-calls" "$tree/dev/"* 2>/dev/null
	mkdir -p "$tree/tmp"
	out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NEWROOT=/sysroot chroot "$tree" /bin/sh -c '
		modprobe() { :; }   # no module loading into the host kernel
		vars() { set | while read -r l; do case $l in lifeline*) echo "$l" ;; esac; done; }
		before=$(vars)
		. '"$init_hook"'
		echo "init-hook-returned"
		. '"$root_hook"'
		echo "rootfs-hook-returned"
		echo "vars [$before] [$(vars)]"' 2>&1)
	calls=$(cat "$tree/tmp/early-calls" 2>/dev/null | tr '\n' '|')
	if echo "$out" | grep -q '^init-hook-returned$' && echo "$out" | grep -q '^rootfs-hook-returned$' &&
		echo "$out" | grep -qx 'vars \[\] \[\]' &&
		[ "$calls" = "--phase=init|--phase=rootfs --root=/sysroot|" ]; then
		pass "$name: sourcing both hooks returns even when lifeline-early fails; calls: $calls"
	else
		fail "$name: sourcing the hooks: output '$(echo "$out" | tr '\n' '|')', calls '$calls'"
	fi
	cp "$work/early.real" "$tree/usr/lib/lifeline/lifeline-early"
	run_early "$tree" "$name"
fi

finish
