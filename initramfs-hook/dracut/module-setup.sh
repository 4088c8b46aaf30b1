#!/bin/bash
# dracut module "lifeline" (installed as modules.d/90lifeline): put
# lifeline-early, its libraries, the lifeline configuration and the kernel
# modules it needs into the initrd, and run its two phases there.
#
#   --phase=init    before udev loads modules (it counts this boot attempt and
#                   blocks quarantined modules); efi_pstore and the watchdog
#                   drivers are loaded just before it, efivarfs it mounts
#                   itself
#   --phase=rootfs  the real root is mounted at /sysroot, before switch-root
#
# Two flavours, chosen by whether the "systemd" dracut module is in the image:
#   systemd-based initrd  native units lifeline-early-init.service (wanted by
#                         sysinit.target, before systemd-modules-load and udev)
#                         and lifeline-early-rootfs.service (wanted by
#                         initrd.target, after the root and /usr are mounted,
#                         before initrd-cleanup / switch-root)
#   shell-based initrd    hooks pre-udev/00-lifeline-init.sh and
#                         pre-pivot/90-lifeline-rootfs.sh (sourced by init)
# Only one flavour is installed: in a systemd initrd the dracut-pre-udev and
# dracut-pre-pivot services would source the hooks as well.
#
# Nothing here may stop a boot: the units only are wanted (never required),
# their commands carry the "-" prefix, the hooks never exit and ignore
# every status. lifeline-early itself exits 0 whatever happens.

# dracut sets moddir, initdir, dracutsysrootdir, systemdsystemunitdir.
# shellcheck disable=SC2154

# called by dracut
check() {
    # Include the module whenever lifeline is installed (also in hostonly
    # mode: nothing on the host says whether it is "needed").
    require_binaries /usr/lib/lifeline/lifeline-early || return 1
    return 0
}

# called by dracut
depends() {
    # No hard dependency: both the systemd and the shell-based initrd work.
    return 0
}

# called by dracut
installkernel() {
    # efivarfs holds the boot-state record and efi_pstore keeps the next
    # panic's log: always wanted, even in hostonly mode (a hostonly build
    # keeps only modules the build host has loaded or has devices for).
    hostonly='' instmods -s efivarfs efi_pstore
    # the file store (machines without EFI variables): a FAT partition
    # lifeline-early mounts itself, before udev
    hostonly='' instmods -s vfat nls_cp437 nls_ascii
    # Hardware watchdog drivers that lifeline-early arms so a hang in the
    # initrd is reset: [boot] initramfs_watchdog (this machine's by default,
    # which watchdog-drivers finds itself, so hostonly filtering is off).
    # The init unit / hook loads the ones watchdog-drivers.list names.
    local _wd _wds="i6300esb iTCO_wdt sp5100_tco"
    if [[ -x "$dracutsysrootdir/usr/lib/lifeline/watchdog-drivers" ]]; then
        _wds=$(LIFELINE_MODULES_DIR="${srcmods:-/lib/modules/$kernel}" \
            LIFELINE_CONFIG_ROOT="${dracutsysrootdir:-/}" \
            LIFELINE_EARLY="$dracutsysrootdir/usr/lib/lifeline/lifeline-early" \
            "$dracutsysrootdir/usr/lib/lifeline/watchdog-drivers" "$kernel") || _wds=""
    fi
    mkdir -p "$initdir/usr/lib/lifeline"
    : > "$initdir/usr/lib/lifeline/watchdog-drivers.list"
    for _wd in $_wds; do
        if hostonly='' instmods -c -s "$_wd"; then
            echo "$_wd" >> "$initdir/usr/lib/lifeline/watchdog-drivers.list"
        else
            dwarn "lifeline: watchdog driver $_wd: no such module in kernel $kernel; left out"
        fi
    done
    return 0
}

# called by dracut
install() {
    local _f _unit

    inst_binary /usr/lib/lifeline/lifeline-early
    # modprobe.d "install MOD /bin/false" lines (the quarantine) need
    # /bin/false in the initrd; modprobe loads the modules above (/bin/sh,
    # which the init unit also runs, comes with dracut's shell module).
    inst_binary /bin/false
    inst_multiple -o modprobe

    # "lifeline is enabled" travels in the image (lifeline-early arms the
    # boot watchdog only then): lifelined.service's enablement when the
    # image is built; rebuild it (dracut -f) after enable or disable.
    mkdir -p "$initdir/usr/lib/lifeline"
    for _f in "$dracutsysrootdir"/etc/systemd/system/*.wants/lifelined.service; do
        if [[ -e "$_f" || -L "$_f" ]]; then
            echo "lifelined.service enabled when this image was built" \
                > "$initdir/usr/lib/lifeline/enabled"
            break
        fi
    done

    # Configuration read by the early phases (thresholds, components).
    # The vendors' drop-ins (/usr/lib) and the administrator's (/etc: a
    # same-named file overrides one, a symlink to /dev/null masks it).
    inst_dir /usr/lib/lifeline/components.d
    inst_dir /etc/lifeline/components.d
    inst_multiple -o /etc/lifeline/lifeline.conf
    for _f in "$dracutsysrootdir"/usr/lib/lifeline/components.d/*.conf \
        "$dracutsysrootdir"/etc/lifeline/components.d/*.conf; do
        if [[ -L "$_f" && "$(readlink "$_f")" == /dev/null ]]; then
            ln -sf /dev/null "$initdir${_f#"$dracutsysrootdir"}"
        elif [[ -f "$_f" ]]; then
            inst_multiple -o "${_f#"$dracutsysrootdir"}"
        fi
    done

    if dracut_module_included "systemd"; then
        for _unit in lifeline-early-init.service lifeline-early-rootfs.service; do
            inst_simple "$moddir/$_unit" "$systemdsystemunitdir/$_unit"
            # make install copies the module's files with mode 0755; systemd
            # warns about executable unit files.
            chmod 0644 "$initdir$systemdsystemunitdir/$_unit"
        done
        $SYSTEMCTL -q --root "$initdir" enable \
            lifeline-early-init.service lifeline-early-rootfs.service
    else
        inst_hook pre-udev 00 "$moddir/lifeline-init.sh"
        # After /sysroot/usr is mounted (98usrmount, pre-pivot 50).
        inst_hook pre-pivot 90 "$moddir/lifeline-rootfs.sh"
    fi
    return 0
}
