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
passed=0
failed=0
for t in crashloop.py hang.py noharm.py; do
	echo "== VM scenario $t"
	if python3 "$here/$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "VM scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
