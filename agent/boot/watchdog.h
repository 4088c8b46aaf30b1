/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The boot watchdog: it guards progress, never health.
 *
 * The init phase arms the hardware watchdog (only when the initramfs says
 * lifeline is enabled, BOOT_ENABLED_FLAG) and hands it to systemd: a
 * drop-in in /run/systemd/system.conf.d sets RuntimeWatchdogSec= to
 * [boot] boot_watchdog, and PID 1, which reads it at start, pings the
 * device from then on. A hang in the kernel, the initramfs or PID 1 stops
 * the pings and resets the machine; a failed unit, a failing check or a
 * missing lifelined does not (nothing waits for a verdict).
 *
 * Once the boot has been up [boot] stable_after seconds, the survived step
 * (boot.h boot_phase_survived()) hands the watchdog back: the drop-in goes
 * and PID 1 re-executes (systemctl daemon-reexec), which disarms the
 * device and reads system.conf(.d) again: the administrator's own
 * RuntimeWatchdogSec= wins, and without one the watchdog is off.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* In the initramfs image, written by the initramfs hooks at build time
 * when lifelined.service is enabled on the machine (rebuilt by
 * update-initramfs / dracut after `systemctl enable|disable lifelined`). */
#define BOOT_ENABLED_FLAG      "/usr/lib/lifeline/enabled"
#define BOOT_WATCHDOG_DEV      "/dev/watchdog0"
#define BOOT_WATCHDOG_DROPIN   "/run/systemd/system.conf.d/50-lifeline-boot-watchdog.conf"
#define BOOT_WATCHDOG_INFINITY UINT64_MAX

/* Whether the image under root says lifeline is enabled. */
bool boot_enabled_in_image(const char *root);

/* Open dev, set timeout seconds, ping once, close without the magic 'V'
 * (the watchdog keeps running). 0 armed, -errno when it could not be
 * opened (nothing is armed). */
int boot_watchdog_arm(const char *dev, unsigned timeout);

/* <root>BOOT_WATCHDOG_DROPIN with RuntimeWatchdogSec=timeout. */
int boot_watchdog_write_dropin(const char *root, unsigned timeout);

/* "30", "30s", "5min", "1h 30min", "500ms", "off", "0", "default",
 * "infinity" (systemd time spans) in microseconds; "default" and
 * "infinity" give BOOT_WATCHDOG_INFINITY (the driver's own timeout).
 * -EINVAL when it is none of those. */
int boot_parse_timespan_usec(const char *s, uint64_t *ret);

/* The administrator's RuntimeWatchdogSec= under root: /etc/systemd/system.conf,
 * then the system.conf.d drop-ins of /usr/lib, /usr/local/lib, /run and
 * /etc in systemd's order (by file name; /etc over /run over /usr for the
 * same name), lifeline's own drop-in left out. 1 and *ret set when one is
 * configured, 0 when none is. */
int boot_watchdog_admin_usec(const char *root, uint64_t *ret);

/* Hand the watchdog back after stable_after: remove the drop-in and, when
 * it was there and call_pid1, have PID 1 re-execute (systemctl
 * daemon-reexec) so that it takes the administrator's setting. Returns 1
 * when a hand-back was due (drop-in found), 0 when lifeline had not armed
 * the watchdog in this boot, -errno on failure. */
int boot_watchdog_hand_back(const char *root, bool call_pid1);
