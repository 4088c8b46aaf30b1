/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fleet command polling at scale against a real nginx (README.md here,
 * "bench-poll").
 *
 * Starts Debian's nginx on a loopback port with a temporary prefix (an
 * unprivileged configuration: dropped to nobody when run as root), serving
 * all.cmd (a signed document) and no per-machine files, then simulates N
 * agents, each with its own poller state (struct command_poller: the
 * validators) and lifeline's own fetch and schedule code
 * (command_fetch(), command_poll_first_delay(), command_poll_delay()): per
 * poll a fresh curl handle (a new connection, as each agent has), GET
 * <machine-id>.cmd then all.cmd. Time is compressed: the simulated
 * poll_interval P (default 300 s) runs in R real milliseconds (scale P/R);
 * every delay lifeline computes is divided by that scale.
 *
 * The run: the agents start together (a fleet-wide power event), each
 * first poll after command_poll_first_delay(); steady state is measured
 * from nginx's access log between 1.2 R and 3 R (only conditional polls:
 * every agent has fetched all.cmd once by R); at 3 R a new all.cmd (the
 * fleet-wide clear) is published by rename, and the time until each agent
 * has fetched it is recorded (as fractions of P, then in seconds for
 * several P). Two processes share the agents (the host has 2 cores; nginx
 * runs one worker).
 *
 *   bench-poll [--agents 1000,10000] [--interval 300] [--keep]
 */
#include <curl/curl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "agent/command/command-internal.h"
#include "agent/command/command.h"
#include "tests/bench/bench.h"

#define WORKERS 2

static char work[4096];
static pid_t nginx_pid = -1, worker_pids[WORKERS];

static void stop_all(void)
{
	for (int i = 0; i < WORKERS; i++)
		if (worker_pids[i] > 0) {
			kill(worker_pids[i], SIGKILL);
			waitpid(worker_pids[i], NULL, 0);
			worker_pids[i] = 0;
		}
	if (nginx_pid > 0) {
		kill(nginx_pid, SIGTERM);
		waitpid(nginx_pid, NULL, 0);
		nginx_pid = -1;
	}
}

