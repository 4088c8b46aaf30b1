/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lifelined at rest: resident memory and wake-ups.
 *
 * lifelined (the real daemon, not --once) is started outside systemd with
 * --root on a fake root whose configuration says stable_after = 86400, so
 * it never blesses and waits on its event loop (a timer to stable_after;
 * without a system bus it logs that once and carries on), with
 * EFIVARFS_PATH on an empty directory so that it can never touch real
 * variables. After a settling time its /proc/PID/status is read (VmRSS,
 * the headline; RssAnon/RssFile and Pss beside it), then the context
 * switches are counted over a window: a voluntary switch is the process
 * going to sleep, so the delta is its number of wake-ups. `/bin/sleep`,
 * started at the same time and measured over the same window, is the
 * baseline: the smallest a dynamically linked C program gets.
 *
 *   bench-agent [--settle S] [--window S]     (defaults 3 and 10 seconds)
 *               (--runs N and --keep are accepted and ignored)
 *
 * The daemon comes from $LIFELINE_BUILD (default "build").
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>

#include "tests/bench/bench.h"

struct sample {
	long rss_kb, hwm_kb, anon_kb, file_kb, pss_kb;
	long vol, invol; /* context switches */
	double cpu_ms;   /* utime + stime */
	bool ok;
};

static long status_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = 0;
	return 0;
}

static struct sample sample(pid_t pid)
{
	struct sample s = {.ok = false};
	char path[64], buf[8192];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_text(path, buf, sizeof(buf)) < 0)
		return s;
	s.rss_kb = status_field(buf, "\nVmRSS:");
	s.hwm_kb = status_field(buf, "\nVmHWM:");
	s.anon_kb = status_field(buf, "\nRssAnon:");
	s.file_kb = status_field(buf, "\nRssFile:");
	s.vol = status_field(buf, "\nvoluntary_ctxt_switches:");
	s.invol = status_field(buf, "\nnonvoluntary_ctxt_switches:");
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	s.pss_kb = read_text(path, buf, sizeof(buf)) == 0 ? status_field(buf, "\nPss:") : -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_text(path, buf, sizeof(buf)) == 0) {
		/* fields 14, 15 (utime, stime) after the ")" ending comm */
		const char *p = strrchr(buf, ')');
		unsigned long ut = 0, st = 0;

		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
		                &st) == 2)
			s.cpu_ms = (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
	}
	s.ok = s.rss_kb >= 0 && s.vol >= 0;
	return s;
}

/* Resident KiB per mapped file (and [anon]/[heap]/...), largest first:
 * where the RSS comes from. Prints the top n. */
static void print_rss_by_mapping(pid_t pid, int n)
{
	struct {
		char name[256];
		long kb;
	} m[128];
	int used = 0;
	char path[64], line[1024], cur[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char first[64] = "", name[256] = "";
		long kb;

		/* "Key: value" lines, or a mapping header: "start-end perms
		 * offset dev inode [name]" (proc(5)) */
		if (sscanf(line, "%63s", first) != 1)
			continue;
		if (first[strlen(first) - 1] != ':') {
			if (sscanf(line, "%*s %*s %*s %*s %*s %255s", name) != 1)
				snprintf(name, sizeof(name), "[anon]");
			snprintf(cur, sizeof(cur), "%s", name);
			continue;
		}
		if (sscanf(line, "Rss: %ld kB", &kb) == 1 && kb > 0) {
			int i;

			for (i = 0; i < used && strcmp(m[i].name, cur) != 0; i++)
				;
			if (i == used) {
				if (used == 128)
					continue;
				snprintf(m[used].name, sizeof(m[0].name), "%s", cur);
				m[used++].kb = 0;
			}
			m[i].kb += kb;
		}
	}
	fclose(f);
	for (int k = 0; k < n && k < used; k++) {
		int best = k;

		for (int i = k + 1; i < used; i++)
			if (m[i].kb > m[best].kb)
				best = i;
		if (best != k) {
			char tn[256];
			long tk = m[k].kb;

			memcpy(tn, m[k].name, sizeof(tn));
			memcpy(m[k].name, m[best].name, sizeof(tn));
			memcpy(m[best].name, tn, sizeof(tn));
			m[k].kb = m[best].kb;
			m[best].kb = tk;
		}
		printf("    %6ld KiB  %s\n", m[k].kb, m[k].name);
	}
}

