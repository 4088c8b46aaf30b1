/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The decision history (agent/history.c) on a temp root: append and read
 * back, a torn last entry (power cut mid-append) skipped and not glued to
 * the next append, a damaged entry in the middle skipped with the others
 * kept, the size bound with rotation to history.1, hostile contents.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/decision/history.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "tests/util/testutil.h"

static char root[4096], hist[4200], hist_old[4200];

static int setup_root(void **state)
{

	(void)state;
	if (tu_mkdtemp(root, sizeof(root), "hist-") < 0)
		return -1;
	snprintf(hist, sizeof(hist), "%s%s", root, HISTORY_FILE);
	snprintf(hist_old, sizeof(hist_old), "%s%s", root, HISTORY_FILE_OLD);
	return 0;
}

static int teardown_root(void **state)
{
	(void)state;
	return tu_rm_rf(root);
}

static char *ev[] = {"RIP: 0010:badsec_crash+0x5/0x10 [badsec]",
                     "Kernel panic - not syncing: Fatal exception", NULL};
static char *comps[] = {"badsec", NULL};

static void append(unsigned boot, char *action)
{
	struct history_entry e = {
	    .time = 1700000000 + boot,
	    .boot_seq = boot,
	    .level = 1,
	    .who = HISTORY_WHO_BOOT,
	    .action = action,
	    .mode = "safe",
	    .reason = "panic log: the crash's RIP is in module badsec",
	    .trigger = streq(action, "escalate") ? (char *)"repeat-crash" : NULL,
	    .evidence = ev,
	    .components = comps,
	};

	assert_int_equal(history_append(root, &e), 0);
}

static void append_raw(const char *path, const char *bytes)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
	close(fd);
}

static void test_append_then_read_gives_every_field_back(void **state)
{
	struct history h;
	struct stat st;

	(void)state;
	append(4, "escalate");
	append(5, "bless");
	assert_int_equal(stat(hist, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.n_damaged, 0);
	assert_int_equal(h.entries[0].boot_seq, 4);
	assert_int_equal(h.entries[0].time, 1700000004);
	assert_int_equal(h.entries[0].level, 1);
	assert_string_equal(h.entries[0].who, "boot");
	assert_string_equal(h.entries[0].action, "escalate");
	assert_string_equal(h.entries[0].mode, "safe");
	assert_string_equal(h.entries[0].reason, "panic log: the crash's RIP is in module badsec");
	assert_string_equal(h.entries[0].trigger, "repeat-crash");
	assert_null(h.entries[1].trigger); /* absent: older entries, decisions of no trigger */
	assert_int_equal(strv_length(h.entries[0].evidence), 2);
	assert_string_equal(h.entries[0].evidence[0], ev[0]);
	assert_string_equal(h.entries[0].components[0], "badsec");
	assert_null(h.entries[0].modules);
	assert_string_equal(h.entries[1].action, "bless");
	history_done(&h);
}

static void test_missing_history_is_empty(void **state)
{
	struct history h;

	(void)state;
	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(h.n_damaged, 0);
}

/* A power cut mid-append leaves part of a line: skipped on read; the
 * next append ends it with a newline, so both good entries survive. */
static void test_torn_tail_is_skipped_and_not_glued_to_next_entry(void **state)
{
	_cleanup_free_ char *line = NULL;
	struct history_entry e = {.boot_seq = 9, .who = "boot", .action = "escalate"};
	struct history h;
	size_t len;

	(void)state;
	append(4, "escalate");
	assert_int_equal(history_format_line(&e, &line, &len), 0);
	line[len / 2] = 0; /* half of an entry, no newline */
	append_raw(hist, line);

	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.n_damaged, 1);
	history_done(&h);

	append(5, "escalate");
	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.n_damaged, 1);
	assert_int_equal(h.entries[0].boot_seq, 4);
	assert_int_equal(h.entries[1].boot_seq, 5);
	history_done(&h);
}

/* A cut made for real: the process dies at the fault point inside
 * history_append(), just before its write: the earlier entry is intact,
 * the cut one is simply absent. */
static void test_power_cut_before_write_loses_only_that_entry(void **state)
{
	struct history h;
	pid_t pid;
	int status;

	(void)state;
	append(4, "escalate");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LIFELINE_FAULT", "history-append", 1);
		append(5, "escalate");
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 99);
	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.entries[0].boot_seq, 4);
	history_done(&h);
}

/* One entry damaged in the middle (a flipped byte, garbage, valid JSON
 * with a wrong checksum, a wrong-typed field): skipped, the rest read. */
