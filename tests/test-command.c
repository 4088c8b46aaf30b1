/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signed fleet commands: every rejection with its own reason (forged,
 * unsigned, wrong key, malformed, wrong target, expired, replayed), a
 * valid command applied exactly once (also across a power cut after the
 * seq write), the real lifelinectl actions, polling a loopback server.
 * Keys are generated here, in the test's temp dir; the only fixed key is
 * the public half in tests/data/command (its private half was thrown
 * away).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/command/command.h"
#include "agent/conf/config.h"
#include "agent/ctl/ctl.h"
#include "agent/decision/runstate.h"
#include "agent/report/spool.h"
#include "common/fileio.h"
#include "common/strv.h"
#include "efi/store.h"
#include "tests/util/testutil.h"

#define MACHINE_ID "4f1c2a9be0d34c7a8f0e6b5d3c2a1f09"
#define OTHER_ID   "0123456789abcdef0123456789abcdef"

static char keys[1024], root[1024], var_path[4096];
static EVP_PKEY *fleet, *rogue;
static struct lifeline_config cfg;
static int64_t now;

/* ---- fixtures ---- */

static void put(const char *rel, const char *text)
{
	tu_put(root, rel, text, 0644);
}

static void reset_var(void)
{
	tu_var_reset(var_path);
}

static int group_setup(void **state)
{
	char a[2048], b[2048];

	(void)state;
	if (tu_mkdtemp(keys, sizeof(keys), "keys-") < 0)
		return -1;
	snprintf(a, sizeof(a), "%s/fleet.key", keys);
	snprintf(b, sizeof(b), "%s/fleet.pub", keys);
	if (command_keygen(a, b) < 0 || command_key_load_private(a, &fleet) < 0)
		return -1;
	snprintf(a, sizeof(a), "%s/rogue.key", keys);
	snprintf(b, sizeof(b), "%s/rogue.pub", keys);
	if (command_keygen(a, b) < 0 || command_key_load_private(a, &rogue) < 0)
		return -1;
	tu_var_path(var_path, sizeof(var_path));
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[2048];

	(void)state;
	EVP_PKEY_free(fleet);
	EVP_PKEY_free(rogue);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", keys);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	char p[2048], *pub;

	(void)state;
	if (tu_mkdtemp(root, sizeof(root), "cmd-") < 0)
		return -1;
	reset_var();
	put("/etc/machine-id", MACHINE_ID "\n");
	put("/etc/lifeline/lifeline.conf", "[boot]\nstore = efi\n"
	                                   "[report]\nurl = http://127.0.0.1:9/r\n"
	                                   "[commands]\npublic_key = /etc/lifeline/fleet.pub\n");
	snprintf(p, sizeof(p), "%s/fleet.pub", keys);
	pub = tu_slurp(p);
	assert_non_null(pub);
	put("/etc/lifeline/fleet.pub", pub);
	free(pub);
	config_init_defaults(&cfg);
	assert_int_equal(config_load(root, &cfg), 0);
	now = (int64_t)time(NULL);
	return 0;
}

static int teardown(void **state)
{
	char cmd[2048];

	(void)state;
	config_done(&cfg);
	reset_var();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* A document for (action, components "a,b", targets "x,y", seq, expires). */
static char *doc_with(EVP_PKEY *key, const char *action, const char *components,
                      const char *targets, uint64_t seq, int64_t expires)
{
	struct command c = {.seq = seq, .expires = expires, .issued = now - 5};
	char *body = NULL, *doc = NULL;

	assert_true(command_action_from_string(action) >= 0);
	c.action = (enum command_action)command_action_from_string(action);
	assert_int_equal(strv_split_ws(components ? components : "", &c.components), 0);
	assert_int_equal(strv_split_ws(targets, &c.targets), 0);
	assert_int_equal(command_body_format(&c, &body), 0);
	assert_int_equal(command_sign(key, body, strlen(body), &doc), 0);
	free(body);
	command_done(&c);
	return doc;
}

static char *doc_signed(EVP_PKEY *key, const char *body)
{
	char *doc = NULL;

	assert_int_equal(command_sign(key, body, strlen(body), &doc), 0);
	return doc;
}

struct counter {
	int n;
	enum command_action last;
	char marker[4096]; /* when set, each application appends a line here */
};

static int count_apply(const char *r, const struct command *c, void *userdata)
{
	struct counter *k = userdata;

	(void)r;
	k->n++;
	k->last = c->action;
	if (k->marker[0]) {
		FILE *f = fopen(k->marker, "a");
		fprintf(f, "applied %" PRIu64 "\n", c->seq);
		fclose(f);
	}
	return CTL_EXIT_OK;
}

static struct counter counter;
static const struct command_applier counting = {.apply = count_apply, .userdata = &counter};

/* Judges doc; returns the verdict (asserts the judging itself worked). */
static enum command_verdict judge(const char *doc)
{
	struct command_check chk;
	enum command_verdict v;
	int code = -1, r;

	r = command_process(root, &cfg, doc, strlen(doc), "test", &counting, now, &chk, &code);
	assert_int_equal(r, 0);
	v = chk.verdict;
	assert_int_equal(code, v == COMMAND_ACCEPTED ? CTL_EXIT_OK : CTL_EXIT_FAILURE);
	if (v != COMMAND_ACCEPTED)
		print_message("      rejected %s: %s\n", command_verdict_to_string(v), chk.detail);
	command_check_done(&chk);
	return v;
}

#define assert_verdict(doc, v)                                                         \
	do {                                                                           \
		enum command_verdict _v = judge(doc);                                  \
		if (_v != (v))                                                         \
			fail_msg("verdict %s, want %s", command_verdict_to_string(_v), \
			         command_verdict_to_string(v));                        \
	} while (0)

/* The command objects of the spooled reports, oldest first. */
static json_object *spooled_commands(void)
{
	json_object *a = json_object_new_array();
	char **names = NULL, p[4096], *t;

	assert_int_equal(spool_list(root, &names), 0);
	STRV_FOREACH (n, names) {
		json_object *o, *c, *ev;

		snprintf(p, sizeof(p), "%s%s/%s", root, SPOOL_DIR, *n);
		t = tu_slurp(p);
		assert_non_null(t);
		o = json_tokener_parse(t);
		free(t);
		assert_non_null(o);
		assert_true(json_object_object_get_ex(o, "event", &ev));
		if (streq(json_object_get_string(ev), "command")) {
			assert_true(json_object_object_get_ex(o, "command", &c));
			json_object_array_add(a, json_object_get(c));
		}
		json_object_put(o);
	}
	strv_free(names);
	return a;
}

static const char *field(json_object *a, size_t i, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(json_object_array_get_idx(a, i), key, &v));
	return json_object_get_string(v);
}

/* ---- tests ---- */