static pid_t start(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 40; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return;
		usleep(50 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"settle", required_argument, NULL, 's'},
	    {"window", required_argument, NULL, 'w'},
	    /* accepted so that run.sh's BENCH_ARGS (given to every
	     * benchmark) works here too: one run, nothing to keep */
	    {"runs", required_argument, NULL, 'r'},
	    {"keep", no_argument, NULL, 'k'},
	    {},
	};
	const char *build = getenv("LIFELINE_BUILD");
	char dir[4096], daemon[4096], arg_root[4300], ev[4300], log[4300], slog[4300], path[4400];
	double settle = 3, window = 10;
	struct sample a0, a1, s0, s1;
	pid_t agent, sleeper;
	int c;

	while ((c = getopt_long(argc, argv, "s:w:r:k", opts, NULL)) >= 0) {
		switch (c) {
		case 'r':
		case 'k':
			break;
		case 's':
			settle = atof(optarg);
			break;
		case 'w':
			window = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [--settle S] [--window S]\n", argv[0]);
			return 2;
		}
	}
	settle = settle < 0.5 ? 0.5 : settle;
	window = window < 1 ? 1 : window;
	if (!build || !*build)
		build = "build";
	snprintf(daemon, sizeof(daemon), "%s/bin/lifelined", build);
	if (access(daemon, X_OK) < 0) {
		printf("%s missing (make first): skipped\n", daemon);
		bench_row("lifelined idle RSS", "skipped (not built)", "-", "-", "<= 4 MiB", "-");
		return 0;
	}
	if (bench_mkdtemp("bench-agent", true, dir, sizeof(dir)) < 0) {
		perror("bench-agent: mkdtemp");
		return 0;
	}
	bench_remove_on_signal(dir);
	snprintf(path, sizeof(path), "%s/root/etc/lifeline/lifeline.conf", dir);
	bench_put_text(path, "[boot]\nstable_after = 86400\nstore = efi\n");
	snprintf(path, sizeof(path), "%s/root/etc/lifeline/components.d/badsec.conf", dir);
	bench_put_text(path, "[badsec]\nmodules = badsec\nfiles = /opt/badsec/bin/*\n");
	snprintf(ev, sizeof(ev), "%s/efivars/", dir);
	(void)mkdir(ev, 0755);
	setenv("EFIVARFS_PATH", ev, 1);
	/* NOTIFY_SOCKET / WATCHDOG_USEC from a surrounding service must not
	 * reach it: this is the daemon outside systemd. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	snprintf(arg_root, sizeof(arg_root), "--root=%s/root", dir);
	snprintf(log, sizeof(log), "%s/lifelined.log", dir);
	snprintf(slog, sizeof(slog), "%s/sleep.log", dir);

	{
		char *agent_argv[] = {daemon, arg_root, NULL};
		char *sleep_argv[] = {(char *)"/bin/sleep", (char *)"3600", NULL};

		agent = start(agent_argv, log);
		sleeper = start(sleep_argv, slog);
	}
	printf("lifelined %s (stable_after = 86400: stays unblessed), /bin/sleep beside it;\n"
	       "settle %.0f s, then context switches over %.0f s\n\n",
	       arg_root, settle, window);
	usleep((useconds_t)(settle * 1e6));
	a0 = sample(agent);
	s0 = sample(sleeper);
	usleep((useconds_t)(window * 1e6));
	a1 = sample(agent);
	s1 = sample(sleeper);
	if (a1.ok) {
		printf("lifelined's resident memory by mapping (from /proc/PID/smaps), largest "
		       "first:\n");
		print_rss_by_mapping(agent, 10);
		printf("\n");
	}
	stop(agent);
	stop(sleeper);

	if (!a0.ok || !a1.ok) {
		char text[2048] = "";

		(void)read_text(log, text, sizeof(text));
		printf("lifelined was not running after %.0f s; its output:\n%s\n", settle, text);
		bench_row("lifelined idle RSS", "failed (exited)", "-", "-", "<= 4 MiB", "-");
		bench_rm_rf(dir);
		return 0;
	}

	printf("  %-12s %8s %8s %8s %8s %8s %10s %10s %8s\n", "KiB / count", "VmRSS", "VmHWM",
	       "RssAnon", "RssFile", "Pss", "wake-ups", "invol.", "CPU ms");
	printf("  %-12s %8ld %8ld %8ld %8ld %8ld %10ld %10ld %8.0f\n", "lifelined", a1.rss_kb,
	       a1.hwm_kb, a1.anon_kb, a1.file_kb, a1.pss_kb, a1.vol - a0.vol, a1.invol - a0.invol,
	       a1.cpu_ms - a0.cpu_ms);
	if (s0.ok && s1.ok)
		printf("  %-12s %8ld %8ld %8ld %8ld %8ld %10ld %10ld %8.0f\n", "/bin/sleep",
		       s1.rss_kb, s1.hwm_kb, s1.anon_kb, s1.file_kb, s1.pss_kb, s1.vol - s0.vol,
		       s1.invol - s0.invol, s1.cpu_ms - s0.cpu_ms);
	printf("\n  (wake-ups = voluntary context switches over %.0f s: %.1f per minute; "
	       "goal VmRSS <= 4096 KiB: %s)\n",
	       window, (double)(a1.vol - a0.vol) * 60.0 / window,
	       a1.rss_kb <= 4096 ? "met" : "NOT met");
	{
		char text[2048] = "";

		if (read_text(log, text, sizeof(text)) == 0 && *text) {
			printf("  its output:\n");
			for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
			     l = strtok_r(NULL, "\n", &save))
				printf("    %s\n", l);
		}
	}

	bench_row("lifelined idle VmRSS", bench_fmt("%.2f MiB", a1.rss_kb / 1024.0),
	          s1.ok ? bench_fmt("/bin/sleep %.2f MiB", s1.rss_kb / 1024.0) : "-",
	          s1.ok && s1.rss_kb > 0 ? bench_fmt("x%.1f", (double)a1.rss_kb / s1.rss_kb) : "-",
	          "<= 4 MiB", a1.rss_kb <= 4096 ? "met" : "NOT met");
	bench_row(
	    bench_fmt("lifelined wake-ups in %.0f s", window),
	    bench_fmt("%ld (%.0f/min)", a1.vol - a0.vol, (double)(a1.vol - a0.vol) * 60.0 / window),
	    s1.ok ? bench_fmt("/bin/sleep %ld", s1.vol - s0.vol) : "-", "-", "report", "info");
	bench_rm_rf(dir);
	return 0;
}
