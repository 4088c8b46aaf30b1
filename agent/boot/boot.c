/* SPDX-License-Identifier: LGPL-2.1-or-later */
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
#include "agent/decision/blocked-modules.h"

#define MODPROBE_RUN    "/run/modprobe.d/lifeline.conf"
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

static char *run_path(const struct boot_opts *o, const char *rel)
{
	_cleanup_free_ char *dir = NULL;

	if (o->run_dir)
		return path_join(o->run_dir, rel);
	dir = path_under_root(o->root, RUNSTATE_DIR);
	return dir ? path_join(dir, rel) : NULL;
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

static void all_component_ids(const struct component_set *set, char ***ids)
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
	_cleanup_free_ char *keep = run_path(o, "record-bad.bin");
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
	                    *modprobe_initrd = NULL;
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
	int r;

	runstate_init(&rs);
	rs.image_enabled = boot_enabled_in_image(o->root);
	config_init_defaults(&cfg);
	r = config_load(config_root, &cfg);
	if (r < 0)
		log_warning("configuration has errors; using defaults for the bad keys");

	state_path = run_path(o, "state");
	mode_path = run_path(o, "mode");
	pstore_dst = run_path(o, "pstore");
	pstore_src = path_under_root(o->root, "/sys/fs/pstore");
	modprobe_run = path_under_root(o->root, MODPROBE_RUN);
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
	if (r < 0) {
		log_error_errno(r, "No state store (%s%s%m): this boot is not counted",
		                why ? why : "", why ? "; file store: " : "");
		rs.mode = strdup("uncounted");
		rs.error = strdup("no state store");
		goto write_state;
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
		rs.error = strdup("state record unreadable");
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

	{
		struct decide_params p = {
		    .threshold = cfg.threshold,
		    .escalate_after = cfg.escalate_after,
		    .count_clean_reboots = cfg.count_clean_reboots,
		};
		decide_boot(&rec, &p, &d);
	}

	if (d.action == DECIDE_ESCALATE) {
		_cleanup_strv_free_ char **block = NULL;
		struct suspects s = {0};

		load_components(config_root, &set, &set_ok);
		load_index(o, &idx, &idx_ok);
		r = suspects_pick(d.new_level, pstore_dst, &set, &s);
		if (r < 0)
			log_error_errno(r, "Failed to choose suspects: %m");
		if (d.new_level >= 2)
			all_component_ids(&set, &s.components);
		block = strv_copy(s.components);
		/* Level 1 with no panic-log suspect: the pick comes from the
		 * inventory diff on the real root, which this initramfs cannot
		 * see. The record's module list is what every following
		 * initramfs blocks, and this is its only write of the boot:
		 * block the modules of every component here, in the initramfs
		 * only (a security product rarely loads from the initramfs,
		 * and its modules load from the real root later). The rootfs
		 * phase narrows /run/modprobe.d, the real root's block list,
		 * to its picks, kept on the root, so it never writes the
		 * record again (one variable write per boot attempt). */
		if (s.need_inventory)
			all_component_ids(&set, &block);
		fill_modules(&rec, &set, block, s.extra_modules, &idx);
		rs.quarantine = strv_copy(s.components);
		rs.extra_modules = strv_copy(s.extra_modules);
		rs.reason = s.reason ? strdup(s.reason) : NULL;
		rs.evidence = strv_copy(s.evidence);
		log_warning("%u consecutive failed boots: entering safe mode, level %u; "
		            "quarantine: %s (%s)",
		            d.failures, d.new_level,
		            strv_length(s.components) ? s.components[0]
		                                      : "to be chosen on the root",
		            strempty(s.reason));
		suspects_done(&s);
	} else if (d.action == DECIDE_GIVE_UP) {
		struct suspects s = {0};

		/* nothing is chosen, but the report and the history still
		 * say what the last crash was */
		if (suspects_pick(3, pstore_dst, &set, &s) >= 0)
			rs.evidence = strv_copy(s.evidence);
		suspects_done(&s);
		log_error(
		    "%u consecutive failed boots after every recovery level: lifeline gives up "
		    "changing this machine; an administrator must look at it",
		    d.failures);
	}

	/* The one variable write of this boot attempt. efi-pstore fills NVRAM
	 * in about ten crashes (PLATFORM-NOTES.md): when it is full, the
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
		rs.error = strdup("state record write failed");
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

/* Save the crash texts collected in the initramfs on the root, so reports
 * and `lifelinectl history` still have them after /run is gone. */
static void save_crashes(const struct boot_opts *o, unsigned boot_seq)
{
	_cleanup_free_ char *src = run_path(o, "pstore"), *dst = NULL, *sub = NULL;
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;

	if (!src)
		return;
	d = opendir(src);
	if (!d)
		return;
	if (asprintf(&sub, LIFELINE_STATE_DIR "/crashes/boot-%u", boot_seq) < 0)
		return;
	dst = path_under_root(o->root, sub);
	if (!dst || mkdir_p(dst, 0700) < 0)
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *from = NULL, *to = NULL, *text = NULL;
		size_t size;

		if (de->d_name[0] == '.')
			continue;
		from = path_join(src, de->d_name);
		to = path_join(dst, de->d_name);
		if (!from || !to || read_full_file(from, 1024 * 1024, &text, &size) < 0)
			continue;
		if (write_file_atomic(to, text, size, 0600) < 0)
			log_warning("Failed to save crash record %s", to);
	}
}

static bool root_looks_mounted(const char *root)
{
	_cleanup_free_ char *etc = path_under_root(root, "/etc");
	struct stat st;

	return etc && lstat(etc, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool root_is_read_only(const char *root)
{
	struct statvfs sv;

	return statvfs(root, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

/* Whether an active component has no quarantine on disk yet: `lifelinectl
 * quarantine` only records it, its files move here at the next boot,
 * before any of its units start (not from under a running product, whose
 * self-protection may fight back). */
static bool quarantine_unapplied(const char *root, const struct quarantine_entry *active,
                                 unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (quarantine_exists(root, active[i].id, active[i].generation) == 0)
			return true;
	return false;
}

static char *kernel_release(const struct boot_opts *o)
{
	struct utsname u;

	if (o->kernel_release)
		return strdup(o->kernel_release);
	return uname(&u) >= 0 ? strdup(u.release) : NULL;
}

/* The component an active-list id stands for: from components.d, or the
 * level-3 pseudo component of out-of-tree module files. */
static int active_component(const struct boot_opts *o, const struct component_set *set,
                            const char *id, struct component *tmp, const struct component **ret)
{
	const struct component *c = components_find(set, id);

	memset(tmp, 0, sizeof(*tmp));
	if (!c && streq(id, SUSPECTS_OOT_ID)) {
		_cleanup_free_ char *kver = kernel_release(o);
		int r = suspects_oot_component(kver, tmp);

		if (r < 0)
			return r;
		c = tmp;
	}
	*ret = c;
	return 0;
}

/* Moves the files of every active component whose quarantine is not on
 * disk yet; what happened goes into *lines (for the history). */
static void quarantine_apply_active(const struct boot_opts *o, const struct component_set *set,
                                    const struct quarantine_entry *active, unsigned n,
                                    char ***lines)
{
	for (unsigned i = 0; i < n; i++) {
		const struct component *c = NULL;
		struct component none = {0}, tmp;
		struct quarantine_result res = {0};
		int k;

		if (quarantine_exists(o->root, active[i].id, active[i].generation) != 0)
			continue;
		k = active_component(o, set, active[i].id, &tmp, &c);
		if (k >= 0 && !c) {
			/* an empty quarantine is recorded, so later boots do
			 * not look for its files again */
			log_warning(
			    "quarantined component %s is not in components.d: no files to move",
			    active[i].id);
			none.id = strdup(active[i].id);
			c = &none;
			k = none.id ? 0 : -ENOMEM;
		}
		if (k >= 0)
			k = quarantine_apply(o->root, c, active[i].generation, &res);
		if (k < 0) {
			log_error_errno(k, "Failed to quarantine the files of %s: %m",
			                active[i].id);
			(void)strv_extend(lines, "files of a component could not be quarantined");
		}
		free(none.id);
		component_done(&tmp);
		STRV_FOREACH (l, res.lines) {
			log_full_errno(res.errors > 0 ? LOG_LVL_WARNING : LOG_LVL_NOTICE, 0, "%s",
			               *l);
			(void)strv_extend(lines, *l);
		}
		quarantine_result_done(&res);
	}
}

/* Level 1 with no panic-log suspect (DESIGN.md): the components whose
 * files differ from the last good inventory, most recently changed first.
 * A changed content file is rolled back to its cached last-good copy; a
 * component whose only changes were rolled back is whole again and is not
 * quarantined. The chosen ids go into rs->quarantine and from there into
 * the active list on the root; their modules reach /run/modprobe.d
 * through it before the real root's udev runs. The state record is not
 * written again: the init phase already blocked every component's modules
 * for the initramfs (boot_phase_init()). */
static void pick_by_inventory(const struct boot_opts *o, const struct component_set *set,
                              struct runstate *rs, char ***files)
{
	_cleanup_inventory_free_ struct inventory *lg = NULL, *now = NULL;
	_cleanup_inventory_diff_free_ struct inventory_diff *d = NULL;
	_cleanup_strv_free_ char **ids = NULL, **lines = NULL;
	int r;

	r = inventory_load(o->root, &lg);
	if (r < 0) {
		log_warning(
		    "no panic log and no last-good inventory (%s): nothing to pick at level 1",
		    r == -ENOENT ? "never blessed" : strerror(-r));
		return;
	}
	if (inventory_take(o->root, set, lg, &now) < 0 || inventory_diff(lg, now, &d) < 0 ||
	    inventory_diff_suspects(d, &ids) < 0)
		return;
	(void)inventory_diff_lines(d, 20, &lines);
	STRV_FOREACH (l, lines)
		(void)strv_extend(&rs->evidence, *l);

	STRV_FOREACH (id, ids) {
		const struct component *c = components_find(set, *id);
		const struct inventory_component_diff *cd = inventory_diff_find(d, *id);
		struct rollback_result rr = {0};

		if (!c)
			continue;
		(void)content_cache_rollback(o->root, c, lg, now, &rr);
		if (rr.restored + rr.already > 0) {
			_cleanup_free_ char *l = NULL;

			log_notice("%s: %u content file(s) rolled back to their last-good copy",
			           *id, rr.restored + rr.already);
			if (asprintf(&l,
			             "%s: %u content file(s) rolled back to their last-good copy",
			             *id, rr.restored + rr.already) >= 0)
				(void)strv_extend(files, l);
		}
		if (rr.uncovered == 0 && rr.errors == 0 && cd && cd->n_non_content == 0) {
			rollback_result_done(&rr);
			continue;
		}
		rollback_result_done(&rr);
		(void)strv_extend(&rs->quarantine, *id);
	}
	free(rs->reason);
	rs->reason = NULL;
	{
		_cleanup_free_ char *q = strv_join(rs->quarantine, " "),
		                    *changed = strv_join(ids, " ");

		if (asprintf(
		        &rs->reason,
		        "no panic log named a component; changed since the last good boot: %s; "
		        "quarantined: %s",
		        changed && *changed ? changed : "nothing",
		        q && *q ? q : "nothing (changed content rolled back)") < 0)
			rs->reason = NULL;
	}
}

/* Level 3 on the root: the out-of-tree module files join the quarantine
 * as SUSPECTS_OOT_ID, and their names join the module list. */
static void pick_out_of_tree(const struct boot_opts *o, struct runstate *rs)
{
	_cleanup_strv_free_ char **files = NULL;
	_cleanup_free_ char *kver = kernel_release(o);
	struct component c;

	if (suspects_oot_component(kver, &c) < 0)
		return;
	if (component_expand_files(&c, o->root, false, &files) >= 0)
		(void)suspects_module_names_from_files(files, &rs->extra_modules);
	component_done(&c);
	if (!strv_contains(rs->quarantine, SUSPECTS_OOT_ID))
		(void)strv_extend(&rs->quarantine, SUSPECTS_OOT_ID);
}

/* The real root's module blocks (blocked-modules.h): the modules of every
 * active component, patterns resolved against the real root's module
 * index, plus the durable level-3 list. */
static char **root_blocked_modules(const struct boot_opts *o, const struct component_set *set,
                                   const struct quarantine_entry *active, unsigned n, char **extra)
{
	struct module_index idx = {0};
	char **l = NULL;

	if (module_index_load(o->root, o->kernel_release, &idx) < 0)
		log_warning("Failed to read the kernel's module index under %s", o->root);
	if (blocked_modules(set, active, n, extra, &idx, &l) < 0)
		log_error("Out of memory computing the blocked modules");
	module_index_done(&idx);
	return l;
}

/* Whether this boot must finish the decision of an earlier escalating
 * boot whose rootfs phase never made it durable: a power cut after the
 * init phase wrote the state record, a read-only root, a crash in
 * between. The decision travels to the rootfs phase only through /run;
 * what survives is the record (level, generation, the modules it blocks)
 * and the root's "decided" generation below the record's, with no active
 * entry of that generation (which would mean the lists are written and
 * only "decided" is missing). Safe mode only: after give-up nothing more
 * is changed, and a cleared record is at level 0. */
static bool decision_lost(const struct runstate *rs, const struct quarantine_entry *active,
                          unsigned n_active, bool lists_ok, const char *root)
{
	unsigned decided = 0;

	if (!lists_ok || rs->level < 1 || rs->generation == 0 || !streq_ptr(rs->mode, "safe") ||
	    streq_ptr(rs->action, "escalate") || streq_ptr(rs->action, "give-up"))
		return false;
	if (quarantine_decided_read(root, &decided) < 0 || decided >= rs->generation)
		return false;
	for (unsigned i = 0; i < n_active; i++)
		if (active[i].generation == rs->generation)
			return false;
	return true;
}

/* The lost decision again, from what the record kept: the components
 * whose modules it blocks (level 1 with a panic-log suspect), every
 * component (level 2 and up), and at level 3 the out-of-tree pseudo
 * component and the modules no component owns. Level 1 whose record
 * blocks every component's modules (more than one component) or none
 * was the inventory pick (boot_phase_init()): it is made again here, as
 * the escalating boot would have. */
static void rebuild_decision(const struct boot_opts *o, const struct component_set *set,
                             struct runstate *rs, char ***files)
{
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_free_ char *why = NULL;
	unsigned with_modules = 0;

	strv_free(rs->quarantine);
	rs->quarantine = NULL;
	STRV_FOREACH (m, rs->blocked) {
		const struct component *c = components_find_module(set, *m);

		if (c && !strv_contains(ids, c->id))
			(void)strv_extend(&ids, c->id);
		else if (!c && rs->level >= 3 && !strv_contains(rs->extra_modules, *m))
			(void)strv_extend(&rs->extra_modules, *m);
	}
	for (size_t i = 0; i < set->n; i++)
		STRV_FOREACH (m, set->items[i].modules)
			if (!strpbrk(*m, "*?[")) {
				with_modules++;
				break;
			}

	if (rs->level >= 2)
		all_component_ids(set, &rs->quarantine);
	else if (strv_length(ids) == 0 || (with_modules > 1 && strv_length(ids) == with_modules))
		pick_by_inventory(o, set, rs, files);
	else
		rs->quarantine = TAKE_PTR(ids);
	if (rs->level >= 3)
		pick_out_of_tree(o, rs);

	if (asprintf(
	        &why,
	        "the level-%u decision of an earlier boot (generation %u) never reached the root "
	        "(power cut, read-only root or crash before its rootfs phase): finished now%s%s",
	        rs->level, rs->generation, rs->reason ? "; " : "", strempty(rs->reason)) >= 0) {
		free(rs->reason);
		rs->reason = TAKE_PTR(why);
	}
}

static void record_history(const struct boot_opts *o, const struct runstate *rs, const char *action,
                           const char *reason, char **modules, char **files)
{
	_cleanup_free_ char *who = strdup(HISTORY_WHO_BOOT), *act = strdup(action),
	                    *why = reason ? strdup(reason) : NULL;
	struct history_entry e = {
	    .boot_seq = rs->boot_seq,
	    .level = rs->level,
	    .who = who,
	    .action = act,
	    .mode = rs->mode,
	    .reason = why,
	    .evidence = rs->evidence,
	    .components = streq(action, "escalate") || streq(action, "recover-decision")
	                      ? rs->quarantine
	                      : NULL,
	    .modules = modules,
	    .files = files,
	};
	int r = who && act ? history_append(o->root, &e) : -ENOMEM;

	if (r < 0)
		log_error_errno(r, "Failed to record the decision in %s: %m", HISTORY_FILE);
}

/* The crash-loop guard (README): the decision goes into the report spool
 * on the root before any file moves, so the fleet hears of a quarantine
 * first thing once the network is up, even if what it quarantines was
 * what reported. Best effort: a report that cannot be spooled never stops
 * the quarantine (the boot loop would go on). */
static void spool_decision_report(const struct boot_opts *o, const struct runstate *rs)
{
	struct lifeline_config cfg;
	int r;

	config_init_defaults(&cfg);
	r = config_load(o->config_root ? o->config_root : o->root, &cfg);
	if (r < 0)
		log_warning("configuration has errors; using defaults for the bad keys");
	r = report_spool_decision(o->root, &cfg, rs, NULL);
	if (r < 0)
		log_error_errno(r, "Failed to spool the report of this decision: %m; "
		                   "it is reported once the agent runs");
	config_done(&cfg);
}

/* The init phase replaced a damaged or inconsistent record: keep its bytes
 * on the root, leave the marker `lifelinectl status` reads, say so in the
 * history and tell the fleet (RECORD_REPLACED_FILE in runstate.h). */
static void keep_replaced_record(const struct boot_opts *o, const struct runstate *rs)
{
	_cleanup_free_ char *src = run_path(o, "record-bad.bin"), *rel = NULL, *dst = NULL,
	                    *marker = path_under_root(o->root, RECORD_REPLACED_FILE), *raw = NULL,
	                    *text = NULL, *why = NULL;
	struct runstate copy = *rs;
	size_t size = 0;
	int n, r;

	if (!src || !marker || asprintf(&rel, RECORD_BAD_FILE_FMT, rs->boot_seq) < 0 ||
	    !(dst = path_under_root(o->root, rel)))
		return;
	{
		_cleanup_free_ char *dir = strdup(dst);

		if (dir) {
			*strrchr(dir, '/') = 0;
			(void)mkdir_p(dir, 0755);
		}
	}
	if (read_full_file(src, 64 * 1024, &raw, &size) >= 0 &&
	    (r = write_file_atomic(dst, raw, size, 0600)) < 0)
		log_warning_errno(r, "Failed to keep the replaced record in %s: %m", dst);
	n = asprintf(&text, "boot_seq=%u\ntime=%lld\nreason=%s\nbytes=%s\n", rs->boot_seq,
	             (long long)time(NULL), rs->record_replaced, raw ? rel : "");
	if (n < 0 || (r = write_file_atomic(marker, text, (size_t)n, 0644)) < 0)
		log_error("Failed to write %s", marker);
	if (asprintf(&why,
	             "state record damaged or inconsistent (%s): replaced by a fresh record "
	             "counting from boot %u; its bytes kept in %s",
	             rs->record_replaced, rs->boot_seq, raw ? rel : "(unreadable)") < 0)
		return;
	record_history(o, rs, "record-replaced", why, NULL, NULL);
	/* the fleet hears of it: protection was off for this machine until now */
	copy.action = (char *)"record-replaced";
	copy.error = why;
	spool_decision_report(o, &copy);
}

static int rootfs_phase(const struct boot_opts *o)
{
	_cleanup_free_ char *state_path = run_path(o, "state"),
	                    *modprobe = run_path(o, "../modprobe.d/lifeline.conf"),
	                    *active_path = run_path(o, "active");
	_cleanup_free_ struct quarantine_entry *active = NULL;
	_cleanup_strv_free_ char **extra = NULL, **blocked = NULL, **files = NULL;
	struct component_set set = {0};
	struct runstate rs;
	unsigned n_active = 0, n_new = 0;
	bool remounted = false, escalate, give_up, lists_ok = true, durable_ok = true, mark_decided;
	bool lost, decide; /* an earlier boot's decision to finish; a decision to make durable */
	unsigned decided = 0;
	int r, pending, recovered = 0;

	if (!state_path || !modprobe)
		return log_error_errno(ENOMEM, "Out of memory");
	r = runstate_read(state_path, &rs);
	if (r < 0) {
		if (r != -ENOENT)
			log_error_errno(r, "Failed to read %s: %m", state_path);
		return 0;
	}
	escalate = streq_ptr(rs.action, "escalate");
	give_up = streq_ptr(rs.action, "give-up");
	r = quarantine_active_read(o->root, &active, &n_active);
	if (r < 0) {
		log_warning_errno(r, "Failed to read the active quarantine list: %m");
		lists_ok = false;
	}
	r = quarantine_modules_read(o->root, &extra);
	if (r < 0) {
		log_warning_errno(r, "Failed to read %s: %m", QUARANTINE_MODULES_FILE);
		lists_ok = false;
	}
	if (!root_looks_mounted(o->root)) {
		/* Never create a tree where the root should be: the modules
		 * stay blocked (init phase), the files wait for a later boot. */
		if (escalate || n_active > 0)
			log_error("real root not mounted at %s: quarantine recorded in the state "
			          "record only",
			          o->root);
		runstate_done(&rs);
		return 0;
	}
	/* A quarantine a power cut interrupted is finished at any boot. */
	pending = quarantine_needs_recovery(o->root);
	lost = decision_lost(&rs, active, n_active, lists_ok, o->root);
	decide = escalate || lost;
	if (!decide && !give_up && pending <= 0 && n_active == 0 && !extra && !rs.record_replaced &&
	    access(modprobe, F_OK) < 0) {
		runstate_done(&rs); /* a normal boot: nothing to do */
		return 0;
	}
	r = components_load(o->config_root ? o->config_root : o->root, &set, NULL);
	if (r < 0) {
		log_error_errno(r, "Failed to load components: %m");
		lists_ok = false;
	}
	if (!decide && !give_up && pending <= 0 && !rs.record_replaced &&
	    !quarantine_unapplied(o->root, active, n_active))
		goto modprobe; /* nothing to change on the root */
	if (lost && !lists_ok)
		lost = decide = false; /* components.d unreadable: wait for a boot that reads it */

	if (o->remount && root_is_read_only(o->root)) {
		/* initramfs-tools mounts the root read-only; the changes are
		 * made here, before systemd and any third-party unit start,
		 * then the root goes back to read-only so systemd-fsck-root
		 * and the rest of the boot see what they expect. */
		if (mount(NULL, o->root, NULL, MS_REMOUNT, NULL) < 0)
			log_error_errno(errno,
			                "Failed to remount %s read-write: %m; "
			                "modules stay blocked, files are not moved",
			                o->root);
		else
			remounted = true;
	}
	if (pending > 0) {
		recovered = quarantine_recover(o->root);
		if (recovered < 0)
			log_error_errno(
			    recovered, "Failed to finish an interrupted quarantine or restore: %m");
		else if (recovered > 0)
			log_notice("finished %d quarantine job(s) a power cut interrupted",
			           recovered);
	}

	if (rs.record_replaced)
		keep_replaced_record(o, &rs);
	if (lost) {
		log_warning(
		    "safe mode level %u: the quarantine of generation %u was decided at an earlier "
		    "boot and never recorded on the root; finishing it now",
		    rs.level, rs.generation);
		rebuild_decision(o, &set, &rs, &files);
	}
	if (escalate && rs.level == 1 && strv_length(rs.quarantine) == 0)
		pick_by_inventory(o, &set, &rs, &files);
	if (escalate && rs.level >= 3)
		pick_out_of_tree(o, &rs);
	if (escalate) {
		r = runstate_write(state_path, &rs);
		if (r < 0)
			log_error_errno(r, "Failed to update %s: %m", state_path);
	}

	/* The module list first, the active list second, "decided" last: a
	 * cut leaves a prefix of these, and the next boot can tell which
	 * (an active entry of this generation means the module list is
	 * written too). */
	if (decide && rs.extra_modules) {
		size_t before = strv_length(extra);

		STRV_FOREACH (m, rs.extra_modules)
			if (module_name_is_valid(*m, false) && !strv_contains(extra, *m))
				(void)strv_extend(&extra, *m);
		if (strv_length(extra) > before &&
		    (r = quarantine_modules_write(o->root, extra)) < 0) {
			log_error_errno(r, "Failed to record the blocked modules in %s: %m",
			                QUARANTINE_MODULES_FILE);
			durable_ok = false;
		}
	}
	STRV_FOREACH (id, decide && durable_ok ? rs.quarantine : NULL) {
		r = quarantine_active_add(&active, &n_active, *id, rs.generation, rs.level);
		if (r == -ENOMEM)
			break;
		if (r > 0)
			n_new++;
	}
	if (n_new > 0) {
		r = quarantine_active_write(o->root, active, n_active);
		if (r < 0) {
			log_error_errno(r, "Failed to record the quarantine in %s: %m",
			                QUARANTINE_ACTIVE_FILE);
			durable_ok = false;
		}
	}
	/* last: from now on the lists above are this decision's whole truth;
	 * a later boot finishes what a cut here left undone */
	mark_decided = decide && durable_ok;
	if (!decide && lists_ok && quarantine_decided_read(o->root, &decided) >= 0 &&
	    decided < rs.generation)
		for (unsigned i = 0; i < n_active; i++)
			if (active[i].generation == rs.generation)
				mark_decided = true;
	if (mark_decided && (r = quarantine_decided_write(o->root, rs.generation)) < 0)
		log_error_errno(r, "Failed to write %s: %m", QUARANTINE_DECIDED_FILE);
	if (decide)
		spool_decision_report(o, &rs);
	/* after the active list is durable: a cut before the files move
	 * leaves them for the next boot (quarantine_unapplied()) */
	quarantine_apply_active(o, &set, active, n_active, &files);
	if (decide || give_up)
		save_crashes(o, rs.boot_seq);

	blocked = root_blocked_modules(o, &set, active, n_active, extra);
	if (escalate)
		record_history(o, &rs, "escalate", rs.reason, blocked, files);
	else if (lost)
		record_history(o, &rs, "recover-decision", rs.reason, blocked, files);
	else if (give_up)
		record_history(o, &rs, "give-up",
		               "still failing after every recovery level: nothing more is changed",
		               NULL, NULL);
	else if (recovered > 0)
		record_history(o, &rs, "recover",
		               "finished a quarantine or restore a power cut interrupted", NULL,
		               files);
	else if (files)
		record_history(o, &rs, "apply",
		               "moved the files of a quarantine decided before this boot "
		               "(lifelinectl quarantine or a signed command)",
		               blocked, files);
	sync();

	if (remounted && mount(NULL, o->root, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		log_warning_errno(errno, "Failed to remount %s read-only again: %m", o->root);

modprobe:
	/* /run/modprobe.d, the real root's block list (/run moves into the
	 * real root), from the durable lists on the root: the init phase
	 * wrote it from the state record, which at level 1 without a panic
	 * log holds every component's modules (boot_phase_init()). Only from
	 * lists that read well: a damaged list never lifts a block, and
	 * neither does one a power cut left incomplete. */
	if (lists_ok) {
		if (!blocked)
			blocked = root_blocked_modules(o, &set, active, n_active, extra);
		/* A decision whose lists a power cut kept off the root: the
		 * record's blocks stay until a rootfs phase makes it durable. */
		if (quarantine_decided_read(o->root, &decided) < 0 || decided < rs.generation)
			STRV_FOREACH (m, rs.blocked)
				if (!strv_contains(blocked, *m))
					(void)strv_extend(&blocked, *m);
		r = boot_write_modprobe_conf(modprobe, blocked);
		if (r < 0)
			log_error_errno(r, "Failed to write the module quarantine into %s: %m",
			                modprobe);
		/* the generator's copy: it does not see a separate /var */
		r = active_path ? quarantine_active_write_path(active_path, active, n_active)
		                : -ENOMEM;
		if (r < 0)
			log_error_errno(r,
			                "Failed to leave the active quarantine list in /run: %m");
	}
	components_done(&set);
	runstate_done(&rs);
	return 0;
}

int boot_phase_rootfs(const struct boot_opts *o)
{
	int mounted = 0, r;

	/* a separate /var holds the quarantine, history and spool (var-mount.h) */
	if (o->real_system && root_looks_mounted(o->root))
		mounted = boot_var_mount(o->root);
	r = rootfs_phase(o);
	if (mounted > 0)
		boot_var_unmount(o->root);
	return r;
}