static void test_valid_command_applied_exactly_once(void **state)
{
	char *doc = doc_with(fleet, "clear", NULL, "all", 5, now + 600), p[4096], *t, sha[65];
	uint64_t seq = 0;
	json_object *reports;

	(void)state;
	memset(&counter, 0, sizeof(counter));
	assert_verdict(doc, COMMAND_ACCEPTED);
	assert_int_equal(counter.n, 1);
	assert_int_equal(counter.last, COMMAND_ACTION_CLEAR);
	assert_int_equal(command_seq_read(root, &seq, sha), 0);
	assert_int_equal(seq, 5);
	snprintf(p, sizeof(p), "%s%s", root, COMMAND_SEQ_FILE);
	t = tu_slurp(p);
	assert_non_null(t);
	/* one line a source: the fleet-wide one moved, the other did not */
	assert_int_equal(strlen(t), 6 + 64 + 1 + 10 + 64 + 1);
	assert_true(strncmp(t, "all 5 ", 6) == 0);
	assert_true(strncmp(t + 6, sha, 64) == 0);
	assert_true(strncmp(t + 71, "machine 0 0000", 14) == 0);
	free(t);

	/* the same file again: a replay, not applied */
	assert_verdict(doc, COMMAND_REJECT_REPLAY);
	assert_int_equal(counter.n, 1);
	free(doc);
	/* a lower seq, validly signed */
	doc = doc_with(fleet, "bless", NULL, "all", 3, now + 600);
	assert_verdict(doc, COMMAND_REJECT_REPLAY);
	free(doc);
	/* the same seq with another body */
	doc = doc_with(fleet, "bless", NULL, "all", 5, now + 600);
	assert_verdict(doc, COMMAND_REJECT_REPLAY);
	free(doc);
	assert_int_equal(counter.n, 1);
	/* the next seq is fine */
	doc = doc_with(fleet, "bless", NULL, MACHINE_ID, 6, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	assert_int_equal(counter.n, 2);

	/* each outcome became a report with its reason */
	reports = spooled_commands();
	assert_int_equal(json_object_array_length(reports), 5);
	assert_string_equal(field(reports, 0, "result"), "accepted");
	assert_string_equal(field(reports, 0, "reason"), "accepted");
	assert_string_equal(field(reports, 0, "action"), "clear");
	assert_string_equal(field(reports, 1, "result"), "rejected");
	assert_string_equal(field(reports, 1, "reason"), "replay");
	assert_string_equal(field(reports, 4, "result"), "accepted");
	json_object_put(reports);
}

static void test_power_cut_after_seq_write_loses_the_command_never_replays_it(void **state)
{
	char *doc = doc_with(fleet, "clear", NULL, "all", 9, now + 600);
	uint64_t seq = 0;
	pid_t pid;
	int st;

	(void)state;
	memset(&counter, 0, sizeof(counter));
	snprintf(counter.marker, sizeof(counter.marker), "%s/applied", root);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct command_check chk;
		setenv("LIFELINE_FAULT", "command-seq-written", 1);
		(void)command_process(root, &cfg, doc, strlen(doc), "test", &counting, now, &chk,
		                      NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 99); /* "power cut" */
	assert_int_equal(access(counter.marker, F_OK), -1);
	assert_int_equal(command_seq_read(root, &seq, NULL), 0);
	assert_int_equal(seq, 9);

	/* the document is fetched again after the reboot: refused */
	assert_verdict(doc, COMMAND_REJECT_REPLAY);
	assert_int_equal(access(counter.marker, F_OK), -1);
	free(doc);
}

static void test_forged_and_unsigned_are_rejected(void **state)
{
	char *doc = doc_with(fleet, "clear", NULL, "all", 5, now + 600), *bad, *p;

	(void)state;
	memset(&counter, 0, sizeof(counter));
	/* the body changed after signing */
	bad = strdup(doc);
	p = strstr(bad, "\"seq\":5");
	p[6] = '7';
	assert_verdict(bad, COMMAND_REJECT_BAD_SIGNATURE);
	free(bad);
	/* the signature changed */
	bad = strdup(doc);
	p = strrchr(bad, ' ') + 10;
	*p = *p == 'A' ? 'B' : 'A';
	assert_verdict(bad, COMMAND_REJECT_BAD_SIGNATURE);
	free(bad);
	/* signature cut short */
	bad = strdup(doc);
	strcpy(strrchr(bad, ' ') + 20, "\n");
	assert_verdict(bad, COMMAND_REJECT_BAD_SIGNATURE);
	free(bad);
	/* a signature line of another format */
	bad = strdup(doc);
	p = strstr(bad, "ed25519");
	memcpy(p, "ed448  ", 7);
	assert_verdict(bad, COMMAND_REJECT_BAD_SIGNATURE);
	free(bad);
	/* text after the signature line */
	assert_int_equal(asprintf(&bad, "%sextra\n", doc), strlen(doc) + 6);
	assert_verdict(bad, COMMAND_REJECT_MALFORMED);
	free(bad);

	/* no signature at all */
	bad = strdup(doc);
	*strchr(bad, '\n') = 0;
	assert_verdict(bad, COMMAND_REJECT_UNSIGNED);
	strcat(bad, "\n");
	assert_verdict(bad, COMMAND_REJECT_UNSIGNED);
	strcat(bad, "trust me\n");
	assert_verdict(bad, COMMAND_REJECT_UNSIGNED);
	free(bad);
	assert_int_equal(counter.n, 0);
	free(doc);
}

static void test_wrong_key_is_rejected(void **state)
{
	char *doc = doc_with(rogue, "clear", NULL, "all", 5, now + 600), our_id[17], *p;

	(void)state;
	memset(&counter, 0, sizeof(counter));
	assert_verdict(doc, COMMAND_REJECT_WRONG_KEY);
	/* claiming the fleet key's id does not help */
	assert_int_equal(command_key_id(fleet, our_id), 0);
	p = strstr(doc, "ed25519 ") + 8;
	memcpy(p, our_id, 16);
	assert_verdict(doc, COMMAND_REJECT_BAD_SIGNATURE);
	assert_int_equal(counter.n, 0);
	free(doc);
}

static void test_expired_and_wrong_target_are_rejected(void **state)
{
	char *doc;

	(void)state;
	memset(&counter, 0, sizeof(counter));
	doc = doc_with(fleet, "clear", NULL, "all", 5, now - 1);
	assert_verdict(doc, COMMAND_REJECT_EXPIRED);
	free(doc);
	doc = doc_with(fleet, "clear", NULL, OTHER_ID, 5, now + 600);
	assert_verdict(doc, COMMAND_REJECT_WRONG_TARGET);
	free(doc);
	assert_int_equal(counter.n, 0);
	/* the rejections did not use up the seq */
	doc = doc_with(fleet, "clear", NULL, OTHER_ID " " MACHINE_ID, 5, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	assert_int_equal(counter.n, 1);

	/* without a machine-id only "all" matches */
	{
		char p[2048];
		snprintf(p, sizeof(p), "%s/etc/machine-id", root);
		unlink(p);
	}
	doc = doc_with(fleet, "clear", NULL, MACHINE_ID, 6, now + 600);
	assert_verdict(doc, COMMAND_REJECT_WRONG_TARGET);
	free(doc);
}

static void test_malformed_bodies_are_rejected_each_with_its_reason(void **state)
{
	static const struct {
		const char *body;
		enum command_verdict v;
	} cases[] = {
	    {"not json", COMMAND_REJECT_MALFORMED},
	    {"[1,2]", COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":5,\"expires\":"
	     "4102444800,\"issued\":1} x",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":5,\"expires\":"
	     "4102444800,\"issued\":1",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":2,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":5,\"expires\":"
	     "4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":5,\"expires\":"
	     "4102444800,\"issued\":1,\"x\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[],\"seq\":5,\"expires\":4102444800,"
	     "\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\",\"" MACHINE_ID
	     "\"],\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"ALL\"],\"seq\":5,\"expires\":"
	     "4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":0,\"expires\":"
	     "4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":\"5\",\"expires\":"
	     "4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":5.0,\"expires\":"
	     "4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":"
	     "99999999999999999999,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":5,\"expires\":"
	     "4102444800,\"issued\":4102444801}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"components\":[\"../"
	     "etc\"],\"targets\":[\"all\"],\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"components\":[\"a\",\"a\"],\"targets\":["
	     "\"all\"],\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"quarantine\",\"components\":[],\"targets\":[\"all\"],"
	     "\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"reboot\",\"components\":[\"a\"],\"targets\":[\"all\"],"
	     "\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{'version':1}", COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"components\":[\"a\\u0000b\"],\"targets\":["
	     "\"all\"],\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED},
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":5,\"seq\":50,"
	     "\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_DUPLICATE_KEY},
	    {"{\"version\":1,\"action\":\"clear\",\"action\":\"clear\",\"targets\":[\"all\"],"
	     "\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_DUPLICATE_KEY},
	    {"{\"version\":1,\"action\":\"format-disk\",\"targets\":[\"all\"],\"seq\":5,"
	     "\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_UNKNOWN_ACTION},
	    {"{\"version\":1,\"action\":\"clear\",\"components\":[\"caf\xc3\xa9\"],\"targets\":["
	     "\"all\"],\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_MALFORMED}, /* valid UTF-8, not a component id */
	    {"{\"version\":1,\"action\":\"clear\",\"components\":[\"caf\xe9\"],\"targets\":["
	     "\"all\"],\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_NOT_UTF8},
	    {"{\"version\":1,\"action\":\"clear\",\"components\":[\"\xc0\xaf\"],\"targets\":["
	     "\"all\"],\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_NOT_UTF8}, /* overlong '/' */
	    {"{\"version\":1,\"action\":\"clear\",\"components\":[\"\xed\xa0\x80\"],\"targets\":["
	     "\"all\"],\"seq\":5,\"expires\":4102444800,\"issued\":1}",
	     COMMAND_REJECT_NOT_UTF8}, /* a surrogate */
	    {"{\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],\"seq\":5,\"expires\":"
	     "4102444800,\"issued\":1}",
	     COMMAND_ACCEPTED}, /* "components" may be left out */
	};

	(void)state;
	memset(&counter, 0, sizeof(counter));
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *doc = doc_signed(fleet, cases[i].body);
		enum command_verdict v = judge(doc);

		if (v != cases[i].v)
			fail_msg("case %zu (%s): verdict %s, want %s", i, cases[i].body,
			         command_verdict_to_string(v),
			         command_verdict_to_string(cases[i].v));
		free(doc);
	}
	assert_int_equal(counter.n, 1);
}

static void test_too_long_is_rejected_before_anything_else(void **state)
{
	char *body = malloc(COMMAND_DOC_MAX + 10), *doc;

	(void)state;
	memset(&counter, 0, sizeof(counter));
	/* a body past the body limit (validly signed) */
	memset(body, ' ', COMMAND_BODY_MAX + 1);
	body[0] = '{';
	strcpy(body + COMMAND_BODY_MAX + 1 - 1, "}");
	doc = doc_signed(fleet, body);
	assert_verdict(doc, COMMAND_REJECT_TOO_LONG);
	free(doc);
	/* a document past the document limit */
	memset(body, 'x', COMMAND_DOC_MAX + 1);
	body[COMMAND_DOC_MAX + 1] = 0;
	assert_verdict(body, COMMAND_REJECT_TOO_LONG);
	free(body);
	assert_int_equal(counter.n, 0);
}

static void test_judging_needs_key_and_sound_seq_file(void **state)
{
	char *doc = doc_with(fleet, "clear", NULL, "all", 5, now + 600), p[2048];
	struct command_check chk;

	(void)state;
	memset(&counter, 0, sizeof(counter));
	/* a damaged seq file refuses everything (a lost seq must not re-open
	 * replays) */
	put(COMMAND_SEQ_FILE, "garbage\n");
	assert_int_equal(
	    command_process(root, &cfg, doc, strlen(doc), "t", &counting, now, &chk, NULL),
	    -EUCLEAN);
	put(COMMAND_SEQ_FILE, "4 0123\n");
	assert_int_equal(
	    command_process(root, &cfg, doc, strlen(doc), "t", &counting, now, &chk, NULL),
	    -EUCLEAN);
	snprintf(p, sizeof(p), "%s%s", root, COMMAND_SEQ_FILE);
	unlink(p);
	/* no public key */
	snprintf(p, sizeof(p), "%s/etc/lifeline/fleet.pub", root);
	unlink(p);
	assert_int_equal(
	    command_process(root, &cfg, doc, strlen(doc), "t", &counting, now, &chk, NULL),
	    -ENOKEY);
	/* a public key that is not Ed25519 PEM */
	put("/etc/lifeline/fleet.pub",
	    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
	assert_true(command_process(root, &cfg, doc, strlen(doc), "t", &counting, now, &chk, NULL) <
	            0);
	assert_int_equal(counter.n, 0);
	free(doc);
}

static void test_real_actions_through_lifelinectl_functions(void **state)
{
	struct quarantine_entry *active = NULL;
	struct command_check chk;
	unsigned n = 99;
	char *doc;
	int code = -1;

	(void)state;
	put("/etc/lifeline/components.d/examplesec.conf",
	    "[examplesec]\nvendor = Example\nmodules = examplesec\nfiles = "
	    "/opt/examplesec/bin/*\n");
	doc = doc_with(fleet, "quarantine", "examplesec", "all", 10, now + 600);
	assert_int_equal(command_process(root, &cfg, doc, strlen(doc), "t", NULL, now, &chk, &code),
	                 0);
	assert_int_equal(chk.verdict, COMMAND_ACCEPTED);
	assert_int_equal(code, CTL_EXIT_OK);
	command_check_done(&chk);
	free(doc);
	assert_int_equal(quarantine_active_read(root, &active, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(active[0].id, "examplesec");
	free(active);

	/* an unknown component: accepted (signed, fresh) but applying fails,
	 * and the report says so */
	doc = doc_with(fleet, "quarantine", "nosuch", "all", 11, now + 600);
	assert_int_equal(command_process(root, &cfg, doc, strlen(doc), "t", NULL, now, &chk, &code),
	                 0);
	assert_int_equal(chk.verdict, COMMAND_ACCEPTED);
	assert_int_not_equal(code, CTL_EXIT_OK);
	command_check_done(&chk);
	free(doc);

	doc = doc_with(fleet, "clear", NULL, MACHINE_ID, 12, now + 600);
	assert_int_equal(command_process(root, &cfg, doc, strlen(doc), "t", NULL, now, &chk, &code),
	                 0);
	assert_int_equal(code, CTL_EXIT_OK);
	command_check_done(&chk);
	free(doc);
	active = NULL;
	assert_int_equal(quarantine_active_read(root, &active, &n), 0);
	assert_int_equal(n, 0);
	free(active);

	/* reboot under --root: accepted, nothing rebooted */
	doc = doc_with(fleet, "reboot", NULL, "all", 13, now + 600);
	assert_int_equal(command_process(root, &cfg, doc, strlen(doc), "t", NULL, now, &chk, &code),
	                 0);
	assert_int_equal(code, CTL_EXIT_OK);
	command_check_done(&chk);
	free(doc);

	{
		json_object *r = spooled_commands();
		json_object *applied;
		assert_int_equal(json_object_array_length(r), 4);
		assert_true(json_object_object_get_ex(json_object_array_get_idx(r, 1), "applied",
		                                      &applied));
		assert_false(json_object_get_boolean(applied));
		json_object_put(r);
	}
}

static void test_keygen_writes_private_0600_and_never_overwrites(void **state)
{
	char a[2048], b[2048];
	struct stat st;
	EVP_PKEY *k = NULL;

	(void)state;
	snprintf(a, sizeof(a), "%s/k.key", root);
	snprintf(b, sizeof(b), "%s/k.pub", root);
	assert_int_equal(command_keygen(a, b), 0);
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(command_key_load_public(b, &k), 0);
	EVP_PKEY_free(k);
	assert_int_equal(command_keygen(a, b), -EEXIST);
	/* a private key is not a public key file */
	assert_true(command_key_load_public(a, &k) < 0);
}

/* ---- polling a loopback server ---- */

static pid_t server_pid = -1;

static int start_server(const char *serve_dir)
{
	char log_dir[2048], extra[2100];
	int port;

	snprintf(log_dir, sizeof(log_dir), "%s/srv-log", root);
	snprintf(extra, sizeof(extra), "--serve '%s'", serve_dir);
	tu_collector_start(&server_pid, &port, log_dir, 60, extra);
	return port;
}

static void stop_server(void)
{
	tu_stop(&server_pid);
}

static void test_poll_fetches_machine_and_all_documents_lowest_seq_first(void **state)
{
	struct command_poller poller = {0};
	char dir[2048], p[4096], url[256], *doc;
	unsigned judged = 99;
	uint64_t seq = 0;
	int port;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/srv", root);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	port = start_server(dir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/fleet/", port);
	free(cfg.commands_url);
	cfg.commands_url = strdup(url);

	/* nothing published: 404s are no error */
	assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
	assert_int_equal(judged, 0);

	/* the machine's own document has the higher seq: all.cmd goes first */
	doc = doc_with(fleet, "bless", NULL, MACHINE_ID, 21, now + 600);
	snprintf(p, sizeof(p), "%s/%s.cmd", dir, MACHINE_ID);
	assert_int_equal(write_file_atomic(p, doc, strlen(doc), 0644), 0);
	free(doc);
	doc = doc_with(fleet, "clear", NULL, "all", 20, now + 600);
	snprintf(p, sizeof(p), "%s/all.cmd", dir);
	assert_int_equal(write_file_atomic(p, doc, strlen(doc), 0644), 0);
	free(doc);

	assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
	assert_int_equal(judged, 2);
	assert_int_equal(command_seq_read(root, &seq, NULL), 0);
	assert_int_equal(seq, 21);
	{
		json_object *r = spooled_commands();
		assert_int_equal(json_object_array_length(r), 2);
		assert_string_equal(field(r, 0, "action"), "clear");
		assert_string_equal(field(r, 0, "result"), "accepted");
		assert_string_equal(field(r, 1, "action"), "bless");
		assert_string_equal(field(r, 1, "result"), "accepted");
		assert_non_null(strstr(field(r, 1, "source"), MACHINE_ID ".cmd"));
		json_object_put(r);
	}

	/* the server keeps serving the same files: no new judgement, no report */
	assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
	assert_int_equal(judged, 0);
	/* nor after a restart of the agent (a fresh poller): both documents
	 * were applied (each source keeps its own) */
	memset(&poller, 0, sizeof(poller));
	assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
	assert_int_equal(judged, 0);
	/* and without the poller's state file: fetched in full, known by the
	 * seq file's hashes, still no judgement */
	snprintf(p, sizeof(p), "%s%s", root, COMMAND_POLL_STATE_FILE);
	assert_int_equal(unlink(p), 0);
	memset(&poller, 0, sizeof(poller));
	assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
	assert_int_equal(judged, 0);
	assert_int_equal(poller.stats.full, 2);
	stop_server();
}

/* How many requests of the server's log are "GET PATH STATUS". */
static int count_requests(const char *path, int status)
{
	char p[2048], want[512], *t, *at;
	int n = 0;

	snprintf(p, sizeof(p), "%s/srv-log/requests.log", root);
	t = tu_slurp(p);
	if (!t)
		return 0;
	snprintf(want, sizeof(want), "GET %s %d\n", path, status);
	for (at = t; (at = strstr(at, want)); at += strlen(want))
		n++;
	free(t);
	return n;
}

static void test_poll_is_conditional_304_when_unchanged(void **state)
{
	struct command_poller poller = {0};
	char dir[2048], p[4096], url[256], *doc;
	unsigned judged = 99;
	int port;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/srv", root);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	port = start_server(dir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/fleet", port);
	free(cfg.commands_url);
	cfg.commands_url = strdup(url);
	doc = doc_with(fleet, "bless", NULL, "all", 40, now + 600);
	snprintf(p, sizeof(p), "%s/all.cmd", dir);
	assert_int_equal(write_file_atomic(p, doc, strlen(doc), 0644), 0);
	free(doc);

	assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
	assert_int_equal(judged, 1);
	assert_int_equal(count_requests("/fleet/all.cmd", 200), 1);
	assert_true(poller.url[1].etag[0] == '"');
	assert_true(poller.url[1].last_modified[0] != 0);
	/* unchanged: 304, no body, no judgement */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
		assert_int_equal(judged, 0);
	}
	assert_int_equal(count_requests("/fleet/all.cmd", 304), 3);
	assert_int_equal(poller.stats.not_modified, 3);
	assert_int_equal(poller.stats.full, 1);
	/* the machine's own file is absent: 404 every time, no validators */
	assert_int_equal(count_requests("/fleet/" MACHINE_ID ".cmd", 404), 4);
	assert_int_equal(poller.url[0].etag[0], 0);

	/* If-Modified-Since alone (a server that sends no ETag) */
	poller.url[1].etag[0] = 0;
	assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
	assert_int_equal(count_requests("/fleet/all.cmd", 304), 4);

	/* a new document: fetched in full and judged */
	sleep(1); /* another mtime: another ETag */
	doc = doc_with(fleet, "bless", NULL, "all", 41, now + 600);
	assert_int_equal(write_file_atomic(p, doc, strlen(doc), 0644), 0);
	free(doc);
	assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
	assert_int_equal(judged, 1);
	assert_int_equal(count_requests("/fleet/all.cmd", 200), 2);

	/* a restarted agent (a fresh poller) reads the validators back */
	memset(&poller, 0, sizeof(poller));
	assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
	assert_int_equal(judged, 0);
	assert_int_equal(count_requests("/fleet/all.cmd", 304), 5);
	/* every 12th poll is unconditional (the validators may miss a change):
	 * fetched in full, known, not judged again */
	assert_int_equal(poller.polls, 7);
	for (int i = 7; i < 12; i++) {
		assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
		assert_int_equal(judged, 0);
	}
	assert_int_equal(count_requests("/fleet/all.cmd", 304), 9);
	assert_int_equal(count_requests("/fleet/all.cmd", 200), 3);
	assert_int_equal(poller.stats.full, 1);
	/* and the delay until the next poll is around the interval */
	assert_true(command_poll_next_delay(&poller) >= cfg.commands_poll_interval * 900ULL);
	assert_true(command_poll_next_delay(&poller) < cfg.commands_poll_interval * 1100ULL);
	stop_server();
}

static void test_poll_backs_off_and_honours_retry_after(void **state)
{
	struct command_poller poller = {0};
	char dir[2048], url[256], extra[512], date[64];
	unsigned judged = 99;
	uint64_t d, P;
	time_t t;
	struct tm tm;
	int port;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/srv", root);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	cfg.commands_poll_interval = 60;
	P = 60000;

	/* 503 with Retry-After in seconds */
	tu_collector_start(&server_pid, &port, dir, 60, "--get-status 503 --retry-after 600");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/fleet", port);
	free(cfg.commands_url);
	cfg.commands_url = strdup(url);
	assert_true(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged) < 0);
	assert_int_equal(poller.failures, 1);
	d = command_poll_next_delay(&poller);
	assert_true(d >= 600000 && d < 600000 + 61000);
	stop_server();

	/* 429 with an HTTP-date five minutes ahead */
	t = (time_t)now + 300;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(extra, sizeof(extra), "--get-status 429 --retry-after '%s'", date);
	tu_collector_start(&server_pid, &port, dir, 60, extra);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/fleet", port);
	free(cfg.commands_url);
	cfg.commands_url = strdup(url);
	assert_true(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged) < 0);
	assert_int_equal(poller.failures, 2);
	d = command_poll_next_delay(&poller);
	assert_true(d >= 300000 && d < 300000 + 31000);
	stop_server();

	/* 500 without Retry-After: doubling from the interval */
	tu_collector_start(&server_pid, &port, dir, 60, "--get-status 500");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/fleet", port);
	free(cfg.commands_url);
	cfg.commands_url = strdup(url);
	assert_true(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged) < 0);
	assert_int_equal(poller.failures, 3);
	d = command_poll_next_delay(&poller);
	assert_true(d >= 4 * P && d < 6 * P);
	/* the failure count survives a restart (the state file) */
	memset(&poller, 0, sizeof(poller));
	assert_true(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged) < 0);
	assert_int_equal(poller.failures, 4);
	d = command_poll_next_delay(&poller);
	assert_true(d >= 8 * P && d < 12 * P);
	stop_server();

	/* nobody listening: a failure too */
	assert_true(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged) < 0);
	assert_int_equal(poller.failures, 5);

	/* the server is back (404s are no failure): the normal interval */
	port = start_server(dir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/fleet", port);
	free(cfg.commands_url);
	cfg.commands_url = strdup(url);
	assert_int_equal(command_poll(&poller, root, &cfg, NULL, NULL, now, &judged), 0);
	assert_int_equal(poller.failures, 0);
	d = command_poll_next_delay(&poller);
	assert_true(d >= P * 9 / 10 && d < P * 11 / 10);
	stop_server();
}

static void test_poll_delay_jitter_bounds(void **state)
{
	uint64_t lo = UINT64_MAX, hi = 0, d;
	int low_half = 0, high_half = 0;

	(void)state;
	/* the first poll: anywhere in [0, P) */
	for (int i = 0; i < 20000; i++) {
		d = command_poll_first_delay(300);
		assert_true(d < 300000);
		low_half += d < 30000;
		high_half += d >= 270000;
	}
	/* about 2000 each; never none */
	assert_true(low_half > 1000 && high_half > 1000);
	/* after a poll: [0.9 P, 1.1 P), spread over all of it */
	for (int i = 0; i < 20000; i++) {
		d = command_poll_delay(300, 0, -1);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo >= 270000 && lo < 271000);
	assert_true(hi <= 330000 && hi > 329000);
	/* back-off: P * 2^(k-1) * [1, 1.5), capped at an hour */
	for (unsigned k = 1; k <= 10; k++) {
		uint64_t base = 300000ULL << (k - 1);

		if (base > 3600000)
			base = 3600000;
		for (int i = 0; i < 1000; i++) {
			d = command_poll_delay(300, k, -1);
			assert_true(d >= base && d <= base + base / 2);
		}
	}
	/* an interval longer than the cap is the cap */
	d = command_poll_delay(7200, 5, -1);
	assert_true(d >= 7200000 && d <= 10800000);
	/* Retry-After wins when longer, capped at an hour (a day would hold a
	 * signed clear back from a machine in safe mode) */
	d = command_poll_delay(300, 1, 3000);
	assert_true(d >= 3000000 && d <= 3301000);
	d = command_poll_delay(300, 1, 10 * 86400);
	assert_true(d >= 3600000ULL && d <= 3600000ULL * 11 / 10 + 1000);
	/* a shorter one does not shorten the back-off */
	d = command_poll_delay(300, 3, 5);
	assert_true(d >= 1200000);
}

static void test_retry_after_both_forms(void **state)
{
	const int64_t t0 = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

	(void)state;
	assert_int_equal(command_retry_after_parse("120", t0), 120);
	assert_int_equal(command_retry_after_parse(" 0 ", t0), 0);
	assert_int_equal(command_retry_after_parse("-5", t0), -1);
	assert_int_equal(command_retry_after_parse("12s", t0), -1);
	assert_int_equal(command_retry_after_parse("soon", t0), -1);
	assert_int_equal(command_retry_after_parse("", t0), -1);
	assert_int_equal(command_retry_after_parse(NULL, t0), -1);
	/* the HTTP-date forms: IMF-fixdate, RFC 850, asctime */
	assert_int_equal(command_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", t0 - 10), 10);
	assert_int_equal(command_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", t0 - 10), 10);
	assert_int_equal(command_retry_after_parse("Sun Nov  6 08:49:37 1994", t0 - 10), 10);
	/* in the past: now */
	assert_int_equal(command_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", t0 + 99), 0);
}

/* ---- the committed fixture ---- */

static void test_committed_document_still_verifies(void **state)
{
	EVP_PKEY *pub = NULL;
	struct command_check chk;
	char *doc = NULL;
	size_t size = 0;

	(void)state;
	assert_int_equal(command_key_load_public("tests/data/command/fleet-test.pub", &pub), 0);
	assert_int_equal(
	    read_full_file("tests/data/command/clear-all-seq1.cmd", COMMAND_DOC_MAX, &doc, &size),
	    0);
	assert_int_equal(command_verify(doc, size, pub, MACHINE_ID, 0, 1767225600, &chk), 0);
	assert_int_equal(chk.verdict, COMMAND_ACCEPTED);
	assert_int_equal(chk.cmd.action, COMMAND_ACTION_CLEAR);
	assert_int_equal(chk.cmd.seq, 1);
	assert_string_equal(chk.cmd.targets[0], "all");
	command_check_done(&chk);
	/* and a key generated here is not that key */
	assert_int_equal(command_verify(doc, size, fleet, MACHINE_ID, 0, 1767225600, &chk), 0);
	assert_int_equal(chk.verdict, COMMAND_REJECT_WRONG_KEY);
	command_check_done(&chk);
	free(doc);
	EVP_PKEY_free(pub);
}

/* ---- the lifelinectl verbs (the built program) ---- */

static int run_ctl_to(const char *args, char **out, const char *err)
{
	const char *b = getenv("LIFELINE_BUILD");
	char cmd[32768];
	size_t n, cap = 1 << 20;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/bin/lifelinectl --root=%s %s %s", b ? b : "build", root,
	         args, err);
	p = popen(cmd, "r");
	assert_non_null(p);
	*out = calloc(1, cap);
	n = fread(*out, 1, cap - 1, p);
	(*out)[n] = 0;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_ctl(const char *args, char **out)
{
	return run_ctl_to(args, out, "2>/dev/null");
}

static void test_lifelinectl_keygen_sign_apply_report(void **state)
{
	char args[8192], p[2048], *out;
	json_object *o, *v;

	(void)state;
	/* keygen: 0, then 1 (never overwrites), 2 without two files */
	snprintf(args, sizeof(args), "keygen %s/fleet.key %s/etc/lifeline/fleet.pub", root, root);
	assert_int_equal(run_ctl(args, &out), 0);
	free(out);
	assert_int_equal(run_ctl(args, &out), 1);
	free(out);
	assert_int_equal(run_ctl("keygen onlyone", &out), 2);
	free(out);

	/* sign-command writes the document to stdout */
	snprintf(
	    args, sizeof(args),
	    "sign-command -- --key %s/fleet.key --action quarantine --component a,b --component c "
	    "--target " MACHINE_ID "," OTHER_ID " --seq 4 --expires +600 > %s/q.cmd",
	    root, root);
	assert_int_equal(run_ctl(args, &out), 0);
	free(out);
	snprintf(p, sizeof(p), "%s/q.cmd", root);
	out = tu_slurp(p);
	assert_non_null(out);
	assert_true(
	    strncmp(out,
	            "{\"version\":1,\"action\":\"quarantine\",\"components\":[\"a\",\"b\",\"c\"],"
	            "\"targets\":[\"" MACHINE_ID "\",\"" OTHER_ID "\"],\"seq\":4,\"expires\":",
	            134) == 0);
	assert_non_null(strstr(out, "\nsignature: ed25519 "));
	free(out);
	/* usage errors: 2 */
	snprintf(
	    args, sizeof(args),
	    "sign-command -- --key %s/fleet.key --action frob --target all --seq 1 --expires +1",
	    root);
	assert_int_equal(run_ctl(args, &out), 2);
	free(out);
	snprintf(
	    args, sizeof(args),
	    "sign-command -- --key %s/fleet.key --action bless --target all --seq 0 --expires +1",
	    root);
	assert_int_equal(run_ctl(args, &out), 2);
	free(out);
	snprintf(args, sizeof(args),
	         "sign-command -- --key %s/fleet.key --action quarantine --target all --seq 1 "
	         "--expires +1",
	         root);
	assert_int_equal(run_ctl(args, &out), 2);
	free(out);

	/* apply-command: a valid clear is applied (0), the same file again is
	 * a replay (1), no file is a usage error (2) */
	snprintf(args, sizeof(args),
	         "sign-command -- --key %s/fleet.key --action clear --target all --seq 5 --expires "
	         "+600 > %s/c.cmd",
	         root, root);
	assert_int_equal(run_ctl(args, &out), 0);
	free(out);
	snprintf(args, sizeof(args), "apply-command %s/c.cmd", root);
	assert_int_equal(run_ctl(args, &out), 0);
	assert_string_equal(out, "accepted: clear, seq 5\n");
	free(out);
	assert_int_equal(run_ctl(args, &out), 1);
	assert_string_equal(out,
	                    "rejected: replay: seq 5 <= last applied 5 (fleet-wide commands)\n");
	free(out);
	assert_int_equal(run_ctl("apply-command", &out), 2);
	free(out);

	/* report --dry-run prints the report */
	assert_int_equal(run_ctl("report -- --dry-run", &out), 0);
	o = json_tokener_parse(out);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "event", &v));
	assert_string_equal(json_object_get_string(v), "manual");
	assert_true(json_object_object_get_ex(o, "machine", &v));
	assert_true(json_object_object_get_ex(v, "machine_id", &v));
	assert_string_equal(json_object_get_string(v), MACHINE_ID);
	json_object_put(o);
	free(out);
	assert_int_equal(run_ctl("report -- --bogus", &out), 2);
	free(out);
	/* report (not dry): spooled, the collector at port 9 is down: 1 */
	assert_int_equal(run_ctl("report", &out), 1);
	free(out);
}

/* ---- sources, derived seqs, conditions, key rotation, signing limits ---- */

static void test_sequences_are_kept_per_source(void **state)
{
	struct command_seqs seqs;
	char *doc, *t;

	(void)state;
	memset(&counter, 0, sizeof(counter));
	/* a fleet-wide clear, then a per-machine bless signed later */
	doc = doc_with(fleet, "clear", NULL, "all", 100, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	doc = doc_with(fleet, "bless", NULL, MACHINE_ID, 300, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	/* a fleet-wide command signed before the per-machine one is no
	 * replay: the sources have their own sequences */
	doc = doc_with(fleet, "clear", NULL, "all", 200, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	/* within a source, lower is still a replay */
	doc = doc_with(fleet, "clear", NULL, "all", 150, now + 600);
	assert_verdict(doc, COMMAND_REJECT_REPLAY);
	free(doc);
	doc = doc_with(fleet, "clear", NULL, MACHINE_ID " " OTHER_ID, 250, now + 600);
	assert_verdict(doc, COMMAND_REJECT_REPLAY);
	free(doc);
	assert_int_equal(counter.n, 3);
	assert_int_equal(command_seqs_read(root, &seqs), 0);
	assert_int_equal(seqs.seq[COMMAND_SOURCE_ALL], 200);
	assert_int_equal(seqs.seq[COMMAND_SOURCE_MACHINE], 300);

	/* the single-counter file of older versions is the floor of both */
	put(COMMAND_SEQ_FILE,
	    "7 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
	doc = doc_with(fleet, "clear", NULL, "all", 7, now + 600);
	assert_verdict(doc, COMMAND_REJECT_REPLAY);
	free(doc);
	doc = doc_with(fleet, "clear", NULL, MACHINE_ID, 6, now + 600);
	assert_verdict(doc, COMMAND_REJECT_REPLAY);
	free(doc);
	doc = doc_with(fleet, "clear", NULL, "all", 8, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	t = tu_get(root, COMMAND_SEQ_FILE);
	assert_non_null(t);
	assert_true(strncmp(t, "all 8 ", 6) == 0);
	assert_non_null(strstr(t, "\nmachine 7 0123456789abcdef"));
	free(t);
	/* damaged: refused, nothing applied */
	put(COMMAND_SEQ_FILE, "all 8 0123\nmachine 7 0123\n");
	assert_int_equal(command_seqs_read(root, &seqs), -EUCLEAN);
	put(COMMAND_SEQ_FILE,
	    "machine 7 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	    "all 8 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
	assert_int_equal(command_seqs_read(root, &seqs), -EUCLEAN);
	assert_int_equal(counter.n, 4);
}

static void test_seq_derived_from_the_clock_and_never_falls(void **state)
{
	char p[2048], bad[2048], args[4096], *out;
	uint64_t a = 0, b = 0, c = 0;
	int err = 0;

	(void)state;
	snprintf(p, sizeof(p), "%s/fleet.key.seq", root);
	/* no state: the time in microseconds */
	assert_int_equal(command_seq_derive(NULL, 1765000000123456, &a, NULL), 0);
	assert_int_equal(a, 1765000000123456);
	assert_int_equal(command_seq_derive(p, 1765000000123456, &a, &err), 0);
	assert_int_equal(err, 0);
	assert_int_equal(a, 1765000000123456);
	/* the same microsecond, then a clock set back: still rising */
	assert_int_equal(command_seq_derive(p, 1765000000123456, &b, &err), 0);
	assert_int_equal(b, a + 1);
	assert_int_equal(command_seq_derive(p, 1700000000000000, &c, &err), 0);
	assert_int_equal(c, b + 1);
	/* the clock ahead again wins */
	assert_int_equal(command_seq_derive(p, 1765000000999999, &c, &err), 0);
	assert_int_equal(c, 1765000000999999);
	/* a state file that cannot be written: said, the seq still good */
	snprintf(bad, sizeof(bad), "%s/no/such/dir/k.seq", root);
	assert_int_equal(command_seq_derive(bad, 1765000001000000, &c, &err), 0);
	assert_true(err < 0);
	assert_int_equal(c, 1765000001000000);
	/* beyond 2^53-1: refused */
	assert_int_equal(command_seq_derive(NULL, INT64_MAX, &c, NULL), -ERANGE);

	/* sign-command without --seq: two documents in a row are accepted in
	 * order; the first again is a replay */
	snprintf(args, sizeof(args), "keygen %s/k.key %s/k.pub", root, root);
	assert_int_equal(run_ctl(args, &out), 0);
	free(out);
	snprintf(p, sizeof(p), "%s/k.pub", root);
	out = tu_slurp(p);
	put(COMMAND_KEY_DIR "/k.pub", out);
	free(out);
	for (int i = 0; i < 2; i++) {
		snprintf(
		    args, sizeof(args),
		    "sign-command -- --key %s/k.key --action bless --target all --expires +600 "
		    "> %s/%d.cmd",
		    root, root, i);
		assert_int_equal(run_ctl(args, &out), 0);
		free(out);
	}
	snprintf(args, sizeof(args), "apply-command %s/0.cmd", root);
	assert_int_equal(run_ctl(args, &out), 0);
	free(out);
	snprintf(args, sizeof(args), "apply-command %s/1.cmd", root);
	assert_int_equal(run_ctl(args, &out), 0);
	free(out);
	snprintf(args, sizeof(args), "apply-command %s/0.cmd", root);
	assert_int_equal(run_ctl(args, &out), 1);
	assert_non_null(strstr(out, "rejected: replay"));
	free(out);
	/* the derived seq is the signing time: above the hand-kept seqs of
	 * before */
	assert_int_equal(command_seq_read(root, &a, NULL), 0);
	assert_true(a > (uint64_t)(now - 60) * 1000000);
	snprintf(p, sizeof(p), "%s/k.key.seq", root);
	out = tu_slurp(p);
	assert_non_null(out);
	assert_int_equal(strtoull(out, NULL, 10), a);
	free(out);
}

/* The runstate of this boot, as the early hook leaves it. */
static void put_runstate_mode(const char *mode)
{
	struct runstate rs;
	char p[2048];

	runstate_init(&rs);
	rs.mode = strdup(mode);
	rs.action = strdup("none");
	snprintf(p, sizeof(p), "%s%s", root, RUNSTATE_FILE);
	assert_int_equal(runstate_write(p, &rs), 0);
	runstate_done(&rs);
}

static json_object *last_command_report(void)
{
	json_object *r = spooled_commands(), *last;

	assert_true(json_object_array_length(r) > 0);
	last = json_object_get(json_object_array_get_idx(r, json_object_array_length(r) - 1));
	json_object_put(r);
	return last;
}

static void assert_condition(const char *want)
{
	json_object *c = last_command_report(), *v;

	assert_true(json_object_object_get_ex(c, "condition", &v));
	assert_string_equal(json_object_get_string(v), want);
	assert_true(json_object_object_get_ex(c, "applied", &v));
	assert_int_equal(json_object_get_boolean(v), streq(want, "met"));
	json_object_put(c);
}

static void test_conditional_actions_act_only_where_needed(void **state)
{
	struct quarantine_entry *active = NULL;
	struct state_record rec;
	unsigned n = 0;
	uint64_t seq = 30;
	char *doc;

	(void)state;
	memset(&counter, 0, sizeof(counter));
	put("/etc/lifeline/components.d/examplesec.conf",
	    "[examplesec]\nvendor = Example\nmodules = examplesec\nfiles = "
	    "/opt/examplesec/bin/*\n");

	/* a normal machine, nothing quarantined: accepted, used up, nothing
	 * done */
	put_runstate_mode("normal");
	doc = doc_with(fleet, "clear-and-reboot-if-quarantined", NULL, "all", seq++, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	assert_condition("not-met");
	assert_verdict(doc, COMMAND_REJECT_REPLAY);
	free(doc);
	doc = doc_with(fleet, "reboot-if-safe-mode", NULL, "all", seq++, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	assert_condition("not-met");
	assert_int_equal(counter.n, 0);

	/* this boot in safe mode: both act */
	put_runstate_mode("safe");
	doc = doc_with(fleet, "reboot-if-safe-mode", NULL, "all", seq++, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	assert_condition("met");
	assert_int_equal(counter.n, 1);
	assert_int_equal(counter.last, COMMAND_ACTION_REBOOT_IF_SAFE_MODE);
	doc = doc_with(fleet, "clear-and-reboot-if-quarantined", NULL, "all", seq++, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	assert_condition("met");
	assert_int_equal(counter.n, 2);

	/* no runstate (the agent's /run lost): the state record's mode */
	{
		char p[2048];
		snprintf(p, sizeof(p), "%s%s", root, RUNSTATE_FILE);
		assert_int_equal(unlink(p), 0);
	}
	state_record_init(&rec);
	rec.mode = STATE_MODE_SAFE;
	tu_record_save(&rec);
	doc = doc_with(fleet, "reboot-if-safe-mode", NULL, MACHINE_ID, seq++, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	assert_condition("met");
	rec.mode = STATE_MODE_NORMAL;
	tu_record_save(&rec);
	doc = doc_with(fleet, "reboot-if-safe-mode", NULL, MACHINE_ID, seq++, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	assert_condition("not-met");
	assert_int_equal(counter.n, 3);

	/* the real actions on a normal boot with a component quarantined:
	 * cleared (the reboot is never run under --root) */
	put_runstate_mode("normal");
	{
		struct command_check chk;
		int code = -1;

		doc = doc_with(fleet, "quarantine", "examplesec", "all", seq++, now + 600);
		assert_int_equal(
		    command_process(root, &cfg, doc, strlen(doc), "t", NULL, now, &chk, &code), 0);
		assert_int_equal(code, CTL_EXIT_OK);
		command_check_done(&chk);
		free(doc);
		assert_int_equal(quarantine_active_read(root, &active, &n), 0);
		assert_int_equal(n, 1);
		free(active);
		active = NULL;
		/* naming another component: not met, examplesec stays */
		doc = doc_with(fleet, "clear-and-reboot-if-quarantined", "othersec", "all", seq++,
		               now + 600);
		assert_int_equal(
		    command_process(root, &cfg, doc, strlen(doc), "t", NULL, now, &chk, &code), 0);
		assert_int_equal(chk.verdict, COMMAND_ACCEPTED);
		assert_int_equal(code, CTL_EXIT_OK);
		assert_non_null(strstr(chk.detail, "condition not-met"));
		command_check_done(&chk);
		free(doc);
		assert_condition("not-met");
		assert_int_equal(quarantine_active_read(root, &active, &n), 0);
		assert_int_equal(n, 1);
		free(active);
		active = NULL;
		/* any quarantine: met, cleared */
		doc = doc_with(fleet, "clear-and-reboot-if-quarantined", NULL, "all", seq++,
		               now + 600);
		assert_int_equal(
		    command_process(root, &cfg, doc, strlen(doc), "t", NULL, now, &chk, &code), 0);
		assert_int_equal(chk.verdict, COMMAND_ACCEPTED);
		assert_int_equal(code, CTL_EXIT_OK);
		assert_non_null(strstr(chk.detail, "examplesec is quarantined"));
		command_check_done(&chk);
		free(doc);
		assert_condition("met");
		assert_int_equal(quarantine_active_read(root, &active, &n), 0);
		assert_int_equal(n, 0);
		free(active);
	}
	/* components are not allowed with reboot-if-safe-mode */
	{
		char *body =
		    "{\"version\":1,\"action\":\"reboot-if-safe-mode\",\"components\":[\"a\"],"
		    "\"targets\":[\"all\"],\"seq\":99,\"expires\":9999999999,\"issued\":1}";
		doc = doc_signed(fleet, body);
		assert_verdict(doc, COMMAND_REJECT_MALFORMED);
		free(doc);
	}
}

static void install_pub(const char *name, const char *rel)
{
	char p[2048], *pub;

	snprintf(p, sizeof(p), "%s/%s", keys, name);
	pub = tu_slurp(p);
	assert_non_null(pub);
	put(rel, pub);
	free(pub);
}

static void test_key_rotation_old_key_trusted_until_removed(void **state)
{
	char a[2048], b[2048], next_id[17], rogue_id[17], *doc, *doc_old;
	EVP_PKEY *next = NULL;
	struct command_check chk;

	(void)state;
	memset(&counter, 0, sizeof(counter));
	snprintf(a, sizeof(a), "%s/next.key", root);
	snprintf(b, sizeof(b), "%s/next.pub", root);
	assert_int_equal(command_keygen(a, b), 0);
	assert_int_equal(command_key_load_private(a, &next), 0);
	assert_int_equal(command_key_id(next, next_id), 0);
	assert_int_equal(command_key_id(rogue, rogue_id), 0);

	/* before the rotation the new key is unknown, and said by name */
	doc = doc_with(next, "bless", NULL, "all", 1, now + 600);
	assert_int_equal(
	    command_process(root, &cfg, doc, strlen(doc), "t", &counting, now, &chk, NULL), 0);
	assert_int_equal(chk.verdict, COMMAND_REJECT_WRONG_KEY);
	assert_non_null(strstr(chk.detail, next_id));
	assert_non_null(strstr(chk.detail, "does not trust"));
	assert_string_equal(chk.key_id, next_id);
	command_check_done(&chk);
	free(doc);

	/* the new public key installed beside the old one: both sign */
	{
		char *pub = tu_slurp(b);
		char rel[256];
		snprintf(rel, sizeof(rel), COMMAND_KEY_DIR "/%s.pub", next_id);
		put(rel, pub);
		free(pub);
	}
	doc = doc_with(next, "bless", NULL, "all", 2, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	doc_old = doc_with(fleet, "bless", NULL, "all", 4, now + 600);
	doc = doc_with(fleet, "bless", NULL, "all", 3, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	{
		json_object *c = last_command_report(), *v;
		char fleet_id[17];
		assert_int_equal(command_key_id(fleet, fleet_id), 0);
		assert_true(json_object_object_get_ex(c, "key_id", &v));
		assert_string_equal(json_object_get_string(v), fleet_id);
		json_object_put(c);
	}
	/* a key nobody installed: refused, named, with the trusted ids */
	doc = doc_with(rogue, "bless", NULL, "all", 5, now + 600);
	assert_int_equal(
	    command_process(root, &cfg, doc, strlen(doc), "t", &counting, now, &chk, NULL), 0);
	assert_int_equal(chk.verdict, COMMAND_REJECT_WRONG_KEY);
	assert_non_null(strstr(chk.detail, rogue_id));
	assert_non_null(strstr(chk.detail, next_id));
	command_check_done(&chk);
	free(doc);

	/* the old key removed (the legacy file): its documents are refused */
	{
		char p[2048];
		snprintf(p, sizeof(p), "%s/etc/lifeline/fleet.pub", root);
		assert_int_equal(unlink(p), 0);
	}
	assert_verdict(doc_old, COMMAND_REJECT_WRONG_KEY);
	free(doc_old);
	doc = doc_with(next, "bless", NULL, "all", 6, now + 600);
	assert_verdict(doc, COMMAND_ACCEPTED);
	free(doc);
	assert_int_equal(counter.n, 3);

	/* the fleet.d copy of a key and a damaged file beside it: each key
	 * once, the damaged file skipped */
	install_pub("fleet.pub", COMMAND_KEY_DIR "/fleet.pub");
	put(COMMAND_KEY_DIR "/broken.pub", "not a key\n");
	put(COMMAND_KEY_DIR "/notes.txt", "ignored\n");
	{
		struct command_keyring k;
		assert_int_equal(command_keyring_load(root, &cfg, &k), 0);
		assert_int_equal(k.n, 2);
		command_keyring_done(&k);
	}
	/* no key at all: -ENOKEY */
	{
		char cmd[2048];
		struct command_keyring k;
		snprintf(cmd, sizeof(cmd), "rm -rf '%s%s'", root, COMMAND_KEY_DIR);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(command_keyring_load(root, &cfg, &k), -ENOKEY);
	}
	EVP_PKEY_free(next);
}

static void test_sign_command_refuses_what_agents_would_refuse(void **state)
{
	char *args = malloc(65536), *out;
	size_t n;

	(void)state;
	assert_non_null(args);
	/* 301 machine-ids: refused at signing, with the limit named */
	n = (size_t)snprintf(args, 65536,
	                     "sign-command -- --key %s/fleet.key --action clear --expires +600 "
	                     "--target ",
	                     keys);
	for (int i = 0; i < 301; i++)
		n += (size_t)snprintf(args + n, 65536 - n, "%s%032x", i ? "," : "", i + 1);
	assert_int_equal(run_ctl_to(args, &out, "2>&1"), 2);
	assert_non_null(strstr(out, "301 targets"));
	assert_non_null(strstr(out, "at most 256"));
	assert_null(strstr(out, "signature:"));
	free(out);
	/* 256 are fine */
	n = (size_t)snprintf(args, 65536,
	                     "sign-command -- --key %s/fleet.key --action clear --expires +600 "
	                     "--seq 9 --target ",
	                     keys);
	for (int i = 0; i < 256; i++)
		n += (size_t)snprintf(args + n, 65536 - n, "%s%032x", i ? "," : "", i + 1);
	assert_int_equal(run_ctl_to(args, &out, "2>/dev/null"), 0);
	assert_non_null(strstr(out, "\nsignature: ed25519 "));
	free(out);
	/* a bad machine-id and a conditional action with components */
	snprintf(args, 65536,
	         "sign-command -- --key %s/fleet.key --action clear --expires +600 --target 12ab",
	         keys);
	assert_int_equal(run_ctl_to(args, &out, "2>/dev/null"), 2);
	free(out);
	snprintf(args, 65536,
	         "sign-command -- --key %s/fleet.key --action reboot-if-safe-mode --component a "
	         "--expires +600 --target all",
	         keys);
	assert_int_equal(run_ctl_to(args, &out, "2>/dev/null"), 2);
	free(out);
	/* the body check is the agent's: a component list that is too long */
	{
		struct command_check chk;
		struct command c = {.seq = 1, .expires = 2, .issued = 1};
		char *body = NULL;

		assert_int_equal(strv_split_ws("all", &c.targets), 0);
		for (int i = 0; i < COMMAND_COMPONENTS_MAX + 1; i++) {
			char id[16];
			snprintf(id, sizeof(id), "c%d", i);
			assert_int_equal(strv_extend(&c.components, id), 0);
		}
		assert_int_equal(command_body_format(&c, &body), 0);
		assert_int_equal(command_body_check(body, strlen(body), &chk), 0);
		assert_int_equal(chk.verdict, COMMAND_REJECT_MALFORMED);
		command_check_done(&chk);
		free(body);
		command_done(&c);
	}
	free(args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_valid_command_applied_exactly_once, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_power_cut_after_seq_write_loses_the_command_never_replays_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forged_and_unsigned_are_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_key_is_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expired_and_wrong_target_are_rejected, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_bodies_are_rejected_each_with_its_reason,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_long_is_rejected_before_anything_else, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_judging_needs_key_and_sound_seq_file, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_real_actions_through_lifelinectl_functions, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_keygen_writes_private_0600_and_never_overwrites,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_poll_fetches_machine_and_all_documents_lowest_seq_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_poll_is_conditional_304_when_unchanged, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_poll_backs_off_and_honours_retry_after, setup,
	                                    teardown),
	    cmocka_unit_test(test_poll_delay_jitter_bounds),
	    cmocka_unit_test(test_retry_after_both_forms),
	    cmocka_unit_test_setup_teardown(test_committed_document_still_verifies, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_lifelinectl_keygen_sign_apply_report, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_sequences_are_kept_per_source, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seq_derived_from_the_clock_and_never_falls, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_conditional_actions_act_only_where_needed, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_key_rotation_old_key_trusted_until_removed, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_sign_command_refuses_what_agents_would_refuse,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
