#!/bin/sh
# lifeline, dracut shell-based initrd, pre-udev hook: count this boot attempt
# and block quarantined modules before udev loads any.
# SOURCED by dracut's init: never exit here, touch only lifeline_* variables,
# and let nothing fail the boot.
if [ -x /usr/lib/lifeline/lifeline-early ]; then
    # efi_pstore: udev would load it too, racing a module that crashes in
    # the initrd; the watchdog drivers give lifeline-early /dev/watchdog0.
    # Drivers for absent hardware fail to load: that is expected.
    # The watchdog drivers module-setup.sh chose, parents first.
    lifeline_wds="i6300esb iTCO_wdt sp5100_tco"
    [ -r /usr/lib/lifeline/watchdog-drivers.list ] &&
        lifeline_wds=$(cat /usr/lib/lifeline/watchdog-drivers.list)
    for lifeline_mod in efivarfs efi_pstore $lifeline_wds; do
        modprobe -q "$lifeline_mod" > /dev/null 2>&1 || :
    done
    unset lifeline_mod lifeline_wds
    # It mounts efivarfs itself (and re-executes) when needed.
    /usr/lib/lifeline/lifeline-early --phase=init || :
fi
