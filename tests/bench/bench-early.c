/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The early-boot program: what it costs and how many EFI variable writes a
 * boot makes.
 *
 * 1. Time. `lifeline-early --phase=init --test` (the real program, fork +
 *    exec, as the initramfs runs it) against `/bin/true` in the same loop,
 *    on a fake root with a components.d and a fake efivarfs directory
 *    (EFIVARFS_PATH). Before every run the variable is put back as it was
 *    after the first boot, so each timed run is the same "boot 2": read the
 *    record, count the boot, write it once. Also `lifeline-early --help`
 *    (start-up alone: the dynamic loader and the libraries' constructors)
 *    and boot_phase_init() in-process (the work without the process).
 *
 * 2. Writes. The variable file in the EFIVARFS_PATH directory is watched
 *    with inotify: one write = a close after modification (IN_MODIFY then
 *    IN_CLOSE_WRITE: libefivar writes attributes + data in one write()) or
 *    a rename onto it (IN_MOVED_TO). Counted per phase over
 *      - 10 boots of a crash loop (a panic log naming the culprit before
 *        every boot after the first; init and rootfs phases): every boot
 *        attempt, and the decision boots (escalation, give-up) among them;
 *      - a blessed boot: init phase, then `lifelinectl bless`;
 *      - a crash loop without any panic log, where level 1 is chosen from
 *        the inventory diff since the last good boot (the rootfs phase
 *        decides there).
 *
 *   bench-early [--runs N] [--keep]      (N: timed runs of each, default 200)
 *
 * The programs come from $LIFELINE_BUILD (default "build"). libefivar reads
 * EFIVARFS_PATH in a constructor, before main: the program sets it and
 * executes itself again (the in-process runs need it too).
 */
#include <getopt.h>
#include <stdbool.h>
#include <sys/inotify.h>

#include "agent/boot/boot.h"
#include "agent/conf/components.h"
#include "agent/inventory/inventory.h"
#include "agent/decision/runstate.h"
#include "common/log.h"
#include "efi/store.h"
#include "tests/bench/bench.h"

#define VAR_FILE LIFELINE_VAR_NAME "-" LIFELINE_GUID_STR
#define MAX_RUNS 2000

static char dir[4096], efivars[4200], var_path[4300];
static char early[4096], ctl[4096];

static const char OOPS[] =
    "Oops#1 Part1\n"
    "<1>[    9.120000] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
    "<4>[    9.120100] Modules linked in: badsec(OE+) efi_pstore i6300esb\n"
    "<4>[    9.120200] CPU: 0 PID: 312 Comm: modprobe Tainted: G           OE      "
    "6.1.0-27-amd64 #1  Debian 6.1.115-1\n"
    "<4>[    9.120300] RIP: 0010:badsec_crash+0x5/0x10 [badsec]\n"
    "<4>[    9.120400] Call Trace:\n"
    "<4>[    9.120500]  <TASK>\n"
    "<4>[    9.120600]  badsec_init+0x9d/0x1000 [badsec]\n"
    "<4>[    9.120700]  do_one_initcall+0x56/0x220\n"
    "<4>[    9.120800]  </TASK>\n"
    "<0>[    9.130000] Kernel panic - not syncing: Fatal exception\n";

static int put_rel(const char *root, const char *rel, const char *text)
{
	char p[8400];

	snprintf(p, sizeof(p), "%s%s", root, rel);
	return bench_put_text(p, text);
}

/* A fake root: the configuration (threshold 3, escalate_after 2: level 1
 * at the 4th failed boot, 2 at the 6th, 3 at the 8th, give-up at the
 * 10th; repeat_crash off, as the same panic is left in pstore every boot),
 * three components and a few of their files. */
static int make_root(const char *root)
{
	static const char *const files[][2] = {
	    {"/etc/lifeline/lifeline.conf",
	     "[boot]\nthreshold = 3\nescalate_after = 2\nrepeat_crash = no\nstore = efi\n"},
	    {"/etc/lifeline/components.d/badsec.conf",
	     "[badsec]\nvendor = BadSec Security\nmodules = badsec\nunits = badsec.service\n"
	     "files = /opt/badsec/bin/*\ncontent = /opt/badsec/content/*.bin\n"},
	    {"/etc/lifeline/components.d/othersec.conf",
	     "[othersec]\nvendor = Other\nmodules = othersec othersec_net\n"
	     "units = othersec.service\nfiles = /opt/othersec/bin/*\n"},
	    {"/etc/lifeline/components.d/examplesec.conf",
	     "[examplesec]\nvendor = Example Security\nmodules = examplesec examplesec_net\n"
	     "units = examplesec.service\nfiles = /opt/examplesec/bin/*\n"
	     "content = /opt/examplesec/content/*.bin\n"},
	    {"/opt/badsec/bin/badsecd", "#!/bin/sh\n"},
	    {"/opt/badsec/content/channel-291.bin", "GOOD\n"},
	    {"/opt/othersec/bin/otherd", "v1\n"},
	    {"/opt/examplesec/bin/exd", "#!/bin/sh\n"},
	    {"/opt/examplesec/content/c-1.bin", "content\n"},
	};
	int r;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if ((r = put_rel(root, files[i][0], files[i][1])) < 0)
			return r;
	return 0;
}

static int read_var(char *buf, size_t size, size_t *ret_len)
{
	int fd = open(var_path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size);
	close(fd);
	if (n <= 0)
		return -EIO;
	*ret_len = (size_t)n;
	return 0;
}

/* Put the variable back (the file is not immutable here: a plain dir). */
static void restore_var(const char *data, size_t len)
{
	int fd = open(var_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd >= 0) {
		if (write(fd, data, len) != (ssize_t)len)
			fprintf(stderr, "bench-early: could not restore the variable\n");
		close(fd);
	}
}

/* ------------------------------------------------------------- timing */

struct timing {
	double wall, cpu;
};

static void run_init_phase(const char *root)
{
	char arg_root[4400];
	char *argv[] = {early, "--phase=init", "--test", "--stderr", arg_root, NULL};

	snprintf(arg_root, sizeof(arg_root), "--root=%s", root);
	(void)bench_spawn(argv, 0, NULL, NULL);
}

/* x <= limit as printed (two decimals): "x2.00" is not "NOT met". */
static bool at_most(double x, double limit)
{
	return (double)(long long)(x * 100 + 0.5) <= limit * 100;
}

static void time_early(int runs)
{
	static double t_true[MAX_RUNS], c_true[MAX_RUNS], t_help[MAX_RUNS], c_help[MAX_RUNS],
	    t_init[MAX_RUNS], c_init[MAX_RUNS], t_proc[MAX_RUNS];
	char root[4200], arg_root[4300], seed[4096];
	char *true_argv[] = {(char *)"/bin/true", NULL};
	char *help_argv[] = {early, (char *)"--help", NULL};
	char *init_argv[] = {
	    early, (char *)"--phase=init", (char *)"--test", (char *)"--stderr", arg_root, NULL};
	struct boot_opts o = {0};
	size_t seed_len = 0;
	int bad = 0;

	snprintf(root, sizeof(root), "%s/time-root", dir);
	snprintf(arg_root, sizeof(arg_root), "--root=%s", root);
	if (make_root(root) < 0) {
		printf("could not build the fake root in %s\n", root);
		return;
	}
	unlink(var_path);
	run_init_phase(root); /* boot 1 creates the record */
	if (read_var(seed, sizeof(seed), &seed_len) < 0) {
		printf("lifeline-early wrote no variable in %s: timing skipped\n", efivars);
		bench_row("early --phase=init (fork+exec)", "failed", "-", "-", "<= 2x /bin/true",
		          "-");
		return;
	}

	/* Warm-up (page cache, the loader's cache). */
	for (int i = 0; i < 10; i++) {
		restore_var(seed, seed_len);
		(void)bench_spawn(init_argv, 0, NULL, NULL);
		(void)bench_spawn(true_argv, 0, NULL, NULL);
	}
	/* Interleaved, the order alternating, so that a burst of load from
	 * elsewhere hits all three alike. */
	for (int i = 0; i < runs; i++) {
		for (int k = 0; k < 3; k++) {
			int which = (k + i) % 3;

			if (which == 0)
				bad |= bench_spawn(true_argv, 0, &t_true[i], &c_true[i]) != 0;
			else if (which == 1)
				(void)bench_spawn(help_argv, 0, &t_help[i], &c_help[i]);
			else {
				restore_var(seed, seed_len);
				bad |= bench_spawn(init_argv, 0, &t_init[i], &c_init[i]) != 0;
			}
		}
	}

	/* In-process: the same boot, without the process. */
	log_set_max_level(LOG_LVL_WARNING);
	o.root = root;
	for (int i = 0; i < runs; i++) {
		double t0;

		restore_var(seed, seed_len);
		t0 = bench_now_ms();
		(void)boot_phase_init(&o);
		t_proc[i] = bench_now_ms() - t0;
	}
	log_set_max_level(LOG_LVL_INFO);

	{
		double mt = bench_median(t_true, runs), mh = bench_median(t_help, runs),
		       mi = bench_median(t_init, runs), mp = bench_median(t_proc, runs);
		double ct = bench_median(c_true, runs), ch = bench_median(c_help, runs),
		       ci = bench_median(c_init, runs);

		printf("fork+exec+wait, %d runs each, interleaved; ms (child CPU = user+sys from "
		       "wait4)\n\n",
		       runs);
		printf("  %-40s %9s %9s %9s %11s\n", "", "median", "p10", "p90", "child CPU");
		printf("  %-40s %9.3f %9.3f %9.3f %11.3f\n", "/bin/true", mt,
		       bench_percentile(t_true, runs, 10), bench_percentile(t_true, runs, 90), ct);
		printf("  %-40s %9.3f %9.3f %9.3f %11.3f\n",
		       "lifeline-early --help (start-up only)", mh,
		       bench_percentile(t_help, runs, 10), bench_percentile(t_help, runs, 90), ch);
		printf("  %-40s %9.3f %9.3f %9.3f %11.3f\n", "lifeline-early --phase=init --test",
		       mi, bench_percentile(t_init, runs, 10), bench_percentile(t_init, runs, 90),
		       ci);
		printf("  %-40s %9.3f %9.3f %9.3f %11s\n", "boot_phase_init() in-process", mp,
		       bench_percentile(t_proc, runs, 10), bench_percentile(t_proc, runs, 90), "-");
		printf(
		    "\n  --phase=init / /bin/true: x%.2f wall, x%.2f child CPU (goal <= x2: %s)\n",
		    mi / mt, ci / ct, at_most(mi / mt, 2) ? "met" : "NOT met");
		printf("  start-up alone (--help) / /bin/true: x%.2f; the phase's own work, "
		       "in-process: %.3f ms\n",
		       mh / mt, mp);
		if (bad)
			printf("  (some runs exited non-zero)\n");

		bench_row(bench_fmt("early --phase=init, fork+exec (N=%d)", runs),
		          bench_fmt("%.2f ms", mi), bench_fmt("/bin/true %.2f ms", mt),
		          bench_fmt("x%.2f", mi / mt), "<= x2",
		          at_most(mi / mt, 2) ? "met" : "NOT met");
		bench_row("early --phase=init, child CPU time", bench_fmt("%.2f ms", ci),
		          bench_fmt("/bin/true %.2f ms", ct), bench_fmt("x%.2f", ci / ct), "<= x2",
		          at_most(ci / ct, 2) ? "met" : "NOT met");
		bench_row("early start-up only (--help)", bench_fmt("%.2f ms", mh),
		          bench_fmt("/bin/true %.2f ms", mt), bench_fmt("x%.2f", mh / mt), "-",
		          "info");
		bench_row("early boot_phase_init() in-process", bench_fmt("%.2f ms", mp),
		          bench_fmt("/bin/true %.2f ms", mt), bench_fmt("x%.2f", mp / mt), "-",
		          "info");
	}
}

/* ------------------------------------------------------------- writes */

struct watch {
	int fd;
	bool dirty; /* modified since the last close */
	unsigned writes, deletes;
};

static void watch_drain(struct watch *w)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));

		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			if (e->len > 0 && strcmp(e->name, VAR_FILE) == 0) {
				if (e->mask & IN_MODIFY)
					w->dirty = true;
				if ((e->mask & IN_CLOSE_WRITE) && w->dirty) {
					w->writes++;
					w->dirty = false;
				}
				if (e->mask & IN_MOVED_TO)
					w->writes++;
				if (e->mask & IN_DELETE)
					w->deletes++;
			}
			p += sizeof(*e) + e->len;
		}
	}
}

