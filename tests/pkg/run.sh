#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian package and the install targets, checked as an administrator
# would meet them (make check-pkg):
#   1. man pages: every page scdoc builds passes groff -ww -z -man silently
#   2. make install / make uninstall into a DESTDIR: the layout, an edited
#      lifeline.conf kept by a second install and by uninstall, nothing
#      else left behind
#   3. make deb; lintian on the .changes (errors or warnings not overridden
#      in debian/lifeline.lintian-overrides fail); the .deb's contents,
#      conffiles and Depends
#   4. the maintainer scripts, run by dpkg in a throwaway chroot (dpkg
#      --instdir/--admindir; systemctl, deb-systemd-*, update-initramfs are
#      stubs that log their arguments): install enables lifelined and
#      rebuilds every kernel's initramfs; remove is refused while a
#      quarantine is active; remove rebuilds the images again; purge
#      deletes the state and the EFI variable.
#
#   tests/pkg/run.sh [BUILDDIR]     (default build; needs root for 4)
#
# DEB_BUILD_OPTIONS defaults to nocheck here: make check runs the unit
# tests on its own (set DEB_BUILD_OPTIONS= to run them in the build too).
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
O=${1:-build}
case $O in /*) ;; *) O=$top/$O ;; esac
tmp=$(mktemp -d /tmp/lifeline-pkg.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fails=0

ok() { echo "ok: $*"; }
fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}
# The state variable (efi/store.h: LifelineState-<lifeline's vendor GUID>).
EFIVAR=LifelineState-77117627-ad6b-4cc0-8022-2661bb477dc2

# ---- 1. man pages ----------------------------------------------------------
make -s -C "$top" O="$O" man
n=0
for page in "$O"/man/*.[58]; do
	n=$((n + 1))
	warn=$(LC_ALL=C.UTF-8 groff -ww -z -man "$page" 2>&1) || fail "groff failed on $page"
	if [ -n "$warn" ]; then
		fail "groff warns on $page: $warn"
	fi
done
[ "$n" -eq 6 ] && ok "6 man pages, groff -ww silent" || fail "expected 6 man pages, found $n"

# The pages follow the programs: every long option a program's --help
# names, and every lifelinectl command, is in its page.
make -s -C "$top" O="$O" all
for prog in lifelinectl:bin/lifelinectl lifelined:bin/lifelined \
	lifeline-early:initramfs-hook/lifeline-early; do
	page=$top/man/${prog%%:*}.8.scd
	help=$("$O/${prog#*:}" --help 2>&1) || fail "${prog%%:*} --help failed"
	missing=""
	for opt in $(echo "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "$opt" "$page" || missing="$missing $opt"
	done
	if [ "${prog%%:*}" = lifelinectl ]; then
		for verb in $(echo "$help" | sed -n 's/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p'); do
			grep -q "^\*$verb\*" "$page" || missing="$missing $verb"
		done
	fi
	[ -z "$missing" ] && ok "${prog%%:*}(8) has every option and command of --help" ||
		fail "${prog%%:*}(8) lacks what --help names:$missing"
done
# ... and the files follow the parsers: every [section] key the config
# parser knows is in lifeline.conf(5), every drop-in key in
# lifeline-components(5).
missing=""
for sk in $(grep -ho 'ITEM("[a-z-]*", "[a-z_]*"' "$top"/agent/conf/*.c |
	sed 's/ITEM("\([a-z-]*\)", "\([a-z_]*\)"/\1:\2/' | sort -u); do
	awk -v h="# [${sk%%:*}]" '/^# / { in_s = ($0 == h); next } in_s' \
		"$top/man/lifeline.conf.5.scd" |
		grep -q "^\*${sk#*:}\*" || missing="$missing [${sk%%:*}]${sk#*:}"
done
[ -n "$sk" ] && [ -z "$missing" ] && ok "lifeline.conf(5) has every key the parser knows" ||
	fail "lifeline.conf(5) lacks:$missing"
missing=""
for k in $(grep -ho 'streq(it->key, "[a-z_]*")' "$top"/agent/conf/components*.c |
	sed 's/.*"\([a-z_]*\)".*/\1/' | sort -u); do
	grep -q "^\*$k\*" "$top/man/lifeline-components.5.scd" || missing="$missing $k"
