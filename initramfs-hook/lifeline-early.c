/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifeline-early — the early-boot program, run from the initramfs.
 *
 *   lifeline-early --phase=init              (init-top, before udev)
 *   lifeline-early --phase=rootfs --root=DIR (init-bottom, real root at DIR)
 *   lifeline-early --phase=survived          (lifeline-survived.service, after
 *                                             [boot] stable_after)
 *   lifeline-early --phase=shutdown [--clean] (lifeline-shutdown.service, at
 *                                             shutdown)
 *   lifeline-early --initramfs-watchdog      (the initramfs hooks, at build time)
 *
 * It must never stop a boot: it always exits 0 unless the command line is
 * wrong (2); errors go to the kernel log prefixed "lifeline:".
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "agent/boot/boot.h"
#include "agent/boot/survived.h"
#include "agent/conf/config.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"

#define EFIVARFS_MAGIC 0xde5e81e4

static void help(void)
{
	printf("Usage: lifeline-early --phase=init|rootfs|survived|shutdown [OPTIONS]\n"
	       "\n"
	       "The early-boot half of lifeline, run from the initramfs.\n"
	       "\n"
	       "  --phase=init      before udev loads modules: collect the previous crash's\n"
	       "                    pstore records, count this boot in the state record\n"
	       "                    (one EFI variable write), decide, block quarantined\n"
	       "                    modules (/run/modprobe.d), arm the hardware watchdog\n"
	       "  --phase=rootfs    real root mounted at --root: record and apply a new\n"
	       "                    quarantine on the root, save the crash texts\n"
	       "  --phase=survived  the boot has been up [boot] stable_after seconds: reset\n"
	       "                    the failure count, hand the boot watchdog back\n"
	       "  --phase=shutdown  at shutdown: write a survival the survived step could not\n"
	       "                    (failure count to 0); with --clean (a clean shutdown or\n"
	       "                    reboot) and [boot] count_clean_reboots = no, record it\n"
	       "  --clean           see --phase=shutdown\n"
	       "  --root=DIR        root directory (init: \"/\"; rootfs: ${rootmnt})\n"
	       "  --run-dir=DIR     state for later phases (default ROOT/run/lifeline;\n"
	       "                    rootfs phase: /run/lifeline)\n"
	       "  --config-root=DIR read etc/lifeline under DIR (default: --root)\n"
	       "  --test            no mounts, watchdog, /proc/sys or remount (tests)\n"
	       "  --initramfs-watchdog\n"
	       "                    print [boot] initramfs_watchdog of the configuration\n"
	       "                    under --config-root (or --root): \"auto\", \"none\" or the\n"
	       "                    module names; for the initramfs hooks, at build time\n"
	       "  --stderr          log to stderr instead of the kernel log\n"
	       "  -h, --help        this text\n"
	       "\n"
	       "Exit status: 0 always once the options parse (a failing lifeline must not\n"
	       "stop the boot; errors are logged as \"lifeline: ...\" in the kernel log),\n"
	       "2 usage error.\n");
}

/* The initramfs hooks ask which watchdog drivers to put in the image; the
 * configuration is read by the one parser every program uses. A bad value
 * is logged and leaves the default, "auto". */
static int print_initramfs_watchdog(const char *config_root)
{
	struct lifeline_config cfg;
	_cleanup_free_ char *list = NULL;

	config_init_defaults(&cfg);
	(void)config_load(config_root, &cfg);
	list = cfg.initramfs_watchdog ? strv_join(cfg.initramfs_watchdog, " ") : strdup("auto");
	config_done(&cfg);
	if (!list) {
		log_error("Out of memory");
		return 1;
	}
	printf("%s\n", list);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* libefivar picks its backend in a constructor before main, so when we had
 * to mount efivarfs ourselves the process starts over to see it. */
static void ensure_efivarfs(char **argv)
{
	struct statfs sf;

	if (getenv("EFIVARFS_PATH") || access("/sys/firmware/efi", F_OK) < 0)
		return;
	if (statfs("/sys/firmware/efi/efivars", &sf) == 0 && (unsigned)sf.f_type == EFIVARFS_MAGIC)
		return;
	if (getenv("LIFELINE_EARLY_REEXEC"))
		return;
	if (mount("efivarfs", "/sys/firmware/efi/efivars", "efivarfs",
	          MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		log_warning_errno(errno, "Failed to mount efivarfs: %m (modprobe efivarfs first)");
		return;
	}
	setenv("LIFELINE_EARLY_REEXEC", "1", 1);
	execv("/proc/self/exe", argv);
	log_warning_errno(errno, "Failed to re-execute after mounting efivarfs: %m");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"phase", required_argument, NULL, 'p'},
	    {"root", required_argument, NULL, 'r'},
	    {"run-dir", required_argument, NULL, 'R'},
	    {"config-root", required_argument, NULL, 'c'},
	    {"test", no_argument, NULL, 't'},
	    {"stderr", no_argument, NULL, 's'},
	    {"initramfs-watchdog", no_argument, NULL, 'W'},
	    {"clean", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	struct boot_opts o = {.root = "/", .real_system = true, .remount = true};
	const char *phase = NULL;
	bool to_stderr = false, watchdog_query = false, clean = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case 'p':
			phase = optarg;
			break;
		case 'r':
			o.root = optarg;
			break;
		case 'R':
			o.run_dir = optarg;
			break;
		case 'c':
			o.config_root = optarg;
			break;
		case 't':
			o.real_system = false;
			o.remount = false;
			break;
		case 's':
			to_stderr = true;
			break;
		case 'W':
			watchdog_query = true;
			break;
		case 'C':
			clean = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			fprintf(stderr, "Try 'lifeline-early --help'.\n");
			return 2;
		}
	}
	if (watchdog_query) {
		if (optind < argc || phase) {
			fprintf(stderr, "lifeline-early: --initramfs-watchdog takes no phase\n");
			return 2;
		}
		log_set_prefix("lifeline-early: ");
		return print_initramfs_watchdog(o.config_root ? o.config_root : o.root);
	}
	if (optind < argc || !phase ||
	    (!streq(phase, "init") && !streq(phase, "rootfs") && !streq(phase, "survived") &&
	     !streq(phase, "shutdown"))) {
		fprintf(stderr, "lifeline-early: --phase=init, --phase=rootfs, --phase=survived or "
		                "--phase=shutdown is required\n");
		return 2;
	}
	if (clean && !streq(phase, "shutdown")) {
		fprintf(stderr, "lifeline-early: --clean goes with --phase=shutdown only\n");
		return 2;
	}

	/* the survived and shutdown steps run as services: stderr is the journal */
	if (!to_stderr && !streq(phase, "survived") && !streq(phase, "shutdown"))
		log_set_target(LOG_TARGET_KMSG);
	else
		log_set_prefix("lifeline-early: ");

	if (streq(phase, "init")) {
		if (o.real_system)
			ensure_efivarfs(argv);
		(void)boot_phase_init(&o);
	} else if (streq(phase, "survived")) {
		log_set_prefix("lifeline: ");
		(void)boot_phase_survived(&o);
	} else if (streq(phase, "shutdown")) {
		struct survived_retry retry = SURVIVED_RETRY_SHUTDOWN;

		log_set_prefix("lifeline: ");
		(void)boot_phase_shutdown(&o, clean, &retry);
	} else {
		if (!o.run_dir)
			o.run_dir = "/run/lifeline";
		(void)boot_phase_rootfs(&o);
	}
	return 0;
}