/* Writes since the last call (the events are queued by the time the
 * child has been reaped). */
static unsigned watch_take(struct watch *w)
{
	unsigned n;

	watch_drain(w);
	n = w->writes;
	w->writes = 0;
	return n;
}

static void phase(const char *root, const char *which)
{
	char arg_root[4400], arg_run[4400], arg_phase[64];
	char *argv[] = {early,   arg_phase, (char *)"--test", (char *)"--stderr", arg_root,
	                arg_run, NULL};

	snprintf(arg_phase, sizeof(arg_phase), "--phase=%s", which);
	snprintf(arg_root, sizeof(arg_root), "--root=%s", root);
	snprintf(arg_run, sizeof(arg_run), "--run-dir=%s/run/lifeline", root);
	if (strcmp(which, "init") == 0)
		argv[5] = NULL; /* init: ROOT/run/lifeline by default, as in the initramfs */
	(void)bench_spawn(argv, 0, NULL, NULL);
}

static void read_runstate(const char *root, struct runstate *rs)
{
	char p[4300];

	snprintf(p, sizeof(p), "%s" RUNSTATE_FILE, root);
	runstate_init(rs);
	(void)runstate_read(p, rs);
}

struct boot_writes {
	unsigned init, rootfs;
	bool decision;
};

/* One boot: init phase, rootfs phase; the writes of each. */
static struct boot_writes boot(struct watch *w, const char *root, bool print, unsigned n)
{
	struct boot_writes b = {0};
	struct runstate rs;

