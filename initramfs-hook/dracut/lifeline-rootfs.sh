#!/bin/sh
# lifeline, dracut shell-based initrd, pre-pivot hook: the real root is
# mounted at $NEWROOT; record and apply a new quarantine there before the
# real init starts. lifeline-early remounts the root read-write for this
# and read-only again itself.
# SOURCED by dracut's init: never exit here, let nothing fail the boot.
if [ -x /usr/lib/lifeline/lifeline-early ]; then
    /usr/lib/lifeline/lifeline-early --phase=rootfs --root="${NEWROOT:-/sysroot}" || :
fi
