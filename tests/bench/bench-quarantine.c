/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * quarantine_apply() and quarantine_restore() of one component with 1,000
 * files, median of several runs, against a plain rename() loop over the
 * same files (out to one directory, and back): the least any move of
 * those files costs. The difference is the journal (a manifest made
 * durable before anything moves, rewritten a bounded number of times),
 * the fsyncs, opening each path one component at a time with O_NOFOLLOW,
 * and recording (apply) or checking (restore) each file's SHA-256, mode,
 * owner, mtime and extended attributes.
 *
 * The tree, under $TMPDIR or /var/tmp (disk-backed: fsync costs what it
 * costs on a root file system, unlike on a tmpfs):
 *   <root>/opt/qbench/bin/b<N>                  10 binaries
 *   <root>/opt/qbench/content/f<N>.bin          the rest, content files
 * of 256..4,351 bytes each.
 *
 *   bench-quarantine [--files N] [--runs N] [--keep]
 */
#include <getopt.h>
#include <stdbool.h>

#include "agent/conf/components.h"
#include "agent/quarantine/quarantine.h"
#include "common/log.h"
#include "tests/bench/bench.h"

#define MAX_RUNS 63

static char root[4200];
static char **paths; /* relative to root, without the leading '/' */
static unsigned n_paths;

static double cpu_ms(void)
{
	return bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static int make_tree(unsigned n)
{
	char path[8400], data[4352];
	int r;

	snprintf(path, sizeof(path), "%s/etc/lifeline/components.d/qbench.conf", root);
	r = bench_put_text(path,
	                   "[qbench]\nvendor = Bench\nmodules = qbench\n"
	                   "files = /opt/qbench/bin/*\ncontent = /opt/qbench/content/*.bin\n");
	if (r < 0)
		return r;
	paths = calloc(n, sizeof(char *));
	if (!paths)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		size_t size = 256 + (i * 7919u) % 4096;
		char rel[64];

		if (i < 10)
			snprintf(rel, sizeof(rel), "opt/qbench/bin/b%u", i);
		else
			snprintf(rel, sizeof(rel), "opt/qbench/content/f%u.bin", i);
		for (size_t b = 0; b < size; b++)
			data[b] = (char)('a' + (i + b) % 26);
		snprintf(path, sizeof(path), "%s/%s", root, rel);
		/* the first file of a directory makes the directory */
		if (i == 0 || i == 10)
			r = bench_put_text(path, "");
		r = bench_put(path, data, size);
		if (r < 0)
			return r;
		paths[n_paths++] = strdup(rel);
	}
	return 0;
}

/* The baseline: rename every file to <root>/moved/<i> (one directory, as
 * flat as it gets), then back. Returns 0 or -errno. */