static void test_corrupt_middle_entries_are_skipped(void **state)
{
	_cleanup_free_ char *text = NULL, *line = NULL;
	struct history_entry e = {.boot_seq = 7, .who = "boot", .action = "escalate"};
	struct history h;
	size_t size, len;
	char *p;

	(void)state;
	append(4, "escalate");
	append(5, "escalate");
	append(6, "escalate");
	assert_int_equal(read_full_file(hist, 1 << 20, &text, &size), 0);
	/* flip one byte inside the second entry's JSON */
	p = strchr(text, '\n') + 1;
	p = strstr(p, "\"boot\":5");
	assert_non_null(p);
	p[7] = '8';
	assert_int_equal(write_file_atomic(hist, text, size, 0600), 0);
	append_raw(hist, "garbage that is no entry\n");
	append_raw(hist, "00000000 {\"action\":\"clear\",\"who\":\"x\"}\n");
	/* a good checksum over JSON with a field of the wrong type */
	{
		const char *js = "{\"action\":\"clear\",\"who\":\"x\",\"boot\":\"seven\"}";
		char buf[256];

		snprintf(buf, sizeof(buf), "%08x %s\n", 0u, js);
		append_raw(hist, buf);
	}
	assert_int_equal(history_format_line(&e, &line, &len), 0);
	append_raw(hist, line);

	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.n_damaged, 4);
	assert_int_equal(h.entries[0].boot_seq, 4);
	assert_int_equal(h.entries[1].boot_seq, 6);
	assert_int_equal(h.entries[2].boot_seq, 7);
	history_done(&h);
}

/* Past HISTORY_FILE_MAX the file rotates to history.1; reading gives the
 * old file's entries first; the total stays under twice the bound. */
static void test_size_is_bounded_by_rotation(void **state)
{
	struct stat st, st_old;
	struct history h;
	unsigned n = 0;

	(void)state;
	do {
		append(++n, "escalate");
		assert_int_equal(stat(hist, &st), 0);
	} while (access(hist_old, F_OK) < 0 && n < 100000);
	assert_int_equal(stat(hist_old, &st_old), 0);
	assert_true(st_old.st_size <= (off_t)HISTORY_FILE_MAX);
	assert_true(st_old.st_size > (off_t)HISTORY_FILE_MAX / 2);
	/* a second rotation drops the oldest file */
	for (unsigned i = 0; i < n; i++)
		append(n + 1 + i, "escalate");
	assert_int_equal(stat(hist, &st), 0);
	assert_int_equal(stat(hist_old, &st_old), 0);
	assert_true(st.st_size + st_old.st_size <= 2 * (off_t)HISTORY_FILE_MAX);

	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n_damaged, 0);
	assert_true(h.n > n / 2);
	assert_true(h.n < 2 * n);
	assert_true(h.entries[0].boot_seq > 1); /* the oldest were dropped */
	for (size_t i = 1; i < h.n; i++)
		assert_int_equal(h.entries[i].boot_seq, h.entries[i - 1].boot_seq + 1);
	assert_int_equal(h.entries[h.n - 1].boot_seq, 2 * n);
	history_done(&h);
}

/* Long evidence is cut to fit one entry; strings are bounded and control
 * characters never come back out. */
static void test_huge_entry_is_cut_and_strings_are_cleaned(void **state)
{
	_cleanup_strv_free_ char **many = NULL;
	char big[3000];
	struct history_entry e = {.boot_seq = 1,
	                          .who = "boot",
	                          .action = "escalate",
	                          .reason = "line one\nline two\x1b[31m"};
	struct history h;
	struct stat st;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	for (int i = 0; i < 200; i++)
		assert_int_equal(strv_extend(&many, big), 0);
	e.evidence = many;
	assert_int_equal(history_append(root, &e), 0);
	assert_int_equal(stat(hist, &st), 0);
	assert_true(st.st_size <= (off_t)HISTORY_ENTRY_MAX);

	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 1);
	assert_true(strv_length(h.entries[0].evidence) > 0);
	assert_true(strv_length(h.entries[0].evidence) < 200);
	assert_int_equal(strlen(h.entries[0].evidence[0]), HISTORY_STRING_MAX);
	assert_string_equal(h.entries[0].reason, "line one?line two?[31m");
	history_done(&h);
}

/* The hand-written encoder escapes what JSON needs: quotes, backslashes
 * and UTF-8 come back as written. */
