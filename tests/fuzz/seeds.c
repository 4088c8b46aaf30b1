/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes the seed inputs that only the code itself can produce: encoded
 * state records, an inventory and quarantine manifests of a temp root,
 * a runstate file, an active-quarantine list, and command documents
 * signed with the fuzzers' test key. make-seeds.sh builds and runs it:
 *
 *   seeds OUTDIR TMPDIR
 *
 * writes OUTDIR/<fuzzer>/<name> (OUTDIR/state-record/..., ...).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "agent/command/command.h"
#include "agent/conf/components.h"
#include "agent/inventory/inventory.h"
#include "agent/quarantine/quarantine.h"
#include "agent/decision/runstate.h"
#include "common/fileio.h"
#include "common/strv.h"
#include "efi/state-record.h"

/* The same throw-away key as fuzz-command.c. */
static const uint8_t test_seed[32] = "lifeline-fuzz-test-key-not-real";
static const char *outdir, *root;

static void die(const char *what, int r)
{
	fprintf(stderr, "seeds: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static void put(const char *fuzzer, const char *name, const void *data, size_t size)
{
	char path[4096];
	int r;

	snprintf(path, sizeof(path), "%s/%s", outdir, fuzzer);
	r = mkdir_p(path, 0755);
	if (r < 0)
		die(path, r);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, fuzzer, name);
	r = write_file_atomic(path, data, size, 0644);
	if (r < 0)
		die(path, r);
}

static void put_root(const char *rel, const char *text)
{
	_cleanup_free_ char *p = path_under_root(root, rel), *dir = NULL;
	int r;

	if (!p || !(dir = strdup(p)))
		die(rel, -ENOMEM);
	*strrchr(dir, '/') = 0;
	r = mkdir_p(dir, 0755);
	if (r >= 0)
		r = write_file_atomic(p, text, strlen(text), 0644);
	if (r < 0)
		die(p, r);
}

static void copy_out(const char *rel, const char *fuzzer, const char *name)
{
	_cleanup_free_ char *p = path_under_root(root, rel), *text = NULL;
	size_t size;
	int r;

	if (!p)
		die(rel, -ENOMEM);
	r = read_full_file(p, 1 << 20, &text, &size);
	if (r < 0)
		die(p, r);
	put(fuzzer, name, text, size);
}

static void state_records(void)
{
	struct state_record r;
	uint8_t buf[STATE_RECORD_SIZE];

	state_record_init(&r);
	if (state_record_encode(&r, buf) < 0)
		die("encode", -EINVAL);
	put("state-record", "fresh", buf, sizeof(buf));

	r.boot_seq = 41;
	r.failures = 4;
	r.last_blessed_seq = 37;
	r.last_blessed_time = 1732371234;
	r.mode = STATE_MODE_SAFE;
	r.level = 1;
	r.flags = STATE_FLAG_QUARANTINE_PENDING;
	r.generation = 2;
	if (state_record_add_module(&r, "badsec") < 0 ||
	    state_record_add_module(&r, "examplesec-net") < 0 || state_record_encode(&r, buf) < 0)
		die("encode", -EINVAL);
	put("state-record", "safe-level1-two-modules", buf, sizeof(buf));

	r.mode = STATE_MODE_GIVEN_UP;
	r.level = 3;
	r.flags = STATE_FLAG_CLEAN_SHUTDOWN;
	for (unsigned i = 2; i < STATE_MODULES_MAX; i++) {
		char name[STATE_MODULE_NAME_MAX + 1];

		/* long names: fills most of the module area */
		snprintf(name, sizeof(name), "module_%u_%.*s", i, 16, "abcdefghijklmnopqrstuvwxyz");
		if (state_record_add_module(&r, name) < 0)
			die("add module", -EINVAL);
	}
	if (state_record_encode(&r, buf) < 0)
		die("encode", -EINVAL);
	put("state-record", "given-up-eight-modules", buf, sizeof(buf));
}

static void inventory_and_manifests(void)
{
	_cleanup_(components_done) struct component_set set = {0};
	_cleanup_inventory_free_ struct inventory *inv = NULL;
	struct quarantine_result res = {0};
	_cleanup_free_ char *text = NULL, *p = NULL;
	unsigned problems = 0;
	size_t size;
	int r;

	put_root("/etc/lifeline/components.d/10-example.conf",
	         "[examplesec]\n"
	         "vendor = Example Security\n"
	         "modules = examplesec examplesec_net\n"
	         "units = examplesec.service\n"
	         "files = /opt/x/bin/*\n"
	         "content = /opt/x/content/*.bin\n"
	         "[othersec]\n"
	         "modules = othersec*\n"
	         "files = /opt/other/*\n");
	put_root("/opt/x/bin/examplesecd", "#!/bin/sh\necho daemon\n");
	put_root("/opt/x/bin/name with spaces%", "odd name\n");
	put_root("/opt/x/content/c-291.bin", "channel file 291\n");
	put_root("/opt/x/content/c-292.bin", "");
	put_root("/opt/other/agent", "other agent\n");
	p = path_under_root(root, "/opt/x/bin/link");
	if (!p || symlink("examplesecd", p) < 0)
		die("symlink", -errno);
	free(p);
	p = path_under_root(root, "/opt/x/bin/examplesecd");
	if (!p)
		die("path", -ENOMEM);
	(void)chmod(p, 04755);
	/* An xattr for the manifest's xattrs field (user.* needs a
	 * filesystem that has them; the seed is fine without). */
	(void)setxattr(p, "user.lifeline-seed", "v\x01\xff", 3, 0);

	r = components_load(root, &set, &problems);
	if (r < 0 || problems > 0)
		die("components_load", r < 0 ? r : -EINVAL);
	r = inventory_take(root, &set, NULL, &inv);
	if (r < 0)
		die("inventory_take", r);
	r = inventory_format(inv, &text, &size);
	if (r < 0)
		die("inventory_format", r);
	put("inventory", "two-components", text, size);

	r = quarantine_apply(root, components_find(&set, "examplesec"), 3, &res);
	if (r < 0)
		die("quarantine_apply", r);
	quarantine_result_done(&res);
	copy_out("/var/lib/lifeline/quarantine/3/examplesec/manifest", "quarantine-manifest",
	         "applied-examplesec");
	r = quarantine_apply(root, components_find(&set, "othersec"), 4, &res);
	if (r < 0)
		die("quarantine_apply", r);
	quarantine_result_done(&res);
	copy_out("/var/lib/lifeline/quarantine/4/othersec/manifest", "quarantine-manifest",
	         "applied-othersec");
}

static void runstate_files(void)
{
	_cleanup_free_ char *path = NULL;
	struct runstate s;
	struct quarantine_entry e[2] = {
	    {.id = "examplesec", .generation = 3, .level = 1},
	    {.id = "othersec", .generation = 4, .level = 2},
	};
	char *quarantine[] = {"examplesec", "othersec", NULL};
	char *evidence[] = {"RIP: 0010:badsec_crash+0x5/0x10 [badsec]", "Comm: modprobe", NULL};
	int r;

	runstate_init(&s);
	s.boot_seq = 41;
	s.failures = 4;
	s.level = 1;
	s.generation = 3;
	s.mode = (char *)"safe";
	s.store = (char *)"efi";
	s.action = (char *)"escalate";
	s.quarantine = quarantine;
	s.reason = (char *)"panic log names module badsec (RIP)";
	s.evidence = evidence;
	path = path_under_root(root, RUNSTATE_FILE);
	if (!path)
		die("path", -ENOMEM);
	/* s holds no allocations: no runstate_done() */
	r = runstate_write(path, &s);
	if (r < 0)
		die("runstate_write", r);
	copy_out(RUNSTATE_FILE, "runstate", "safe-escalate");
	r = quarantine_active_write(root, e, 2);
	if (r < 0)
		die("quarantine_active_write", r);
	copy_out(QUARANTINE_ACTIVE_FILE, "runstate", "active-two");
}

static void command_doc(EVP_PKEY *key, const char *name, const char *body)
{
	_cleanup_free_ char *doc = NULL;
	int r;

	r = command_sign(key, body, strlen(body), &doc);
	if (r < 0)
		die("command_sign", r);
	put("command", name, doc, strlen(doc));
}

static void commands(void)
{
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, test_seed, 32);

	if (!key)
		die("key", -EIO);
	command_doc(key, "clear-all",
	            "{\"version\":1,\"action\":\"clear\",\"components\":[],\"targets\":[\"all\"],"
	            "\"seq\":7,\"expires\":1767225600,\"issued\":1767139200}");
	command_doc(key, "quarantine-two-machines",
	            "{\"version\":1,\"action\":\"quarantine\",\"components\":[\"examplesec\","
	            "\"other.sec-2\"],\"targets\":[\"0123456789abcdef0123456789abcdef\","
	            "\"fedcba9876543210fedcba9876543210\"],\"seq\":9007199254740991,"
	            "\"expires\":4102444800,\"issued\":0}");
	command_doc(key, "bless-no-components-key",
	            "{\"version\":1,\"action\":\"bless\",\"targets\":[\"all\"],\"seq\":1,"
	            "\"expires\":4102444800,\"issued\":1767225600}");
	command_doc(key, "reboot-spaced-unicode",
	            "{ \"version\" : 1, \"action\" : \"reboot\", \"components\" : [ ],"
	            " \"targets\" : [ \"all\" ], \"seq\" : 3, \"expires\" : 4102444800,"
	            " \"issued\" : 1767225600, \"\\u00e9\" : 1 }");
	command_doc(key, "duplicate-key",
	            "{\"version\":1,\"version\":1,\"action\":\"clear\",\"targets\":[\"all\"],"
	            "\"seq\":2,\"expires\":4102444800,\"issued\":1}");
	command_doc(
	    key, "nested-strings",
	    "{\"version\":1,\"action\":\"clear\",\"components\":[\"a:b\",\"{\\\"x\\\":[1]}\"],"
	    "\"targets\":[\"all\"],\"seq\":2,\"expires\":4102444800,\"issued\":1}");
	EVP_PKEY_free(key);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: seeds OUTDIR TMPDIR\n");
		return 2;
	}
	outdir = argv[1];
	root = argv[2];
	state_records();
	inventory_and_manifests();
	runstate_files();
	commands();
	return 0;
}