static int rename_loop(bool back, double *ret_ms)
{
	char moved[4300];
	int rootfd, movedfd;
	double t0;
	int r = 0;

	snprintf(moved, sizeof(moved), "%s/moved", root);
	(void)mkdir(moved, 0700);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	movedfd = open(moved, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || movedfd < 0) {
		r = -errno;
		goto out;
	}
	t0 = bench_now_ms();
	for (unsigned i = 0; i < n_paths; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%u", i);
		if ((back ? renameat(movedfd, name, rootfd, paths[i])
		          : renameat(rootfd, paths[i], movedfd, name)) < 0) {
			r = -errno;
			goto out;
		}
	}
	*ret_ms = bench_now_ms() - t0;
out:
	if (rootfd >= 0)
		close(rootfd);
	if (movedfd >= 0)
		close(movedfd);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"files", required_argument, NULL, 'f'},
	    {"runs", required_argument, NULL, 'r'},
	    {"keep", no_argument, NULL, 'k'},
	    {},
	};
	double t_apply[MAX_RUNS], c_apply[MAX_RUNS], t_restore[MAX_RUNS], c_restore[MAX_RUNS],
	    t_away[MAX_RUNS], t_back[MAX_RUNS];
	struct component_set set = {0};
	const struct component *comp;
	unsigned files = 1000;
	int runs = 7, c, r, done = 0;
	bool keep = false;

	while ((c = getopt_long(argc, argv, "f:r:k", opts, NULL)) >= 0) {
		switch (c) {
		case 'f':
			files = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'k':
			keep = true;
			break;
		default:
			fprintf(stderr, "usage: %s [--files N] [--runs N] [--keep]\n", argv[0]);
			return 2;
		}
	}
	runs = runs < 1 ? 1 : runs > MAX_RUNS ? MAX_RUNS : runs;
	files = files < 11 ? 11 : files;
	log_set_max_level(LOG_LVL_WARNING);

	if (bench_mkdtemp("bench-quarantine", false, root, sizeof(root)) < 0) {
		perror("bench-quarantine: mkdtemp");
		return 0;
	}
	bench_remove_on_signal(root);
	r = make_tree(files);
	if (r >= 0)
		r = components_load(root, &set, NULL);
	comp = r >= 0 ? components_find(&set, "qbench") : NULL;
	if (!comp) {
		printf("could not build the tree in %s: %s\n", root, strerror(r < 0 ? -r : ENOENT));
		bench_row("quarantine apply, 1,000 files", "failed", "-", "-", "< 200 ms", "-");
		goto out;
	}
	printf("%u files in %s; median of %d runs, each: apply, restore, rename away, rename "
	       "back\n\n",
	       files, root, runs);

	sync();
	for (int i = 0; i < runs; i++) {
		struct quarantine_result res = {0};
		double t0, c0;

		t0 = bench_now_ms();
		c0 = cpu_ms();
		r = quarantine_apply(root, comp, (unsigned)i + 1, &res);
		t_apply[i] = bench_now_ms() - t0;
		c_apply[i] = cpu_ms() - c0;
		if (r < 0 || res.moved != files || res.errors) {
			printf("apply (run %d): %s, moved %u of %u, %u errors\n", i + 1,
			       r < 0 ? strerror(-r) : "ok", res.moved, files, res.errors);
			quarantine_result_done(&res);
			break;
		}
		quarantine_result_done(&res);

		t0 = bench_now_ms();
		c0 = cpu_ms();
		r = quarantine_restore(root, "qbench", &res);
		t_restore[i] = bench_now_ms() - t0;
		c_restore[i] = cpu_ms() - c0;
		if (r < 0 || res.restored != files || res.errors) {
			printf("restore (run %d): %s, restored %u of %u, %u errors\n", i + 1,
			       r < 0 ? strerror(-r) : "ok", res.restored, files, res.errors);
			quarantine_result_done(&res);
			break;
		}
		quarantine_result_done(&res);

		if (rename_loop(false, &t_away[i]) < 0 || rename_loop(true, &t_back[i]) < 0) {
			printf("rename loop (run %d): %s\n", i + 1, strerror(errno));
			break;
		}
		done++;
	}
	if (done == 0) {
		bench_row("quarantine apply, 1,000 files", "failed", "-", "-", "< 200 ms", "-");
		goto out;
	}

	{
		double ma = bench_median(t_apply, done), mr = bench_median(t_restore, done),
		       mw = bench_median(t_away, done), mb = bench_median(t_back, done);

		printf("  %-34s %10s %10s %10s %10s\n", "", "median ms", "min ms", "max ms",
		       "CPU ms");
		printf("  %-34s %10.2f %10.2f %10.2f %10.2f\n", "quarantine_apply()", ma,
		       bench_percentile(t_apply, done, 0), bench_percentile(t_apply, done, 100),
		       bench_median(c_apply, done));
		printf("  %-34s %10.2f %10.2f %10.2f %10.2f\n", "quarantine_restore()", mr,
		       bench_percentile(t_restore, done, 0), bench_percentile(t_restore, done, 100),
		       bench_median(c_restore, done));
		printf("  %-34s %10.2f %10.2f %10.2f %10s\n", "rename() loop, away (baseline)", mw,
		       bench_percentile(t_away, done, 0), bench_percentile(t_away, done, 100), "-");
		printf("  %-34s %10.2f %10.2f %10.2f %10s\n", "rename() loop, back (baseline)", mb,
		       bench_percentile(t_back, done, 0), bench_percentile(t_back, done, 100), "-");
		printf("\n  apply x%.1f the rename loop, restore x%.1f; goal < 200 ms for 1,000 "
		       "files: "
		       "apply %s, restore %s\n",
		       ma / mw, mr / mb, ma < 200 ? "met" : "NOT met",
		       mr < 200 ? "met" : "NOT met");

		bench_row(bench_fmt("quarantine apply, %u files", files), bench_fmt("%.1f ms", ma),
		          bench_fmt("rename loop %.2f ms", mw), bench_fmt("x%.1f", ma / mw),
		          "< 200 ms", files == 1000 ? (ma < 200 ? "met" : "NOT met") : "-");
		bench_row(bench_fmt("quarantine restore, %u files", files),
		          bench_fmt("%.1f ms", mr), bench_fmt("rename loop %.2f ms", mb),
		          bench_fmt("x%.1f", mr / mb), "< 200 ms",
		          files == 1000 ? (mr < 200 ? "met" : "NOT met") : "-");
	}
out:
	components_done(&set);
	for (unsigned i = 0; i < n_paths; i++)
		free(paths[i]);
	free(paths);
	if (keep)
		printf("kept %s\n", root);
	else
		bench_rm_rf(root);
	return 0;
}