done
[ -n "$k" ] && [ -z "$missing" ] && ok "lifeline-components(5) has every drop-in key" ||
	fail "lifeline-components(5) lacks:$missing"

# ---- 2. make install / uninstall -----------------------------------------
d=$tmp/destdir
make -s -C "$top" O="$O" install DESTDIR="$d" > /dev/null
for f in /usr/sbin/lifelined /usr/sbin/lifelinectl /usr/lib/lifeline/lifeline-early \
	/usr/lib/lifeline/lifelined-worker /usr/lib/systemd/system-generators/lifeline-generator \
	/usr/lib/systemd/system/lifelined.service /usr/lib/lifeline/components.d/crowdstrike-falcon.conf \
	/usr/share/initramfs-tools/hooks/lifeline /usr/share/man/man8/lifelinectl.8 \
	/usr/share/man/man5/lifeline.conf.5 /etc/lifeline/lifeline.conf; do
	[ -e "$d$f" ] || fail "make install: $f missing"
done
# The unit's ExecStart= and lifelined's worker path are /usr's.
grep -q '^ExecStart=/usr/sbin/lifelined$' "$d/usr/lib/systemd/system/lifelined.service" ||
	fail "make install: ExecStart is not /usr/sbin/lifelined"
if [ -n "$(ls -A "$d/etc/lifeline/components.d")" ]; then
	fail "make install: vendor drop-ins in /etc/lifeline/components.d (they belong in /usr/lib)"
fi
echo "threshold = 9 # edited" >> "$d/etc/lifeline/lifeline.conf"
make -s -C "$top" O="$O" install DESTDIR="$d" > /dev/null
grep -q 'edited' "$d/etc/lifeline/lifeline.conf" || fail "make install overwrote an edited lifeline.conf"
echo "[mine]" > "$d/etc/lifeline/components.d/mine.conf"
make -s -C "$top" O="$O" uninstall DESTDIR="$d" > /dev/null
left=$(cd "$d" && find . ! -type d | sort | tr '\n' ' ')
if [ "$left" = "./etc/lifeline/components.d/mine.conf ./etc/lifeline/lifeline.conf " ]; then
	ok "make install keeps edited files; make uninstall removes the rest"
else
	fail "make uninstall left: $left"
fi
# An unedited lifeline.conf goes with uninstall.
d2=$tmp/destdir2
make -s -C "$top" O="$O" install DESTDIR="$d2" > /dev/null
make -s -C "$top" O="$O" uninstall DESTDIR="$d2" > /dev/null
left=$(cd "$d2" && find . ! -type d | wc -l)
[ "$left" -eq 0 ] && ok "install + uninstall leaves no file" || fail "install + uninstall left $left files"

# ---- 3. the package ------------------------------------------------------
DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-nocheck} make -s -C "$top" O="$O" deb > "$tmp/deb.log" 2>&1 || {
	tail -40 "$tmp/deb.log" >&2
	fail "make deb"
	exit 1
}
deb=$(ls "$O"/deb/lifeline_*_amd64.deb)
changes=$(ls "$O"/deb/lifeline_*_amd64.changes)
ok "make deb: $(basename "$deb")"

if lintian --fail-on error,warning -I "$changes" > "$tmp/lintian.log" 2>&1; then
	ok "lintian: no error or warning ($(grep -c '^[IP]:' "$tmp/lintian.log" || :) info tags)"
else
	cat "$tmp/lintian.log" >&2
	fail "lintian"
fi
grep '^[IP]:' "$tmp/lintian.log" || :

dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's,^\./,/,' > "$tmp/contents"
for f in /usr/sbin/lifelined /usr/sbin/lifelinectl /usr/lib/lifeline/lifeline-early \
	/usr/lib/lifeline/lifelined-worker /usr/lib/lifeline/watchdog-drivers \
	/lib/systemd/system-generators/lifeline-generator /lib/systemd/system/lifelined.service \
	/lib/systemd/system/lifeline-safe.target /etc/lifeline/lifeline.conf \
	/etc/lifeline/components.d/ /etc/lifeline/check.d/ \
	/usr/lib/lifeline/components.d/crowdstrike-falcon.conf \
	/usr/share/initramfs-tools/hooks/lifeline /usr/share/initramfs-tools/scripts/init-top/lifeline \
	/usr/share/initramfs-tools/scripts/init-bottom/lifeline \
	/usr/lib/dracut/modules.d/90lifeline/module-setup.sh \
	/usr/share/man/man8/lifelinectl.8.gz /usr/share/man/man8/lifelined.8.gz \
	/usr/share/man/man8/lifeline-early.8.gz /usr/share/man/man8/lifeline-generator.8.gz \
	/usr/share/man/man5/lifeline.conf.5.gz /usr/share/man/man5/lifeline-components.5.gz \
	/usr/share/doc/lifeline/copyright /usr/share/doc/lifeline/examples/lifeline-alerts.yml; do
	grep -qx "$f" "$tmp/contents" || fail "package lacks $f"
done
if grep -q '^/etc/lifeline/components.d/.' "$tmp/contents"; then
	fail "package ships files in /etc/lifeline/components.d (the administrator's)"
fi
ok "dpkg-deb -c: the expected files"
# the generator links units by their full path: it must name the directory
# the package puts them in (a non-merged-/usr system has no /usr/lib copy)
dpkg-deb -x "$deb" "$tmp/x"
for u in lifeline-shutdown.service lifeline-safe.target; do
	grep -qx "/lib/systemd/system/$u" "$tmp/contents" || fail "package lacks /lib/systemd/system/$u"
	strings "$tmp/x/lib/systemd/system-generators/lifeline-generator" | grep -qx "/lib/systemd/system/$u" ||
		fail "the generator does not link /lib/systemd/system/$u, where the package puts it"
done
ok "the generator links the units where the package puts them (/lib/systemd/system)"
dpkg-deb -e "$deb" "$tmp/control"
[ "$(cat "$tmp/control/conffiles")" = /etc/lifeline/lifeline.conf ] &&
	ok "conffiles: /etc/lifeline/lifeline.conf" || fail "conffiles: $(cat "$tmp/control/conffiles")"
depends=$(dpkg-deb -f "$deb" Depends)
for p in libefivar1 libcurl4 libjson-c5 libssl3 libsystemd0; do
	echo "$depends" | tr ',' '\n' | grep -q "^ *$p\( \|$\)" || fail "Depends lacks $p: $depends"
done
ok "Depends: $depends"
for s in postinst prerm postrm; do
	sh -n "$tmp/control/$s" || fail "$s: syntax"
done

# ---- 4. maintainer scripts in a throwaway chroot -------------------------
if [ "$(id -u)" != 0 ]; then
	echo "skip: dpkg in a chroot needs root"
	[ "$fails" -eq 0 ] || exit 1
	exit 0
fi
r=$tmp/root
mkdir -p "$r/usr/bin" "$r/usr/sbin" "$r/usr/lib" "$r/usr/lib64" "$r/etc" "$r/tmp" \
	"$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers" \
	"$r/run/systemd/system" "$r/sys/firmware/efi/efivars"
for l in bin lib sbin lib64; do ln -s "usr/$l" "$r/$l"; done
touch "$r/var/lib/dpkg/status" "$r/var/lib/dpkg/available"
mkdir "$r/dev"
mknod -m 0666 "$r/dev/null" c 1 3 2> /dev/null || : > "$r/dev/null"
# A program and its libraries, as ldd names them.
copy_exec() {
	cp "$1" "$r/usr/bin/"
	ldd "$1" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }' | while read -r lib; do
		[ -e "$r$lib" ] || cp -L --parents "$lib" "$r"
	done
}
for p in sh dash cat cut tr sed find rm rmdir chattr mkdir ls; do
	copy_exec "$(command -v $p)"
