/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The init phase (boot.h boot_phase_init()): in the initramfs, before udev
 * loads modules. Counts the boot (the one variable write), takes a damaged
 * record out of service, decides, blocks modules, arms the boot watchdog.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent/boot/boot.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/decision/decide.h"
#include "efi/store.h"
#include "agent/decision/history.h"
#include "agent/inventory/inventory.h"
#include "agent/crash/pstore.h"
#include "agent/quarantine/quarantine.h"
#include "agent/report/report.h"
#include "agent/decision/runstate.h"
#include "agent/crash/suspects.h"
#include "agent/boot/var-mount.h"
#include "agent/boot/watchdog.h"
#include "agent/boot/store-devices.h"
#include "agent/decision/blocked-modules.h"

#include "agent/boot/boot-internal.h"

#define MODPROBE_INITRD "/etc/modprobe.d/lifeline-quarantine.conf"

int boot_write_modprobe_conf(const char *path, char **modules)
{
	_cleanup_free_ char *buf = NULL, *dir = NULL;
	size_t size = 0;
	FILE *f;
	int r;

	if (strv_length(modules) == 0)
		return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fputs("# Written by lifeline-early: modules quarantined after a crash loop.\n"
	      "# Clear with: lifelinectl clear\n",
	      f);
	STRV_FOREACH (m, modules)
		fprintf(f, "blacklist %s\ninstall %s /bin/false\n", *m, *m);
	if (fclose(f) != 0)
		return -ENOMEM;

	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	*strrchr(dir, '/') = 0;
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	return write_file_atomic(path, buf, size, 0644);
}

char *boot_run_path(const struct boot_opts *o, const char *rel)
{
	_cleanup_free_ char *dir = NULL;

	if (o->run_dir)
		return path_join(o->run_dir, rel);
	dir = path_under_root(o->root, RUNSTATE_DIR);
	return dir ? path_join(dir, rel) : NULL;
}

bool boot_path_off_device(const char *path, dev_t root_dev)
{
	_cleanup_free_ char *p = strdup(path);
	struct stat st;

	if (!p)
		return false;
	for (;;) {
		char *slash;

		if (stat(p, &st) == 0)
			return st.st_dev != root_dev;
		slash = strrchr(p, '/');
		if (!slash)
			return false;
		if (slash == p) {
			if (!p[1])
				return false;
			p[1] = 0; /* "/" */
		} else
			*slash = 0;
	}
}

/* The file store's partition on a machine without EFI variables: its
 * disk's driver not loaded yet (store-devices.h). */
#define STORE_WAIT_POLL_MS   100
#define STORE_WAIT_SETTLE_MS 3000
#define STORE_WAIT_MAX_MS    30000

struct store_wait {
	const struct lifeline_config *cfg;
	struct store *store;
	char *why;
};

static int store_wait_try(void *userdata)
{
	struct store_wait *w = userdata;

	free(w->why);
	w->why = NULL;
	return config_open_store(w->cfg, &w->store, &w->why);
}

static void store_wait_sleep(unsigned ms, void *userdata)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	(void)userdata;
	(void)nanosleep(&ts, NULL);
}

static unsigned long long store_wait_now(void *userdata)
{
	struct timespec ts;

	(void)userdata;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

static int open_store_waiting(const struct lifeline_config *cfg, struct store **ret, char **ret_why)
{
	struct store_wait w = {.cfg = cfg};
	struct store_devices_ops ops = {
	    .load = store_devices_modprobe,
	    .try_open = store_wait_try,
	    .sleep_ms = store_wait_sleep,
	    .now_ms = store_wait_now,
	    .userdata = &w,
	};
	unsigned long long t0 = store_wait_now(NULL);
	unsigned loaded = 0;
	int r;

	log_info("no file store partition yet: loading the storage drivers and waiting for its "
	         "disk (at most %u s)",
	         STORE_WAIT_MAX_MS / 1000);
	r = store_devices_wait("/sys", &ops, STORE_WAIT_POLL_MS, STORE_WAIT_SETTLE_MS,
	                       STORE_WAIT_MAX_MS, &loaded);
	if (r >= 0) {
		log_info("file store found after %llu ms (%u storage driver alias(es) loaded)",
		         store_wait_now(NULL) - t0, loaded);
		*ret = w.store;
		free(*ret_why);
		*ret_why = w.why;
		return 0;
	}
	free(w.why);
	return r;
}

static void set_panic_timeout(unsigned seconds)
{
	char buf[32];
	int n;

	if (seconds == 0)
		return;
	/* kernel.panic: reboot N s after a panic (Documentation/admin-guide/
	 * sysctl/kernel.rst); Debian leaves it 0 = wait forever, which would
	 * end a crash loop on a frozen screen instead of counting it. */
	n = snprintf(buf, sizeof(buf), "%u\n", seconds);
	if (write_file_atomic("/proc/sys/kernel/panic", buf, (size_t)n, 0644) < 0) {
		_cleanup_close_ int fd = open("/proc/sys/kernel/panic", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, buf, (size_t)n) != n)
			log_warning_errno(errno, "Failed to set kernel.panic=%u: %m", seconds);
	}
}