static void on_signal(int sig)
{
	pid_t pid;

	/* async-signal-safe: kill, waitpid, fork, execl, _exit */
	for (int i = 0; i < WORKERS; i++)
		if (worker_pids[i] > 0)
			kill(worker_pids[i], SIGKILL);
	if (nginx_pid > 0) {
		kill(nginx_pid, SIGTERM);
		waitpid(nginx_pid, NULL, 0);
	}
	if (work[0] && (pid = fork()) >= 0) {
		if (pid == 0) {
			execl("/bin/rm", "rm", "-rf", work, (char *)NULL);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
	}
	_exit(128 + sig);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* nginx in the foreground, its own prefix, one worker, a loopback port;
 * the access log has what the figures need. */
static int start_nginx(int port)
{
	char conf[65536], path[4400], url[64];
	double t0;

	snprintf(conf, sizeof(conf),
	         "daemon off;\n"
	         "master_process on;\n"
	         "worker_processes 1;\n"
	         "pid %s/nginx.pid;\n"
	         "error_log %s/error.log warn;\n"
	         "events { worker_connections 4096; }\n"
	         "http {\n"
	         "  access_log off;\n"
	         "  client_body_temp_path %s/tmp/body;\n"
	         "  proxy_temp_path %s/tmp/proxy;\n"
	         "  fastcgi_temp_path %s/tmp/fastcgi;\n"
	         "  uwsgi_temp_path %s/tmp/uwsgi;\n"
	         "  scgi_temp_path %s/tmp/scgi;\n"
	         "  types { text/plain cmd; }\n"
	         "  log_format poll '$msec $status $bytes_sent $uri';\n"
	         "  server {\n"
	         "    listen 127.0.0.1:%d backlog=4096;\n"
	         "    root %s/html;\n"
	         "    access_log %s/access.log poll buffer=256k flush=1s;\n"
	         "    keepalive_timeout 5s;\n"
	         "  }\n"
	         "}\n",
	         work, work, work, work, work, work, work, port, work, work);
	snprintf(path, sizeof(path), "%s/nginx.conf", work);
	if (bench_put_text(path, conf) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/tmp", work);
	(void)mkdir(path, 0755);
	if (getuid() == 0) {
		/* an unprivileged nginx: the prefix belongs to nobody */
		char cmd[4400];

		snprintf(cmd, sizeof(cmd), "chown -R 65534:65534 '%s'", work);
		if (system(cmd) != 0)
			return -1;
	}
	nginx_pid = fork();
	if (nginx_pid < 0)
		return -1;
	if (nginx_pid == 0) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		if (getuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
			_exit(126);
		snprintf(path, sizeof(path), "%s/nginx.conf", work);
		execl("/usr/sbin/nginx", "nginx", "-p", work, "-c", path, (char *)NULL);
		_exit(127);
	}
	/* ready when it answers */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	t0 = bench_now_ms();
	while (bench_now_ms() - t0 < 5000) {
		CURL *e = curl_easy_init();
		CURLcode c;

		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		c = curl_easy_perform(e);
		curl_easy_cleanup(e);
		if (c == CURLE_OK)
			return 0;
		if (waitpid(nginx_pid, NULL, WNOHANG) == nginx_pid) {
			nginx_pid = -1;
			return -1;
		}
		usleep(20000);
	}
	return -1;
}

/* A signed document of action for all machines (lifeline's signing). */
static char *make_doc(EVP_PKEY *key, const char *action, uint64_t seq)
{
	struct command c = {.seq = seq, .issued = time(NULL), .expires = time(NULL) + 86400};
	char *body = NULL, *doc = NULL;

	c.action = (enum command_action)command_action_from_string(action);
	c.components = calloc(1, sizeof(char *));
	c.targets = calloc(2, sizeof(char *));
	c.targets[0] = strdup("all");
	if (command_body_format(&c, &body) < 0 || command_sign(key, body, strlen(body), &doc) < 0)
		doc = NULL;
	free(body);
	command_done(&c);
	return doc;
}

struct agent {
	struct command_poller p;
	double next; /* ms since the start, real */
	char mid[33];
};

/* A binary heap of agent indexes by next. */
struct heap {
	int *v, n;
	struct agent *a;
};

static void heap_push(struct heap *h, int x)
{
	int i = h->n++;

	h->v[i] = x;
	while (i > 0 && h->a[h->v[(i - 1) / 2]].next > h->a[h->v[i]].next) {
		int t = h->v[i];
		h->v[i] = h->v[(i - 1) / 2];
		h->v[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static int heap_pop(struct heap *h)
{
	int top = h->v[0], i = 0;

	h->v[0] = h->v[--h->n];
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && h->a[h->v[l]].next < h->a[h->v[m]].next)
			m = l;
		if (r < h->n && h->a[h->v[r]].next < h->a[h->v[m]].next)
			m = r;
		if (m == i)
			break;
		int t = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = t;
		i = m;
	}
	return top;
}

struct worker_result {
	uint64_t polls, errors;
	double max_late_ms; /* how far behind its schedule a poll ran, at most */
};

/* One worker: agents w, w+WORKERS, ...; runs until end_ms; writes the
 * reach time of each of its agents (ms after publish_ms, -1: not reached)
 * to out. */
static int worker(int w, int n, int port, double scale, unsigned interval, double t0,
                  double publish_ms, double end_ms, const char *new_sha, const char *out)
{
	struct agent *a = calloc((size_t)n, sizeof(*a));
	struct heap h = {.v = calloc((size_t)n, sizeof(int)), .a = a};
	double *reach = calloc((size_t)n, sizeof(double));
	struct command_http http = {0};
	struct worker_result res = {0};
	char url[2][128];
	FILE *f;

	if (!a || !h.v || !reach)
		return 1;
	for (int i = w; i < n; i += WORKERS) {
		snprintf(a[i].mid, sizeof(a[i].mid), "%032x", i + 1);
		a[i].next = (double)command_poll_first_delay(interval) / scale;
		reach[i] = -1;
		heap_push(&h, i);
	}
	while (h.n > 0) {
		int i = heap_pop(&h);
		double now = bench_now_ms() - t0;
		unsigned failed = 0;
		CURL *e;

		if (a[i].next >= end_ms)
			break;
		if (a[i].next > now)
			usleep((useconds_t)((a[i].next - now) * 1000));
		else if (now - a[i].next > res.max_late_ms)
			res.max_late_ms = now - a[i].next;
		now = bench_now_ms() - t0;
		snprintf(url[0], sizeof(url[0]), "http://127.0.0.1:%d/fleet/%s.cmd", port,
		         a[i].mid);
		snprintf(url[1], sizeof(url[1]), "http://127.0.0.1:%d/fleet/all.cmd", port);
		e = curl_easy_init();
		for (int k = 0; k < 2 && e; k++) {
			struct command_fetched fe;

			if (command_fetch(e, url[k], &http, &a[i].p.url[k], (int64_t)time(NULL),
			                  &fe) < 0 ||
			    (fe.status != 200 && fe.status != 304 && fe.status != 404)) {
				failed = 1;
				res.errors++;
				free(fe.body);
				continue;
			}
			if (fe.status == 200) {
				char sha[65];

				/* judged at once: keep the validators */
				memcpy(a[i].p.url[k].etag, fe.etag, sizeof(fe.etag));
				memcpy(a[i].p.url[k].last_modified, fe.last_modified,
				       sizeof(fe.last_modified));
				if (command_sha256_hex(fe.body, fe.size, sha) == 0 &&
				    strcmp(sha, new_sha) == 0 && reach[i] < 0)
					reach[i] = now - publish_ms;
			}
			free(fe.body);
		}
		if (e)
			curl_easy_cleanup(e);
		res.polls++;
		a[i].p.failures = failed ? a[i].p.failures + 1 : 0;
		a[i].next = now + (double)command_poll_delay(interval, a[i].p.failures, -1) / scale;
		heap_push(&h, i);
	}
	f = fopen(out, "we");
	if (!f)
		return 1;
	fwrite(&res, sizeof(res), 1, f);
	fwrite(reach, sizeof(double), (size_t)n, f);
	fclose(f);
	return 0;
}

/* CPU time (ms) of nginx's worker processes (the master's children). */
static double nginx_cpu_ms(void)
{
	char path[128], buf[1024];
	double total = 0;
	FILE *f;
	int child;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", nginx_pid, nginx_pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fscanf(f, "%d", &child) == 1) {
		FILE *st;
		unsigned long ut = 0, stime = 0;
		char *p;

		snprintf(path, sizeof(path), "/proc/%d/stat", child);
		st = fopen(path, "re");
		if (!st)
			continue;
		if (fgets(buf, sizeof(buf), st) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
		           &stime) == 2)
			total += (double)(ut + stime) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
		fclose(st);
	}
	fclose(f);
	return total;
}

/* The access log's lines between from and to (ms after t0_epoch_ms). */
static void log_stats(const char *path, double t0_epoch_ms, double from, double to, double *ret_rps,
                      double *ret_bytes_per_poll, double *ret_share304, unsigned long *ret_n,
                      unsigned long counts[3])
{
	FILE *f = fopen(path, "re");
	char uri[256];
	double t;
	int status;
	long bytes, total_bytes = 0;
	unsigned long n = 0, all = 0, all304 = 0;

	counts[0] = counts[1] = counts[2] = 0;
	while (f && fscanf(f, "%lf %d %ld %255s", &t, &status, &bytes, uri) == 4) {
		t = t * 1000 - t0_epoch_ms;
		if (t < from || t >= to)
			continue;
		n++;
		total_bytes += bytes;
		counts[status == 200 ? 0 : status == 304 ? 1 : 2]++;
		if (strstr(uri, "/all.cmd")) {
			all++;
			all304 += status == 304;
		}
	}
	if (f)
		fclose(f);
	*ret_n = n;
	*ret_rps = n / ((to - from) / 1000);
	*ret_bytes_per_poll = n ? (double)total_bytes / (n / 2.0) : 0;
	*ret_share304 = all ? 100.0 * all304 / all : 0;
}

/* The mean bytes_sent of the answers with status to the URIs containing
 * what, or 0. */
static double log_mean_bytes(const char *path, int want_status, const char *what)
{
	FILE *f = fopen(path, "re");
	char uri[256];
	double t, sum = 0;
	int status;
	long bytes;
	unsigned long n = 0;

	while (f && fscanf(f, "%lf %d %ld %255s", &t, &status, &bytes, uri) == 4)
		if (status == want_status && strstr(uri, what)) {
			sum += (double)bytes;
			n++;
		}
	if (f)
		fclose(f);
	return n ? sum / (double)n : 0;
}

/* The largest number of requests in one window of w ms, from 0 to to. */
static double log_peak(const char *path, double t0_epoch_ms, double to, double w)
{
	FILE *f = fopen(path, "re");
	unsigned long *bins, peak = 0;
	int nb = (int)(to / w) + 1, status;
	char uri[256];
	double t;
	long bytes;

	bins = calloc((size_t)nb, sizeof(*bins));
	while (f && bins && fscanf(f, "%lf %d %ld %255s", &t, &status, &bytes, uri) == 4) {
		int b = (int)((t * 1000 - t0_epoch_ms) / w);
		if (b >= 0 && b < nb && ++bins[b] > peak)
			peak = bins[b];
	}
	if (f)
		fclose(f);
	free(bins);
	return (double)peak;
}

static int run(int n, unsigned interval, double real_interval_ms, int port, EVP_PKEY *key)
{
	double scale = interval * 1000.0 / real_interval_ms, R = real_interval_ms;
	double publish = 3 * R, end = 3 * R + 1.25 * R, t0, t0_epoch;
	char path[4400], out[WORKERS][4400], new_sha[65], *doc;
	struct timespec ts;
	double *reach = calloc((size_t)n, sizeof(double));
	struct worker_result res[WORKERS] = {0};
	unsigned long lines, counts[3];
	double rps, bpp, share, peak_start, t50, t99, tmax, max_late = 0, cpu0, cpu, cpu_per_1000,
	                                                    full;
	int reached = 0;
	uint64_t polls = 0, errors = 0;

	/* the log of the previous run goes */
	snprintf(path, sizeof(path), "%s/access.log", work);
	if (truncate(path, 0) < 0 && errno != ENOENT)
		return -1;
	if (nginx_pid > 0)
		kill(nginx_pid, SIGUSR1); /* reopen the log */
	usleep(200000);
	/* the fleet's current document, published long before */
	doc = make_doc(key, "bless", 1);
	snprintf(path, sizeof(path), "%s/html/fleet/all.cmd", work);
	if (!doc || bench_put_text(path, doc) < 0)
		return -1;
	free(doc);
	doc = make_doc(key, "clear-and-reboot-if-quarantined", 2);
	if (!doc || command_sha256_hex(doc, strlen(doc), new_sha) < 0)
		return -1;
	sleep(1); /* nginx's ETag has the mtime in seconds */

	cpu0 = nginx_cpu_ms();
	clock_gettime(CLOCK_REALTIME, &ts);
	t0_epoch = (double)ts.tv_sec * 1000 + ts.tv_nsec / 1e6;
	t0 = bench_now_ms();
	for (int w = 0; w < WORKERS; w++) {
		snprintf(out[w], sizeof(out[w]), "%s/worker-%d.out", work, w);
		worker_pids[w] = fork();
		if (worker_pids[w] == 0)
			_exit(
			    worker(w, n, port, scale, interval, t0, publish, end, new_sha, out[w]));
	}
	/* publish the clear at 3 R: write, then rename over all.cmd */
	usleep((useconds_t)((publish - (bench_now_ms() - t0)) * 1000));
	snprintf(path, sizeof(path), "%s/html/fleet/.all.cmd.new", work);
	bench_put_text(path, doc);
	{
		char to[4400];
		snprintf(to, sizeof(to), "%s/html/fleet/all.cmd", work);
		if (rename(path, to) < 0)
			return -1;
	}
	free(doc);
	for (int w = 0; w < WORKERS; w++) {
		FILE *f;
		double *part = calloc((size_t)n, sizeof(double));

		waitpid(worker_pids[w], NULL, 0);
		worker_pids[w] = 0;
		f = fopen(out[w], "re");
		if (!f || !part || fread(&res[w], sizeof(res[w]), 1, f) != 1 ||
		    fread(part, sizeof(double), (size_t)n, f) != (size_t)n) {
			if (f)
				fclose(f);
			free(part);
			return -1;
		}
		fclose(f);
		for (int i = w; i < n; i += WORKERS)
			reach[i] = part[i];
		free(part);
		polls += res[w].polls;
		errors += res[w].errors;
		if (res[w].max_late_ms > max_late)
			max_late = res[w].max_late_ms;
	}
	usleep(1300000); /* the log buffer's flush */
	cpu = nginx_cpu_ms() - cpu0;
	snprintf(path, sizeof(path), "%s/access.log", work);
	{
		unsigned long all_lines, all_counts[3];
		double x, y, z;

		log_stats(path, t0_epoch, 0, end + 1000, &x, &y, &z, &all_lines, all_counts);
		cpu_per_1000 = cpu0 >= 0 && all_lines > 0 ? cpu / all_lines * 1000 : NAN;
	}
	log_stats(path, t0_epoch, 1.2 * R, 3 * R, &rps, &bpp, &share, &lines, counts);
	peak_start = log_peak(path, t0_epoch, R, R / 20);
	/* what the same poll costs unconditionally: all.cmd in full (its 200s
	 * of the first interval) and the 404 */
	full = log_mean_bytes(path, 200, "/all.cmd") + log_mean_bytes(path, 404, ".cmd");

	{
		double *ok = calloc((size_t)n, sizeof(double));
		for (int i = 0; i < n; i++)
			if (reach[i] >= 0)
				ok[reached++] = reach[i] / R; /* fractions of P */
		t50 = reached >= n / 2 ? bench_percentile(ok, reached, 50.0 * n / reached) : NAN;
		t99 = reached >= n * 99 / 100 ? bench_percentile(ok, reached, 99.0 * n / reached)
		                              : NAN;
		tmax = reached > 0 ? bench_percentile(ok, reached, 100) : NAN;
		free(ok);
	}
	printf("N=%d agents, P=%u s simulated in %.0f ms (x%.0f): %" PRIu64 " polls, %" PRIu64
	       " errors, at most %.0f ms behind schedule\n",
	       n, interval, R, scale, polls, errors, max_late);
	printf("  steady state (1.2R..3R): %lu requests, %.0f req/s real = %.2f req/s per 1000 "
	       "agents at P=%u s; %.0f bytes per poll (2 GETs); all.cmd 304: %.1f%%; "
	       "200/304/other: %lu/%lu/%lu\n",
	       lines, rps, rps / scale / n * 1000, interval, bpp, share, counts[0], counts[1],
	       counts[2]);
	printf("  nginx worker CPU: %.0f ms per 1000 requests (%.0f requests/s of one core)\n",
	       cpu_per_1000, 1e6 / cpu_per_1000);
	printf("  start (all agents at once): peak %.0f requests in R/20, mean %.0f (x%.2f)\n",
	       peak_start, 2.0 * n / 20, peak_start / (2.0 * n / 20));
	printf("  fleet-wide clear published at 3R: reached %d/%d agents; 50%% after %.3f P, 99%% "
	       "after %.3f P, all after %.3f P\n",
	       reached, n, t50, t99, tmax);
	for (size_t k = 0; k < 4; k++) {
		static const unsigned ps[] = {60, 300, 900, 3600};

		printf("    poll_interval %4u s: 50%% in %5.0f s, 99%% in %5.0f s\n", ps[k],
		       t50 * ps[k], t99 * ps[k]);
	}
	bench_row(bench_fmt("poll N=%d: req/s per 1000 agents, P=%us", n, interval),
	          bench_fmt("%.2f", rps / scale / n * 1000),
	          bench_fmt("2 GETs/P: %.2f", 2000.0 / interval),
	          bench_fmt("x%.2f", (rps / scale / n * 1000) / (2000.0 / interval)), "-", "info");
	printf("  an unconditional poll (all.cmd in full + the 404) costs %.0f bytes\n", full);
	bench_row(bench_fmt("poll N=%d: bytes per poll / all.cmd 304s", n),
	          bench_fmt("%.0f B / %.1f%%", bpp, share), bench_fmt("in full: %.0f B", full),
	          bench_fmt("x%.2f", full > 0 ? bpp / full : 0), "conditional GETs",
	          share >= 99.0 ? "met" : "not met");
	bench_row(bench_fmt("poll N=%d: clear reaches 50%% / 99%%", n),
	          bench_fmt("%.2f P / %.2f P", t50, t99), "uniform phases: 0.5 / 0.99 P", "-", "-",
	          reached == n ? "all reached" : "not all");
	bench_row(bench_fmt("poll N=%d: nginx CPU per 1000 requests", n),
	          bench_fmt("%.0f ms", cpu_per_1000), "-", "-", "-", "info");
	bench_row(bench_fmt("poll N=%d: start peak per R/20", n), bench_fmt("%.0f req", peak_start),
	          bench_fmt("mean %.0f", 2.0 * n / 20),
	          bench_fmt("x%.2f", peak_start / (2.0 * n / 20)), "jitter at start", "info");
	free(reach);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"agents", required_argument, NULL, 'a'},
	                                     {"interval", required_argument, NULL, 'i'},
	                                     {"runs", required_argument, NULL, 'r'},
	                                     {"keep", no_argument, NULL, 'k'},
	                                     {}};
	char agents[256] = "1000,10000", path[4400], keyp[4400], pubp[4400];
	unsigned interval = 300;
	bool keep = false;
	EVP_PKEY *key = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	int c, port, rc = 0;

	while ((c = getopt_long(argc, argv, "a:i:r:k", opts, NULL)) >= 0) {
		if (c == 'a')
			snprintf(agents, sizeof(agents), "%s", optarg);
		else if (c == 'i')
			interval = (unsigned)atoi(optarg);
		else if (c == 'k')
			keep = true;
	}
	if (access("/usr/sbin/nginx", X_OK) != 0) {
		printf("bench-poll: /usr/sbin/nginx not installed (apt-get install nginx-light); "
		       "skipped\n");
		bench_row("poll simulation", "no nginx", "-", "-", "-", "skipped");
		return 0;
	}
	if (bench_mkdtemp("lifeline-bench-poll", true, work, sizeof(work)) < 0)
		return 1;
	(void)chmod(work, 0755);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(keyp, sizeof(keyp), "%s/fleet.key", work);
	snprintf(pubp, sizeof(pubp), "%s/fleet.pub", work);
	snprintf(path, sizeof(path), "%s/html/fleet/.keep", work);
	if (command_keygen(keyp, pubp) < 0 || command_key_load_private(keyp, &key) < 0 ||
	    bench_put_text(path, "") < 0) {
		printf("bench-poll: setup failed\n");
		rc = 1;
		goto out;
	}
	port = free_port();
	if (port <= 0 || start_nginx(port) < 0) {
		printf("bench-poll: nginx did not start (see %s/error.log)\n", work);
		bench_row("poll simulation", "nginx did not start", "-", "-", "-", "skipped");
		keep = true;
		goto out;
	}
	printf("nginx %s on 127.0.0.1:%d, prefix %s, 1 worker; %d client processes\n", "(Debian)",
	       port, work, WORKERS);
	for (char *s = strtok(agents, ","); s; s = strtok(NULL, ",")) {
		int n = atoi(s);
		/* about 800 polls a second for the two client processes: R
		 * long enough that they keep up */
		double R = n <= 1000 ? 2000 : n * 1.25;

		if (n <= 0)
			continue;
		if (run(n, interval, R, port, key) < 0) {
			printf("bench-poll: N=%d failed\n", n);
			rc = 1;
		}
	}
out:
	stop_all();
	EVP_PKEY_free(key);
	if (!keep)
		bench_rm_rf(work);
	else
		printf("kept %s\n", work);
	return rc;
}
