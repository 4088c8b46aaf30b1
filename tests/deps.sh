#!/bin/sh
# Install the Debian 12 packages lifeline needs to build, test and run its
# VM rig, but only those that are missing. Safe to run again and again.
#   tests/deps.sh            build + unit/integration tests + VM rig
#   tests/deps.sh --check    exit 1 (and list them) if anything is missing
set -eu

PKGS_BUILD="gcc make pkg-config libefivar-dev libsystemd-dev libblkid-dev
libcurl4-openssl-dev libjson-c-dev libssl-dev libcmocka-dev"
PKGS_TEST="python3 e2fsprogs kmod clang libclang-rt-14-dev valgrind cppcheck clang-tidy"
# the package (make deb), man pages, alert rules, report schema, the poll
# benchmark's web server
PKGS_PKG="dpkg-dev debhelper lintian scdoc groff-base fakeroot prometheus
python3-jsonschema nginx-light"
PKGS_VM="qemu-system-x86 qemu-utils ovmf mmdebstrap systemd-boot-efi mtools
dosfstools gdisk cpio zstd openssh-client
swtpm swtpm-tools cryptsetup-bin"

missing=""
for p in $PKGS_BUILD $PKGS_TEST $PKGS_PKG $PKGS_VM; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "missing packages:$missing"
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: these packages are missing and only root can install them:$missing" >&2
	exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || echo "deps.sh: apt-get update failed; trying the cached package lists" >&2
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
