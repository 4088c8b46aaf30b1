#!/bin/sh
# The VM tests (make check-vm): each scenario boots a real Debian 12 under
# OVMF in QEMU (TCG). Set LIFELINE_SKIP_VM=1 to skip them (says so loudly).
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ "${LIFELINE_SKIP_VM:-0}" = 1 ]; then
	echo "check-vm: SKIPPED (LIFELINE_SKIP_VM=1)"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "check-vm: the VM tests need root (mmdebstrap, chroot, mke2fs -d)" >&2
	exit 1
fi
# the rig's own rules (boots in the serial log, emulator faults) first:
# no QEMU, a second
if ! python3 "$here/test_vmlib.py"; then
	echo "check-vm: FAILED: the VM rig's own tests (tests/vm/test_vmlib.py)" >&2
	exit 1
fi
# the package first, so that a build failure is reported once, not per scenario
if ! deb=$("$here/need-deb.sh"); then
	echo "check-vm: FAILED: no package to install (tests/vm/need-deb.sh)" >&2
	exit 1
fi
export LIFELINE_DEB="$deb"
passed=0
failed=0
# One guest image for all (build-pkg-root.sh: a minimal Debian 12 with the
# package's Depends, cached; lifeline installed from the package that
# tests/vm/need-deb.sh finds or builds). Each scenario is one boot sequence
# carrying several checks (tests/vm/README.md lists them).
scenarios=${LIFELINE_VM_SCENARIOS:-crashloop.py hang.py noharm.py seabios.py}
for t in $scenarios; do
	echo "== VM scenario $t"
	if python3 "$here/$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "VM scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
