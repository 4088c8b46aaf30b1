#!/bin/sh
# Install the FAKE "BadSec Security" product into a Debian root directory.
#   install.sh ROOT [good|crash|hang]
# Builds badsec.ko inside ROOT with chroot, using ROOT's own gcc and kernel
# headers (so the module matches the guest kernel exactly, whatever the host
# runs), then lays the product out as a vendor package would:
#   /lib/modules/<kver>/extra/badsec.ko (+ depmod)
#   /opt/badsec/bin/{badsecd,badsec-update}
#   /opt/badsec/content/channel-291.bin          (initial content: good)
#   /etc/badsec/badsec.conf                      (the agent's mode: kernel)
#   /etc/systemd/system/{badsec,badsecd}.service (enabled)
# The chroot needs no /proc or /dev: kbuild only runs make, gcc and sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=${1:?usage: install.sh ROOT [good|crash|hang]}
initial=${2:-good}

# exactly one kernel in the root (linux-image-amd64 pulls one)
kver=$(ls "$root/lib/modules")
case "$kver" in
*[!A-Za-z0-9._+-]*|"") echo "install.sh: expected exactly one kernel in $root/lib/modules, got: $kver" >&2; exit 1 ;;
esac

src=/usr/src/badsec
rm -rf "$root$src"
mkdir -p "$root$src"
cp "$here/badsec.c" "$here/Kbuild" "$root$src/"
chroot "$root" make -s -C "/lib/modules/$kver/build" M="$src" modules
install -D -m 0644 "$root$src/badsec.ko" "$root/lib/modules/$kver/extra/badsec.ko"
chroot "$root" depmod -a "$kver"
# build products stay out of the image
(cd "$root$src" && rm -f ./*.o ./*.ko ./*.mod ./*.mod.c ./.*.cmd ./Module.symvers ./modules.order)

install -d -m 0755 "$root/opt/badsec/bin" "$root/opt/badsec/content"
install -m 0755 "$here/badsecd" "$here/badsec-update" "$root/opt/badsec/bin/"
install -D -m 0644 "$here/badsec.conf" "$root/etc/badsec/badsec.conf"
cat > "$root/opt/badsec/README" <<'EOT'
BadSec Security -- a FAKE security product used by lifeline's VM tests.
Its kernel module crashes (CRASH) or freezes the machine (HANG) when the
channel file /opt/badsec/content/channel-291.bin says so. Its agent runs
in kernel or user mode ([sensor] mode in /etc/badsec/badsec.conf); in user
mode, content USERCRASH makes the agent crash the machine.
Switch content: /opt/badsec/bin/badsec-update good|crash|hang|usercrash
EOT
install -m 0644 "$here/badsec.service" "$here/badsecd.service" "$root/etc/systemd/system/"
chroot "$root" systemctl enable badsec.service badsecd.service
"$here/set-content.sh" "$root" "$initial"
echo "badsec: installed for kernel $kver in $root (content: $initial)"
