/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers the unit tests share: testutil.h. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fileio.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

int tu_mkdtemp(char *buf, size_t size, const char *prefix)
{
	const char *tmp = getenv("LIFELINE_TEST_TMP");

	if ((size_t)snprintf(buf, size, "%s/%sXXXXXX", tmp ? tmp : "/tmp", prefix) >= size)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

bool tu_private_mounts(void)
{
	return geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
	       mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
}

void tu_put(const char *root, const char *rel, const char *text, mode_t mode)
{
	char p[8192], *slash;

	assert_true((size_t)snprintf(p, sizeof(p), "%s%s", root, rel) < sizeof(p));
	slash = strrchr(p, '/');
	assert_non_null(slash);
	*slash = 0;
	assert_int_equal(mkdir_p(p, 0755), 0);
	*slash = '/';
	assert_int_equal(write_file_atomic(p, text, strlen(text), mode), 0);
}

char *tu_slurp(const char *path)
{
	char *text = NULL;

	if (read_full_file(path, 1 << 20, &text, NULL) < 0)
		return NULL;
	return text;
}

char *tu_get(const char *root, const char *rel)
{
	char p[8192];

	assert_true((size_t)snprintf(p, sizeof(p), "%s%s", root, rel) < sizeof(p));
	return tu_slurp(p);
}

bool tu_exists(const char *root, const char *rel)
{
	char p[8192];

	assert_true((size_t)snprintf(p, sizeof(p), "%s%s", root, rel) < sizeof(p));
	return access(p, F_OK) == 0;
}

void tu_var_path(char *buf, size_t size)
{
	const char *ev = getenv("EFIVARFS_PATH");

	assert_non_null(ev);
	assert_true((size_t)snprintf(buf, size, "%s%s-%s", ev, LIFELINE_VAR_NAME,
	                             LIFELINE_GUID_STR) < size);
}

void tu_var_reset(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		int flags = 0;
		(void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
		close(fd);
	}
	(void)unlink(path);
}

int tu_record_load(struct state_record *rec)
{
	struct store *s = NULL;
	int r;

	state_record_init(rec);
	assert_int_equal(store_open(STORE_PREF_EFI, NULL, &s, NULL), 0);
	r = store_load(s, rec);
	store_free(s);
	return r;
}

void tu_record_save(const struct state_record *rec)
{
	struct store *s = NULL;

	assert_int_equal(store_open(STORE_PREF_EFI, NULL, &s, NULL), 0);
	assert_true(store_save(s, rec) >= 0);
	store_free(s);
}

int tu_rm_rf(const char *dir)
{
	char cmd[8192];

	if ((size_t)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) >= sizeof(cmd))
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}

int tu_count_files(const char *dir, const char *suffix)
{
	size_t ls = strlen(suffix);
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t ln = strlen(de->d_name);

		if (ln > ls && strcmp(de->d_name + ln - ls, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

void tu_spawn_line(pid_t *pid, char *line, size_t size, const char *path, char *const argv[])
{
	int fds[2];
	FILE *f;

	assert_int_equal(pipe(fds), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(path, argv);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	assert_non_null(f);
	assert_non_null(fgets(line, (int)size, f));
	fclose(f);
	line[strcspn(line, "\n")] = 0;
}

void tu_collector_start(pid_t *pid, int *port, const char *dir, unsigned timeout, const char *extra)
{
	char cmd[8192], line[64];
	char *argv[] = {"sh", "-c", cmd, NULL};

	assert_true((size_t)snprintf(cmd, sizeof(cmd),
	                             "exec python3 tests/collector.py --port 0 --dir '%s' "
	                             "--timeout %u --schema docs/report.schema.json %s",
	                             dir, timeout, extra ? extra : "") < sizeof(cmd));
	/* the collector prints its port once it listens */
	tu_spawn_line(pid, line, sizeof(line), "/bin/sh", argv);
	*port = atoi(line);
	assert_true(*port > 0);
}

void tu_stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
	}
	*pid = -1;
}

void tu_flock_hold(struct tu_flock *h, const char *dir, int max_ms)
{
	int ready[2], release[2];
	char c;

	assert_int_equal(mkdir_p(dir, 0700), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(release), 0);
	fflush(NULL);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		struct pollfd p = {.fd = release[0], .events = POLLIN};
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		close(ready[0]);
		close(release[1]);
		if (fd < 0 || flock(fd, LOCK_EX) < 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		(void)poll(&p, 1, max_ms); /* POLLHUP when the parent lets go */
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	h->release = release[1];
}

void tu_flock_release(struct tu_flock *h)
{
	int status;

	close(h->release);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	*h = (struct tu_flock){.pid = -1, .release = -1};
}