static void test_quotes_backslashes_and_utf8_round_trip(void **state)
{
	char *files[] = {"C:\\path \"quoted\"", "caf\xc3\xa9 \xe2\x80\xa6", NULL};
	struct history_entry e = {.boot_seq = 3,
	                          .who = "boot",
	                          .action = "escalate",
	                          .reason = "a \"reason\" with \\ and /",
	                          .files = files};
	struct history h;

	(void)state;
	assert_int_equal(history_append(root, &e), 0);
	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.entries[0].reason, e.reason);
	assert_string_equal(h.entries[0].files[0], files[0]);
	assert_string_equal(h.entries[0].files[1], files[1]);
	history_done(&h);
}

/* json-writer.h's rule: bytes that are not UTF-8 (a pstore line may hold
 * anything) come back as U+FFFD, and a cut at HISTORY_STRING_MAX never
 * splits a character. */
static void test_bad_utf8_is_replaced_and_cuts_keep_characters(void **state)
{
	char long_line[HISTORY_STRING_MAX + 8], *lines[] = {"RIP \xff\xfe end", long_line, NULL};
	struct history_entry e = {
	    .boot_seq = 4, .who = "boot", .action = "escalate", .evidence = lines};
	struct history h;

	(void)state;
	/* 'x' then e-acute (2 bytes) across the cut */
	memset(long_line, 'x', HISTORY_STRING_MAX - 1);
	memcpy(long_line + HISTORY_STRING_MAX - 1, "\xc3\xa9tail", 7);
	long_line[HISTORY_STRING_MAX + 6] = 0;
	assert_int_equal(history_append(root, &e), 0);
	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.entries[0].evidence[0], "RIP \xef\xbf\xbd\xef\xbf\xbd end");
	assert_int_equal(strlen(h.entries[0].evidence[1]), HISTORY_STRING_MAX - 1);
	assert_int_equal(strspn(h.entries[0].evidence[1], "x"), HISTORY_STRING_MAX - 1);
	history_done(&h);
}

/* The short form lifelined uses for a blessing. */
static void test_record_takes_boot_level_and_mode_from_the_state_record(void **state)
{
	struct state_record rec;
	struct history h;

	(void)state;
	state_record_init(&rec);
	rec.boot_seq = 12;
	rec.level = 2;
	rec.mode = STATE_MODE_SAFE;
	assert_int_equal(
	    history_record(root, HISTORY_WHO_DAEMON, "bless", &rec, "healthy for 120 s"), 0);
	assert_int_equal(history_read(root, &h), 0);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.entries[0].boot_seq, 12);
	assert_int_equal(h.entries[0].level, 2);
	assert_string_equal(h.entries[0].mode, "safe");
	assert_string_equal(h.entries[0].who, "lifelined");
	assert_string_equal(h.entries[0].action, "bless");
	assert_string_equal(h.entries[0].reason, "healthy for 120 s");
	assert_true(h.entries[0].time > 1700000000);
	history_done(&h);
}

/* A symlink where the history should be is not followed. */
static void test_symlinked_history_is_refused(void **state)
{
	char target[4300], dir[4300];
	struct history h;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/var/lib/lifeline", root);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	snprintf(target, sizeof(target), "%s/elsewhere", root);
	assert_int_equal(symlink(target, hist), 0);
	struct history_entry e = {.boot_seq = 1, .who = "boot", .action = "escalate"};
	assert_int_equal(history_append(root, &e), -ELOOP);
	assert_int_equal(access(target, F_OK), -1);
	assert_int_equal(history_read(root, &h), -ELOOP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_append_then_read_gives_every_field_back,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_missing_history_is_empty, setup_root,
	                                    teardown_root),
	    cmocka_unit_test_setup_teardown(test_torn_tail_is_skipped_and_not_glued_to_next_entry,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_power_cut_before_write_loses_only_that_entry,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_corrupt_middle_entries_are_skipped, setup_root,
	                                    teardown_root),
	    cmocka_unit_test_setup_teardown(test_size_is_bounded_by_rotation, setup_root,
	                                    teardown_root),
	    cmocka_unit_test_setup_teardown(test_huge_entry_is_cut_and_strings_are_cleaned,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_bad_utf8_is_replaced_and_cuts_keep_characters,
	                                    setup_root, teardown_root),
	    cmocka_unit_test_setup_teardown(test_quotes_backslashes_and_utf8_round_trip, setup_root,
	                                    teardown_root),
	    cmocka_unit_test_setup_teardown(
	        test_record_takes_boot_level_and_mode_from_the_state_record, setup_root,
	        teardown_root),
	    cmocka_unit_test_setup_teardown(test_symlinked_history_is_refused, setup_root,
	                                    teardown_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