done
# lifelinectl's libraries (the package's binaries come from the .deb).
ldd "$O/bin/lifelinectl" 2>/dev/null | awk '/=> \// { print $3 }' |
	while read -r lib; do [ -e "$r$lib" ] || cp -L --parents "$lib" "$r"; done
for stub in systemctl deb-systemd-helper deb-systemd-invoke update-initramfs; do
	cat > "$r/usr/sbin/$stub" << EOF
#!/bin/sh
echo "$stub \$*" >> /stub.log
# deb-systemd-helper: a unit was never enabled by an administrator before
case "$stub \$*" in "deb-systemd-helper --quiet was-enabled "*) exit 0 ;; "deb-systemd-helper debian-installed "*) exit 1 ;; esac
exit 0
EOF
	chmod 0755 "$r/usr/sbin/$stub"
done

dpkg_r() {
	PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg --instdir="$r" --admindir="$r/var/lib/dpkg" \
		--force-depends --force-not-root "$@"
}
if ! dpkg_r -i "$deb" > "$tmp/dpkg-i.log" 2>&1; then
	cat "$tmp/dpkg-i.log" >&2
	fail "dpkg -i in the chroot"
	exit 1
fi
[ -x "$r/usr/sbin/lifelinectl" ] && [ -f "$r/etc/lifeline/lifeline.conf" ] ||
	fail "dpkg -i: files missing"
grep -qx 'update-initramfs -u -k all' "$r/stub.log" || fail "postinst: no 'update-initramfs -u -k all'"
grep -qx "deb-systemd-helper enable lifelined.service" "$r/stub.log" || fail "postinst: lifelined not enabled"
grep -q "daemon-reload" "$r/stub.log" || fail "postinst: no daemon-reload"
grep -q "deb-systemd-invoke start lifelined.service" "$r/stub.log" || fail "postinst: lifelined not started"
if grep -q "lifeline-safe.target" "$r/stub.log"; then
	fail "postinst touches lifeline-safe.target: $(grep lifeline-safe.target "$r/stub.log")"
fi
ok "install: $(tr '\n' ';' < "$r/stub.log")"

# Remove with a quarantine active: refused, with what to do.
mkdir -p "$r/var/lib/lifeline/quarantine"
echo "badsec 1 1" > "$r/var/lib/lifeline/quarantine/active"
if dpkg_r -r lifeline > "$tmp/dpkg-r1.log" 2>&1; then
	fail "dpkg -r succeeded while a quarantine was active"
elif ! grep -q 'lifelinectl clear --all' "$tmp/dpkg-r1.log" || ! grep -q 'badsec' "$tmp/dpkg-r1.log"; then
	fail "dpkg -r refused without saying what to do: $(cat "$tmp/dpkg-r1.log")"
elif [ ! -x "$r/usr/sbin/lifelinectl" ]; then
	fail "refused remove still removed files"
else
	ok "remove refused while quarantined: $(grep -m1 'not removed' "$tmp/dpkg-r1.log")"
fi
dpkg-query --admindir="$r/var/lib/dpkg" -W -f='${Status}\n' lifeline | grep -q ' installed$' ||
	fail "after the refused remove the package is not installed and configured"

# prerm asks lifelinectl status --json first ("quarantined": [...]). Its
# parsing, with a lifelinectl that reports a quarantine the active list
# does not hold (the JSON as json-c pretty-prints it):
: > "$r/var/lib/lifeline/quarantine/active"
mv "$r/usr/sbin/lifelinectl" "$r/usr/sbin/lifelinectl.real"
printf '%s\n' '#!/bin/sh' \
	"printf '{\\n  \"version\":1,\\n  \"quarantined\":[\\n    \"badsec\",\\n    \"falco\"\\n  ],\\n  \"modules_blocked\":[\\n  ]\\n}\\n'" \
	> "$r/usr/sbin/lifelinectl"