static void mount_pstore(void)
{
	struct statvfs sv;

	if (access("/sys/fs/pstore", F_OK) < 0)
		return;
	if (statvfs("/sys/fs/pstore", &sv) == 0 &&
	    mount("pstore", "/sys/fs/pstore", "pstore", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
	        0 &&
	    errno != EBUSY)
		log_debug_errno(errno, "Failed to mount pstore: %m");
}

/* Modules of the components ids (patterns resolved against the image's
 * module index: blocked-modules.h) plus level-3 extras, into the record. */
static void fill_modules(struct state_record *rec, const struct component_set *set, char **ids,
                         char **extra, const struct module_index *idx)
{
	_cleanup_free_ struct quarantine_entry *active = NULL;
	_cleanup_strv_free_ char **l = NULL;
	unsigned n = 0;

	STRV_FOREACH (id, ids)
		if (quarantine_active_add(&active, &n, *id, 0, 0) == -ENOMEM)
			return;
	if (blocked_modules(set, active, n, extra, idx, &l) < 0)
		return;
	STRV_FOREACH (m, l)
		if (state_record_add_module(rec, *m) == -ENOSPC)
			log_warning("module list full, %s not blocked in the initramfs", *m);
}

void boot_all_component_ids(const struct component_set *set, char ***ids)
{
	for (size_t i = 0; i < set->n; i++)
		if (!strv_contains(*ids, set->items[i].id))
			(void)strv_extend(ids, set->items[i].id);
}

static bool record_is_damaged(int r)
{
	return r == STATE_E_MAGIC || r == STATE_E_VERSION || r == STATE_E_SIZE ||
	       r == STATE_E_CHECKSUM || r == STATE_E_FIELD || r == -EBADE;
}

static void load_components(const char *config_root, struct component_set *set, bool *done)
{
	int r;

	if (*done)
		return;
	r = components_load(config_root, set, NULL);
	if (r < 0)
		log_error_errno(r, "Failed to load components: %m");
	*done = r >= 0;
}

/* The previous boot's panic for the record (decide.h decide_panic_sig()):
 * from the newest crash record pstore holds (the records of older boots
 * left NVRAM once a record write counted them). 0 when it left none, or
 * none in third-party code. *ret_what: where it crashed, for the console
 * and the reason. */
static uint32_t previous_panic_signature(const struct pstore_log *plog,
                                         const struct component_set *set, char **ret_what)
{
	*ret_what = NULL;
	for (size_t i = plog ? plog->n_records : 0; i > 0; i--) {
		const struct pstore_record *pr = &plog->records[i - 1];
		struct pstore_evidence e = {0};
		uint32_t sig = 0;
		int r;

		if (pstore_parse(pr->text, pr->size, &e) < 0)
			continue; /* no crash in this one: an older record may have it */
		r = pstore_crash_signature(&e, set, &sig, ret_what);
		pstore_evidence_done(&e);
		if (r <= 0) {
			log_info(
			    "previous boot's crash is not in third-party code: no repeat-crash "
			    "signature");
			return 0;
		}
		sig = decide_panic_sig(sig, pr->time, pr->event);
		log_info("previous boot's crash: %s (signature %08x)", *ret_what, sig);
		return sig;
	}
	return 0;
}

static void load_index(const struct boot_opts *o, struct module_index *idx, bool *done)
{
	int r;

	if (*done)
		return;
	r = module_index_load(o->root, o->kernel_release, idx);
	if (r < 0)
		log_warning_errno(r, "Failed to read the kernel's module index: %m");
	*done = true;
}

/* Keep the bad bytes in /run (the rootfs phase copies them to the root),
 * then remove the variable: a fresh record is written in its place by the
 * one write of this boot (a variable with other attributes cannot be
 * overwritten, only deleted and created again). */
static void replace_record(const struct boot_opts *o, struct store *store, const char *why)
{
	_cleanup_free_ uint8_t *raw = NULL;
	_cleanup_free_ char *keep = boot_run_path(o, "record-bad.bin");
	size_t size = 0;
	int r;

	log_error("state record damaged or inconsistent (%s): replaced by a fresh record that "
	          "counts from this boot; nothing is quarantined because of it",
	          why);
	if (keep) {
		_cleanup_free_ char *dir = strdup(keep);

		if (dir) {
			*strrchr(dir, '/') = 0;
			(void)mkdir_p(dir, 0755);
		}
	}
	if (keep && store_read_raw(store, &raw, &size) >= 0 &&
	    (r = write_file_atomic(keep, raw, size, 0600)) < 0)
		log_warning_errno(r, "Failed to keep the damaged record in %s: %m", keep);
	r = store_delete(store);
	if (r < 0)
		log_warning_errno(r, "Failed to delete the damaged record: %m");
}

/* The boot watchdog guards progress (watchdog.h): armed only when the
 * image says lifeline is enabled, and handed to PID 1 through
 * RuntimeWatchdogSec= so that nothing waits for lifelined. */
static void arm_boot_watchdog(const struct boot_opts *o, const struct lifeline_config *cfg,
                              struct runstate *rs)
{
	const char *dev = o->watchdog_dev  ? o->watchdog_dev
	                  : o->real_system ? BOOT_WATCHDOG_DEV
	                                   : NULL;
	int r;

	if (cfg->boot_watchdog == 0 || !dev)
		return;
	if (rs->image_enabled != 1) {
		log_info("lifeline is not enabled in this initramfs: boot watchdog not armed");
		return;
	}
	r = boot_watchdog_arm(dev, cfg->boot_watchdog);
	if (r == -ENOENT) {
		log_info("no hardware watchdog (%s): a hang will not be reset", dev);
		return;
	}
	if (r < 0) {
		log_warning_errno(r, "Failed to open %s, boot watchdog not armed: %m", dev);
		return;
	}
	r = boot_watchdog_write_dropin(o->root, cfg->boot_watchdog);
	if (r < 0)
		log_error_errno(r, "Failed to hand the boot watchdog to systemd (%s): %m",
		                BOOT_WATCHDOG_DROPIN);
	rs->watchdog = cfg->boot_watchdog;
	log_info("boot watchdog armed: %u s without progress resets this boot, until it has "
	         "been up %u s",
	         cfg->boot_watchdog, cfg->stable_after);
}

int boot_phase_init(const struct boot_opts *o)
{
	_cleanup_free_ char *state_path = NULL, *mode_path = NULL, *pstore_src = NULL,
	                    *pstore_dst = NULL, *why = NULL, *modprobe_run = NULL,
	                    *modprobe_initrd = NULL, *crash_site = NULL;
	const char *config_root = o->config_root ? o->config_root : o->root;
	struct lifeline_config cfg;
	struct component_set set = {0};
	struct state_record rec;
	struct runstate rs;
	struct decision d = {0};
	struct store *store = NULL;
	struct pstore_log *plog = NULL;
	struct module_index idx = {0};
	char **modules = NULL;
	bool set_ok = false, idx_ok = false;
	uint32_t prev_sig = 0;
	int r;

	runstate_init(&rs);
	rs.image_enabled = boot_enabled_in_image(o->root);
	config_init_defaults(&cfg);
	r = config_load(config_root, &cfg);
	if (r < 0)
		log_warning("configuration has errors; using defaults for the bad keys");

	state_path = boot_run_path(o, "state");
	mode_path = boot_run_path(o, "mode");
	pstore_dst = boot_run_path(o, "pstore");
	pstore_src = path_under_root(o->root, "/sys/fs/pstore");
	modprobe_run = path_under_root(o->root, BLOCKED_MODPROBE_FILE);
	modprobe_initrd = path_under_root(o->root, MODPROBE_INITRD);
	if (!state_path || !mode_path || !pstore_dst || !pstore_src || !modprobe_run ||
	    !modprobe_initrd) {
		r = log_error_errno(ENOMEM, "Out of memory");
		goto out;
	}

	if (o->real_system) {
		set_panic_timeout(cfg.panic_reboot);
		mount_pstore();
	}

	/* The previous crash's records, copied to /run. They leave NVRAM only
	 * after the record write below: a power cut in between must not lose
	 * the panic log the next boot's suspects come from. */
	r = pstore_collect(pstore_src, pstore_dst, false, &plog);
	if (r < 0 && r != -ENOENT)
		log_warning_errno(r, "Failed to collect crash records from %s: %m", pstore_src);
	else if (plog && plog->n_records > 0)
		log_info("kept %zu crash record(s) from pstore in %s", plog->n_records, pstore_dst);

	r = config_open_store(&cfg, &store, &why);
	/* no EFI variables and no file store partition: on such a machine
	 * the disk may simply not exist yet (store-devices.h) */
	if (r == -ENODEV && o->real_system && cfg.store != CONFIG_STORE_EFI &&
	    !(cfg.state_file && *cfg.state_file))
		r = open_store_waiting(&cfg, &store, &why);
	if (r < 0) {
		log_error_errno(r, "No state store (%s%s%m): this boot is not counted",
		                why ? why : "", why ? "; file store: " : "");
		rs.mode = strdup("uncounted");
		/* for 'lifelinectl status' and 'check' on the running system,
		 * where the store may well be reachable again */
		if (asprintf(&rs.error, "no state store from the initramfs (%s%s%s)",
		             why ? why : "", why ? "; file store: " : "", strerror(-r)) < 0)
			rs.error = NULL;
		goto write_state;
	}
	/* an explicit state file must be on a disk: in the initramfs nothing
	 * is mounted, and a path there would be a file in memory, lost at
	 * every boot, so that no boot would ever count past 1 */
	if (o->real_system && store->kind == STORE_KIND_FILE && cfg.state_file && *cfg.state_file) {
		struct stat root_st;

		if (stat("/", &root_st) == 0 &&
		    !boot_path_off_device(cfg.state_file, root_st.st_dev)) {
			log_error(
			    "[boot] state_file %s is not on a filesystem mounted in the initramfs "
			    "(its folder would be a folder in memory): this boot is not counted; "
			    "leave state_file empty to use the lifeline-state partition or the "
			    "EFI system partition",
			    cfg.state_file);
			rs.mode = strdup("uncounted");
			if (asprintf(&rs.error,
			             "[boot] state_file %s is not reachable from the initramfs",
			             cfg.state_file) < 0)
				rs.error = NULL;
			goto write_state;
		}
	}
	if (why)
		log_notice("using the file store %s: %s", store->file_path, why);
	rs.store = strdup(store_kind_to_string(store->kind));

	r = store_load(store, &rec);
	if (r == -ENOENT) {
		state_record_init(&rec);
	} else if (r < 0 && !record_is_damaged(r)) {
		/* cannot read it at all (I/O): nothing is known, nothing done */
		log_error_errno(r, "Failed to read the state record: %m; this boot is not counted");
		rs.mode = strdup("uncounted");
		if (asprintf(&rs.error, "state record unreadable (%s)", strerror(-r)) < 0)
			rs.error = NULL;
		goto write_state;
	} else {
		_cleanup_free_ char *why_bad = NULL;

		if (r < 0)
			why_bad = strdup(state_record_strerror(r));
		else {
			load_components(config_root, &set, &set_ok);
			load_index(o, &idx, &idx_ok);
			if (decide_record_check(&rec, set_ok ? &set : NULL, &idx, &why_bad) ==
			    -ENOMEM)
				why_bad = NULL;
		}
		if (why_bad) {
			/* The record is input, not truth: a damaged or inconsistent
			 * one never quarantines anything and never switches the
			 * protection off. A fresh record counts from this boot; the
			 * bad bytes are kept; the rootfs phase tells the history
			 * and the fleet. A quarantine on the root stays in force
			 * (the active list there, not the record, says what is
			 * quarantined). */
			replace_record(o, store, why_bad);
			rs.record_replaced = TAKE_PTR(why_bad);
			state_record_init(&rec);
		}
	}

	if (plog && plog->n_records > 0) {
		/* a configured component's module counts as third-party even
		 * without a taint flag; the protected drivers never do */
		load_components(config_root, &set, &set_ok);
		prev_sig = previous_panic_signature(plog, set_ok ? &set : NULL, &crash_site);
	}
	{
		struct decide_params p = {
		    .threshold = cfg.threshold,
		    .escalate_after = cfg.escalate_after,
		    .count_clean_reboots = cfg.count_clean_reboots,
		    .repeat_crash = cfg.repeat_crash,
		    .max_level = cfg.max_level,
		};
		decide_boot(&rec, &p, prev_sig, &d);
	}
	if (decide_trigger_to_string(d.trigger))
		rs.trigger = strdup(decide_trigger_to_string(d.trigger));

	if (d.action == DECIDE_ESCALATE) {
		_cleanup_strv_free_ char **block = NULL;
		struct suspects s = {0};

		load_components(config_root, &set, &set_ok);
		load_index(o, &idx, &idx_ok);
		r = suspects_pick(d.new_level, pstore_dst, &set, &s);
		if (r < 0)
			log_error_errno(r, "Failed to choose suspects: %m");
		if (d.new_level >= 2)
			boot_all_component_ids(&set, &s.components);
		block = strv_copy(s.components);
		/* Level 1 with no panic-log suspect: the pick comes from the
		 * real root, which this initramfs cannot see (the inventory
		 * diff against the last good boot, or, never blessed, the
		 * component changed most recently: boot-recover.c). The record's module list is
		 * what every following initramfs blocks, and this is its only write of the boot:
		 * block the modules of every component here, in the initramfs
		 * only (a security product rarely loads from the initramfs,
		 * and its modules load from the real root later). The rootfs
		 * phase narrows /run/modprobe.d, the real root's block list,
		 * to its picks, kept on the root, so it never writes the
		 * record again (one variable write per boot attempt). */
		if (s.need_inventory)
			boot_all_component_ids(&set, &block);
		fill_modules(&rec, &set, block, s.extra_modules, &idx);
		rs.quarantine = strv_copy(s.components);
		rs.extra_modules = strv_copy(s.extra_modules);
		rs.evidence = strv_copy(s.evidence);
		if (d.trigger == DECIDE_TRIGGER_REPEAT_CRASH) {
			/* the two boots before this one (failures >= 3 says both
			 * were counted failed) panicked at crash_site */
			if (asprintf(&rs.trigger_reason,
			             "boots %u and %u both crashed in %s; level 1 before threshold "
			             "%u (repeat_crash=yes)",
			             rec.boot_seq - 2, rec.boot_seq - 1, strempty(crash_site),
			             cfg.threshold) < 0)
				rs.trigger_reason = NULL;
			if (asprintf(&rs.reason, "repeat crash: %s; %s",
			             strempty(rs.trigger_reason), strempty(s.reason)) < 0)
				rs.reason = NULL;
			log_warning("boot %u: repeat crash: boots %u and %u both crashed in %s; "
			            "entering safe mode level 1 before threshold %u "
			            "(repeat_crash=yes); quarantine: %s (%s)",
			            rec.boot_seq, rec.boot_seq - 2, rec.boot_seq - 1,
			            strempty(crash_site), cfg.threshold,
			            strv_length(s.components) ? s.components[0]
			                                      : "to be chosen on the root",
			            strempty(s.reason));
		} else {
			rs.reason = s.reason ? strdup(s.reason) : NULL;
			log_warning("%u consecutive failed boots: entering safe mode, level %u; "
			            "quarantine: %s (%s)",
			            d.failures, d.new_level,
			            strv_length(s.components) ? s.components[0]
			                                      : "to be chosen on the root",
			            strempty(s.reason));
		}
		suspects_done(&s);
	} else if (d.action == DECIDE_GIVE_UP) {
		struct suspects s = {0};

		/* nothing is chosen, but the report and the history still
		 * say what the last crash was */
		if (suspects_pick(3, pstore_dst, &set, &s) >= 0)
			rs.evidence = strv_copy(s.evidence);
		suspects_done(&s);
		if (d.trigger == DECIDE_TRIGGER_MAX_LEVEL) {
			if (asprintf(&rs.reason,
			             "still failing at level %u, the highest max_level allows: "
			             "nothing more is changed",
			             rec.level) < 0)
				rs.reason = NULL;
			log_error(
			    "%u consecutive failed boots at level %u, the highest max_level=%u "
			    "allows: lifeline gives up changing this machine; an administrator "
			    "must look at it",
			    d.failures, rec.level, d.max_level);
		} else
			log_error(
			    "%u consecutive failed boots after every recovery level: lifeline "
			    "gives up changing this machine; an administrator must look at it",
			    d.failures);
	}

	/* The one variable write of this boot attempt. efi-pstore fills NVRAM
	 * in about ten crashes (docs/platform.md): when it is full, the
	 * crash records (saved in /run above) make room, and the write is
	 * tried once more. */
	r = store_save(store, &rec);
	if (r == -ENOSPC && plog && pstore_erase(plog) > 0) {
		log_notice("NVRAM full: erased the crash records kept in %s, writing the state "
		           "record again",
		           pstore_dst);
		r = store_save(store, &rec);
	}
	if (r < 0) {
		log_error_errno(r,
		                "Failed to write the state record%s: %m; this boot is not counted",
		                r == -ENOSPC ? " (NVRAM full)" : "");
		if (asprintf(&rs.error, "state record write failed (%s)", strerror(-r)) < 0)
			rs.error = NULL;
	}

	/* The record holds this boot now: the crash records in NVRAM may go
	 * (kept in /run, then on the root). After a failed write they stay,
	 * so the next boot still has them. */
	if (r >= 0 && plog)
		(void)pstore_erase(plog);

	rs.boot_seq = rec.boot_seq;
	rs.failures = rec.failures;
	rs.level = rec.level;
	rs.generation = rec.generation;
	rs.mode = strdup(state_mode_to_string(rec.mode));
	rs.action = strdup(decide_action_to_string(d.action));
	for (unsigned i = 0; i < rec.n_modules; i++)
		(void)strv_extend(&rs.blocked, rec.modules[i]);

	/* Enforce the module quarantine before udev loads anything. */
	for (unsigned i = 0; i < rec.n_modules; i++)
		(void)strv_extend(&modules, rec.modules[i]);
	r = boot_write_modprobe_conf(modprobe_run, modules);
	if (r < 0)
		log_error_errno(r, "Failed to write %s: %m", modprobe_run);
	r = boot_write_modprobe_conf(modprobe_initrd, modules);
	if (r < 0)
		log_debug_errno(r, "Failed to write %s: %m", modprobe_initrd);
	if (rec.n_modules > 0) {
		_cleanup_free_ char *l = strv_join(modules, " ");
		log_notice("modules blocked by quarantine: %s", strempty(l));
	}

	arm_boot_watchdog(o, &cfg, &rs);

write_state:
	if (!rs.action)
		rs.action = strdup("none");
	r = runstate_write(state_path, &rs);
	if (r < 0)
		log_error_errno(r, "Failed to write %s: %m", state_path);
	else {
		char line[32];
		int n = snprintf(line, sizeof(line), "%s\n", strempty(rs.mode));
		(void)write_file_atomic(mode_path, line, (size_t)n, 0644);
	}
	log_info("boot %u: %u consecutive failed (this one included until it has been up %u s), "
	         "mode %s, level %u",
	         rs.boot_seq, rs.failures, cfg.stable_after, strempty(rs.mode), rs.level);
	r = 0;
out:
	pstore_log_free(plog);
	strv_free(modules);
	store_free(store);
	module_index_done(&idx);
	components_done(&set);
	runstate_done(&rs);
	config_done(&cfg);
	return r;
}