	(void)watch_take(w);
	phase(root, "init");
	b.init = watch_take(w);
	phase(root, "rootfs");
	b.rootfs = watch_take(w);
	read_runstate(root, &rs);
	b.decision = rs.action && strcmp(rs.action, "none") != 0;
	if (print)
		printf("  %4u %8u %5u %-9s %-9s %6u %7u\n", n, rs.failures, rs.level,
		       rs.mode ? rs.mode : "?", rs.action ? rs.action : "?", b.init, b.rootfs);
	runstate_done(&rs);
	return b;
}

static void print_boot_header(void)
{
	printf("  %4s %8s %5s %-9s %-9s %6s %7s\n", "boot", "failures", "level", "mode", "action",
	       "init", "rootfs");
}

static void count_writes(void)
{
	struct watch w = {.fd = -1};
	char root[4200], arg_root[4300];
	unsigned per_boot_min = ~0u, per_boot_max = 0, total = 0, dec_min = ~0u, dec_max = 0,
	         n_dec = 0;
	struct boot_writes b;

	w.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w.fd < 0 ||
	    inotify_add_watch(w.fd, efivars, IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE) <
	        0) {
		printf("inotify unavailable (%s): writes not counted\n", strerror(errno));
		bench_row("EFI writes per boot attempt", "skipped", "-", "-", "exactly 1", "-");
		return;
	}

	/* A crash loop with a panic log before each boot. */
	printf("\nEFI variable writes (inotify on %s: a close after a write, or a rename onto "
	       "the variable)\n\ncrash loop, a panic log naming badsec in pstore before every "
	       "boot after the first:\n",
	       efivars);
	snprintf(root, sizeof(root), "%s/loop-root", dir);
	make_root(root);
	unlink(var_path);
	print_boot_header();
	for (unsigned n = 1; n <= 10; n++) {
		char rel[128];
		unsigned sum;

		if (n > 1) {
			snprintf(rel, sizeof(rel), "/sys/fs/pstore/dmesg-efi-1732371234%05u", n);
			put_rel(root, rel, OOPS);
		}
		b = boot(&w, root, true, n);
		sum = b.init + b.rootfs;
		total += sum;
		per_boot_min = sum < per_boot_min ? sum : per_boot_min;
		per_boot_max = sum > per_boot_max ? sum : per_boot_max;
		if (b.decision) {
			n_dec++;
			dec_min = sum < dec_min ? sum : dec_min;
			dec_max = sum > dec_max ? sum : dec_max;
		}
	}
	printf("  per boot attempt: min %u, max %u, %u writes in 10 boots; decision boots (%u): "
	       "min %u, max %u\n",
	       per_boot_min, per_boot_max, total, n_dec, n_dec ? dec_min : 0, dec_max);
	bench_row("EFI writes per boot attempt (10 boots)",
	          per_boot_min == per_boot_max ? bench_fmt("%u", per_boot_max)
	                                       : bench_fmt("%u..%u", per_boot_min, per_boot_max),
	          "1 (the count)", bench_fmt("x%.2f", total / 10.0), "exactly 1",
	          per_boot_min == 1 && per_boot_max == 1 ? "met" : "NOT met");
	bench_row("EFI writes per decision boot, panic log",
	          n_dec ? (dec_min == dec_max
	                       ? bench_fmt("%u (%u boots)", dec_max, n_dec)
	                       : bench_fmt("%u..%u (%u boots)", dec_min, dec_max, n_dec))
	                : "none seen",
	          "1 (the count)", n_dec ? bench_fmt("x%.2f", (double)dec_max) : "-",
	          "exactly 1 (a boot attempt)", n_dec && dec_max == 1 ? "met" : "NOT met");

	/* A blessed boot. */
	printf("\nblessed boot: init phase, rootfs phase, then lifelinectl --root=... bless:\n");
	snprintf(root, sizeof(root), "%s/bless-root", dir);
	snprintf(arg_root, sizeof(arg_root), "--root=%s", root);
	make_root(root);
	unlink(var_path);
	print_boot_header();
	(void)boot(&w, root, true, 1); /* the record exists, as on an installed machine */
	b = boot(&w, root, true, 2);
	{
		char *argv[] = {ctl, arg_root, (char *)"bless", NULL};
		int rc = bench_spawn(argv, 0, NULL, NULL);
		unsigned bless = watch_take(&w), sum = b.init + b.rootfs + bless;

		printf("  lifelinectl bless: exit %d, %u write(s); the blessed boot: %u writes\n",
		       rc, bless, sum);
		bench_row("EFI writes per blessed boot", bench_fmt("%u", sum), "2 (count + bless)",
		          bench_fmt("x%.2f", sum / 2.0), "2 (init + bless)",
		          sum == 2 ? "met" : "NOT met");
	}

	/* No panic log: level 1 from the inventory diff (rootfs phase). */
	printf("\ncrash loop without a panic log, othersec's binary changed since the last good "
	       "boot (level 1 from the inventory diff):\n");
	snprintf(root, sizeof(root), "%s/diff-root", dir);
	make_root(root);
	unlink(var_path);
	{
		struct component_set set = {0};
		struct inventory *inv = NULL;
		int r = components_load(root, &set, NULL);

		if (r >= 0)
			r = inventory_take(root, &set, NULL, &inv);
		if (r >= 0)
			r = inventory_save(root, inv);
		inventory_free(inv);
		components_done(&set);
		if (r < 0)
			printf("  last-good inventory: %s\n", strerror(-r));
	}
	put_rel(root, "/opt/othersec/bin/otherd", "version 2, longer\n");
	print_boot_header();
	dec_min = ~0u;
	dec_max = 0;
	n_dec = 0;
	for (unsigned n = 1; n <= 5; n++) {
		unsigned sum;

		b = boot(&w, root, true, n);
		sum = b.init + b.rootfs;
		if (b.decision) {
			n_dec++;
			dec_min = sum < dec_min ? sum : dec_min;
			dec_max = sum > dec_max ? sum : dec_max;
		}
	}
	bench_row("EFI writes per decision boot, no panic log",
	          n_dec ? (dec_min == dec_max
	                       ? bench_fmt("%u (%u boots)", dec_max, n_dec)
	                       : bench_fmt("%u..%u (%u boots)", dec_min, dec_max, n_dec))
	                : "none seen",
	          "1 (the count)", n_dec ? bench_fmt("x%.2f", (double)dec_max) : "-",
	          "exactly 1 (a boot attempt)", n_dec && dec_max == 1 ? "met" : "NOT met");
	watch_drain(&w);
	if (w.deletes)
		printf("  (the variable was deleted %u time(s) by the bench itself)\n", w.deletes);
	close(w.fd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"runs", required_argument, NULL, 'r'},
	    {"keep", no_argument, NULL, 'k'},
	    {},
	};
	const char *build = getenv("LIFELINE_BUILD");
	int runs = 200, c;
	bool keep = false;

	/* libefivar reads EFIVARFS_PATH before main: set it, start again. */
	if (!getenv("BENCH_EARLY_DIR")) {
		char ev[4300];

		if (bench_mkdtemp("bench-early", true, dir, sizeof(dir)) < 0) {
			perror("bench-early: mkdtemp");
			return 0;
		}
		snprintf(ev, sizeof(ev), "%s/efivars/", dir);
		if (mkdir(ev, 0755) < 0) {
			perror("bench-early: mkdir");
			return 0;
		}
		setenv("EFIVARFS_PATH", ev, 1);
		setenv("BENCH_EARLY_DIR", dir, 1);
		execv("/proc/self/exe", argv);
		perror("bench-early: re-exec");
		bench_rm_rf(dir);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s", getenv("BENCH_EARLY_DIR"));
	bench_remove_on_signal(dir);
	snprintf(efivars, sizeof(efivars), "%s/efivars", dir);
	snprintf(var_path, sizeof(var_path), "%s/%s", efivars, VAR_FILE);

	while ((c = getopt_long(argc, argv, "r:k", opts, NULL)) >= 0) {
		switch (c) {
		case 'r':
			runs = atoi(optarg);
			break;
		case 'k':
			keep = true;
			break;
		default:
			fprintf(stderr, "usage: %s [--runs N] [--keep]\n", argv[0]);
			bench_rm_rf(dir);
			return 2;
		}
	}
	runs = runs < 1 ? 1 : runs > MAX_RUNS ? MAX_RUNS : runs;
	if (!build || !*build)
		build = "build";
	snprintf(early, sizeof(early), "%s/initramfs-hook/lifeline-early", build);
	snprintf(ctl, sizeof(ctl), "%s/bin/lifelinectl", build);
	if (access(early, X_OK) < 0 || access(ctl, X_OK) < 0) {
		printf("%s or %s missing (make first): skipped\n", early, ctl);
		bench_row("early --phase=init, fork+exec", "skipped (not built)", "-", "-", "<= x2",
		          "-");
		bench_rm_rf(dir);
		return 0;
	}
	printf("work directory %s, EFIVARFS_PATH=%s/\n\n", dir, efivars);
	fflush(stdout);

	time_early(runs);
	fflush(stdout);
	count_writes();

	if (keep)
		printf("\nkept %s\n", dir);
	else
		bench_rm_rf(dir);
	return 0;
}
