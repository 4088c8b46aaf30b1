/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the tests/bench/bench-*.c programs (header-only: each
 * benchmark is one .c file that run.sh compiles by itself).
 *
 * A benchmark prints its detail to stdout and, when run.sh gives it
 * BENCH_TABLE=FILE, appends one line per headline figure to FILE:
 *
 *   figure TAB median TAB baseline TAB ratio TAB goal TAB verdict
 *
 * (already formatted strings; "-" when a field does not apply). run.sh
 * prints all the lines as the one summary table at the end.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline double bench_clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline double bench_now_ms(void)
{
	return bench_clock_ms(CLOCK_MONOTONIC);
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of n values (sorts a copy; v is left as it was). */
static inline double bench_median(const double *v, int n)
{
	double *c, m;

	if (n <= 0)
		return 0;
	c = malloc(sizeof(double) * (size_t)n);
	if (!c)
		return 0;
	memcpy(c, v, sizeof(double) * (size_t)n);
	qsort(c, (size_t)n, sizeof(double), bench_cmp_double);
	m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return m;
}

/* The p-th percentile (0..100, nearest rank) of n values. */
static inline double bench_percentile(const double *v, int n, double p)
{
	double *c, x;
	int k;

	if (n <= 0)
		return 0;
	c = malloc(sizeof(double) * (size_t)n);
	if (!c)
		return 0;
	memcpy(c, v, sizeof(double) * (size_t)n);
	qsort(c, (size_t)n, sizeof(double), bench_cmp_double);
	k = (int)(p / 100.0 * n + 0.5) - 1;
	k = k < 0 ? 0 : k >= n ? n - 1 : k;
	x = c[k];
	free(c);
	return x;
}

/* One row of the summary table; fields are printf formats, "-" for none. */
static inline void bench_row(const char *figure, const char *median, const char *baseline,
                             const char *ratio, const char *goal, const char *verdict)
{
	const char *path = getenv("BENCH_TABLE");
	FILE *f;

	if (!path || !*path)
		return;
	f = fopen(path, "ae");
	if (!f)
		return;
	fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\n", figure, median, baseline, ratio, goal, verdict);
	fclose(f);
}

/* snprintf into a static ring of buffers, for building row fields inline. */
static inline const char *bench_fmt(const char *fmt, ...)
{
	static char ring[16][160];
	static unsigned next;
	char *b = ring[next++ % 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(ring[0]), fmt, ap);
	va_end(ap);
	return b;
}

static inline int bench_put(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, data, size);
	close(fd);
	return n == (ssize_t)size ? 0 : -EIO;
}

/* mkdir -p of the directory part of path, then write text to path. */
static inline int bench_put_text(const char *path, const char *text)
{
	char dir[8800], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		for (char *p = dir + 1; *p; p++)
			if (*p == '/') {
				*p = 0;
				(void)mkdir(dir, 0755);
				*p = '/';
			}
		(void)mkdir(dir, 0755);
	}
	return bench_put(path, text, strlen(text));
}

static inline void bench_rm_rf(const char *dir)
{
	char cmd[8400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* fork + exec argv (stdout and stderr to /dev/null unless keep_output),
 * wait; returns the exit status, or -errno; *ret_ms (if not NULL) the wall
 * time from fork to reaped, *ret_cpu_ms (if not NULL) the child's CPU time
 * (user + system, from wait4()). */
static inline int bench_spawn(char *const argv[], int keep_output, double *ret_ms,
                              double *ret_cpu_ms)
{
	struct rusage ru;
	double t0 = bench_now_ms();
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (!keep_output) {
			int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
			}
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		return -errno;
	if (ret_ms)
		*ret_ms = bench_now_ms() - t0;
	if (ret_cpu_ms)
		*ret_cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		              (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A work directory: under $TMPDIR when set; else, with prefer_ram, on
 * /dev/shm when it is a tmpfs with 2 GiB free; else /var/tmp (disk-backed:
 * fsync costs what it costs on a root file system).
 *
 * RAM for what lives in RAM on a real machine (the initramfs, /run), or
 * where the disk would only measure the host: on a shared, busy disk,
 * writing back and deleting 100,000 fresh files takes minutes. */
static inline int bench_mkdtemp(const char *name, bool prefer_ram, char *buf, size_t size)
{
	const char *base = getenv("TMPDIR");
	struct statfs sf;

	if (!base || !*base) {
		base = "/var/tmp";
		if (prefer_ram && statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
		    (unsigned long long)sf.f_bavail * sf.f_bsize >= 2ull << 30)
			base = "/dev/shm";
	}
	snprintf(buf, size, "%s/%s.XXXXXX", base, name);
	return mkdtemp(buf) ? 0 : -errno;
}

/* Remove dir if the benchmark is stopped (run.sh's timeout sends SIGTERM;
 * ^C): a 100,000-file tree must not stay behind on a tmpfs. Only
 * async-signal-safe calls in the handler. */
static char bench_cleanup_dir[4096];

static inline void bench_on_signal(int sig)
{
	pid_t pid;

	if (bench_cleanup_dir[0] && (pid = fork()) >= 0) {
		if (pid == 0) {
			execl("/bin/rm", "rm", "-rf", bench_cleanup_dir, (char *)NULL);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
	}
	_exit(128 + sig);
}

static inline void bench_remove_on_signal(const char *dir)
{
	struct sigaction sa = {.sa_handler = bench_on_signal};

	snprintf(bench_cleanup_dir, sizeof(bench_cleanup_dir), "%s", dir);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}