chmod 0755 "$r/usr/sbin/lifelinectl"
if dpkg_r -r lifeline > "$tmp/dpkg-r3.log" 2>&1; then
	fail "dpkg -r succeeded while lifelinectl status showed a quarantine"
elif ! grep -q 'quarantine is active (badsec falco)' "$tmp/dpkg-r3.log"; then
	fail "dpkg -r refused without the ids from lifelinectl: $(cat "$tmp/dpkg-r3.log")"
else
	ok "remove refused on lifelinectl status --json's quarantine"
fi
mv "$r/usr/sbin/lifelinectl.real" "$r/usr/sbin/lifelinectl"
# ... and the real lifelinectl's JSON has that shape.
fr=$tmp/fakeroot
mkdir -p "$fr/var/lib/lifeline/quarantine" "$fr/efivars"
echo "badsec 1 1" > "$fr/var/lib/lifeline/quarantine/active"
q=$(EFIVARFS_PATH="$fr/efivars/" "$O/bin/lifelinectl" --root="$fr" status --json 2> /dev/null |
	tr -d ' \t\n' | sed -n 's/.*"quarantined":\[\([^]]*\)\].*/\1/p')
if [ "$q" = '"badsec"' ]; then
	ok "lifelinectl status --json: \"quarantined\":[\"badsec\"]"
else
	fail "lifelinectl status --json has no \"quarantined\" array as prerm reads it (got '$q')"
fi

# Quarantine ended: remove works and rebuilds the images without lifeline.
echo "history" > "$r/var/lib/lifeline/history"
echo "record" > "$r/sys/firmware/efi/efivars/$EFIVAR"
: > "$r/stub.log"
if ! dpkg_r -r lifeline > "$tmp/dpkg-r2.log" 2>&1; then
	cat "$tmp/dpkg-r2.log" >&2
	fail "dpkg -r"
fi
[ ! -e "$r/usr/sbin/lifelinectl" ] && [ ! -e "$r/usr/share/initramfs-tools/hooks/lifeline" ] ||
	fail "dpkg -r left programs or hooks"
grep -qx 'update-initramfs -u -k all' "$r/stub.log" || fail "postrm remove: no 'update-initramfs -u -k all'"
[ -f "$r/etc/lifeline/lifeline.conf" ] && [ -f "$r/var/lib/lifeline/history" ] ||
	fail "dpkg -r removed configuration or state (only purge may)"
ok "remove: $(tr '\n' ';' < "$r/stub.log")"

if ! dpkg_r -P lifeline > "$tmp/dpkg-p.log" 2>&1; then
	cat "$tmp/dpkg-p.log" >&2
	fail "dpkg -P"
fi
[ ! -e "$r/var/lib/lifeline" ] || fail "purge left /var/lib/lifeline"
[ ! -e "$r/sys/firmware/efi/efivars/$EFIVAR" ] || fail "purge left the EFI variable"
[ ! -e "$r/etc/lifeline/lifeline.conf" ] || fail "purge left lifeline.conf"
ok "purge: state, EFI variable and configuration gone"

# Purge never deletes files still in quarantine.
dpkg_r -i "$deb" > /dev/null 2>&1 || fail "dpkg -i (again)"
dpkg_r -r lifeline > /dev/null 2>&1 || :
mkdir -p "$r/var/lib/lifeline/quarantine/files"
echo "badsec 2 1" > "$r/var/lib/lifeline/quarantine/active"
echo "vendor binary" > "$r/var/lib/lifeline/quarantine/files/badsecd"
dpkg_r -P lifeline > "$tmp/dpkg-p2.log" 2>&1 || fail "dpkg -P with a quarantine left"
[ -f "$r/var/lib/lifeline/quarantine/files/badsecd" ] && grep -q 'kept' "$tmp/dpkg-p2.log" &&
	ok "purge keeps a quarantine that still holds files, and says so" ||
	fail "purge deleted quarantined files or said nothing: $(cat "$tmp/dpkg-p2.log")"

if [ "$fails" -ne 0 ]; then
	echo "check-pkg: $fails failure(s)" >&2
	exit 1
fi
echo "check-pkg: all passed"
