/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The health verdict (bless.h): systemd's system state and failed units,
 * the check.d scripts with a time limit, the kernel's taint. It decides
 * only whether a boot that stayed up becomes the new last good; it never
 * resets, counts or quarantines anything.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/boot/bless.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"

/* Taint bits (Documentation/admin-guide/tainted-kernels.rst): D = 7 (the
 * kernel died: an oops), L = 14 (soft lockup). */
#define TAINT_DIE        (1ul << 7)
#define TAINT_SOFTLOCKUP (1ul << 14)

void bless_verdict_done(struct bless_verdict *v)
{
	free(v->why);
	v->why = NULL;
}

int bless_judge(const struct lifeline_config *cfg, const char *system_state, char **failed_units,
                double uptime, unsigned long taint, struct bless_verdict *ret)
{
	struct bless_verdict v = {.ok = false};
	int r = 0;

	if (taint & TAINT_DIE)
		r = asprintf(&v.why, "kernel oopsed during this boot (taint D)");
	else if (taint & TAINT_SOFTLOCKUP)
		r = asprintf(&v.why, "kernel reported a soft lockup during this boot (taint L)");
	else if (!system_state)
		r = asprintf(&v.why, "system state unknown");
	else if (streq(system_state, "degraded")) {
		STRV_FOREACH (u, failed_units)
			if (!strv_contains(cfg->allowed_failed_units, *u)) {
				r = asprintf(&v.why, "unit %s failed", *u);
				break;
			}
	} else if (!streq(system_state, "running"))
		r = asprintf(&v.why, "system is %s, not running yet", system_state);

	if (r < 0)
		return -ENOMEM;
	if (!v.why && uptime < cfg->stable_after)
		r = asprintf(&v.why, "up %.0f s of the %u s a boot must stay up", uptime,
		             cfg->stable_after);
	if (r < 0)
		return -ENOMEM;
	v.ok = !v.why;
	*ret = v;
	return 0;
}

static int run_one(const char *path, unsigned timeout, int *ret_status, char *out, size_t outsz)
{
	int pipefd[2];
	pid_t pid;
	time_t deadline = time(NULL) + timeout;
	size_t got = 0;
	int status = 0;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -errno;
	}
	if (pid == 0) {
		/* its own process group: a timeout kills what it started too */
		(void)setpgid(0, 0);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	(void)fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n = got + 1 < outsz ? read(pipefd[0], out + got, outsz - 1 - got) : 0;
		pid_t w;

		if (n > 0)
			got += (size_t)n;
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (time(NULL) >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(pipefd[0]);
			out[got] = 0;
			*ret_status = -ETIMEDOUT;
			return 0;
		}
		usleep(20000);
	}
	if (got + 1 < outsz) {
		ssize_t n = read(pipefd[0], out + got, outsz - 1 - got);
		if (n > 0)
			got += (size_t)n;
	}
	close(pipefd[0]);
	out[got] = 0;
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

static int filter_entry(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

int bless_run_checks(const char *root, unsigned timeout, char **ret_why)
{
	_cleanup_free_ char *dir = path_under_root(root, "/etc/lifeline/check.d");
	struct dirent **list = NULL;
	int n, result = 1;

	if (!dir)
		return -ENOMEM;
	n = scandir(dir, &list, filter_entry, alphasort);
	if (n < 0)
		return errno == ENOENT ? 1 : -errno;
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *p = path_join(dir, list[i]->d_name);
		char out[512];
		struct stat st;
		int status = 0;

		if (result == 1 && p && stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mode & 0111) && run_one(p, timeout, &status, out, sizeof(out)) >= 0 &&
		    status != 0) {
			char *nl = strchr(out, '\n');
			if (nl)
				*nl = 0;
			if (status == -ETIMEDOUT) {
				if (asprintf(ret_why, "check %s timed out after %u s",
				             list[i]->d_name, timeout) < 0)
					*ret_why = NULL;
			} else if (asprintf(ret_why, "check %s exited %d: %s", list[i]->d_name,
			                    status, out) < 0)
				*ret_why = NULL;
			result = 0;
		}
		free(list[i]);
	}
	free(list);
	return result;
}
