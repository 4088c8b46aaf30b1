/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signed fleet commands (DESIGN.md "Remote control").
 *
 * A command document is one file of two lines:
 *
 *   {"version":1,"action":"clear","components":[],"targets":["all"],"seq":7,"expires":1767225600,"issued":1767139200}
 *   signature: ed25519 <key-id> <base64>
 *
 * Line 1 is the body: a JSON object on one line, compact, with exactly
 * these keys ("components" may be left out):
 *   version     1
 *   action      "clear" | "quarantine" | "bless" | "reboot"
 *   components  component ids: clear (none = all of them), quarantine
 *               (at least one); must be empty for bless and reboot
 *   targets     ["all"] or machine-ids (32 lowercase hex), at most 256
 *   seq         1 .. 2^53-1, above the last seq this machine applied
 *   expires     unix seconds; the command is refused after it
 *   issued      unix seconds, <= expires
 * Line 2 is the detached Ed25519 signature (RFC 8032) over the exact bytes
 * of line 1 (without its newline), in standard base64 (88 characters), with
 * the key id of the signing key: the first 8 bytes of SHA-256 of the raw
 * 32-byte public key, in hex. The key id is not trusted for anything; it
 * only tells a document signed with another key ("wrong-key") from a
 * forged or damaged one ("bad-signature"). A final newline is optional.
 *
 * Checks, in this order, each with its own reason: the document's size
 * (too-long), the signature line (unsigned, bad-signature), the key id
 * (wrong-key), the signature (bad-signature); only then is the signed body
 * parsed: UTF-8 (not-utf8), JSON and the schema (malformed), duplicate keys
 * (duplicate-key), the action (unknown-action), the target (wrong-target),
 * the expiry (expired), the sequence number (replay).
 *
 * The last applied seq is kept in <root>/var/lib/lifeline/command-seq
 * ("SEQ SHA256-OF-DOCUMENT\n"), written atomically and durably BEFORE the
 * action runs. Trade-off: a power cut between that write and the action
 * loses that one command (it is never applied; the administrator sends a
 * new one with a higher seq), but no command is ever applied twice, not
 * even across a power cut. An unreadable seq file refuses every command
 * (a lost seq must not re-open replays).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lifeline_config;
struct ctl_ctx;
typedef struct evp_pkey_st EVP_PKEY;

#define COMMAND_SEQ_FILE         "/var/lib/lifeline/command-seq"
#define COMMAND_DOC_MAX          16384 /* whole document, bytes */
#define COMMAND_BODY_MAX         12288 /* line 1, bytes */
#define COMMAND_TARGETS_MAX      256
#define COMMAND_COMPONENTS_MAX   64
#define COMMAND_SEQ_MAX          9007199254740991ULL /* 2^53 - 1 */
#define COMMAND_KEY_ID_LEN       16
#define COMMAND_SIGNATURE_PREFIX "signature: ed25519 "

enum command_action {
	COMMAND_ACTION_CLEAR,
	COMMAND_ACTION_QUARANTINE,
	COMMAND_ACTION_BLESS,
	COMMAND_ACTION_REBOOT,
	_COMMAND_ACTION_MAX,
};

enum command_verdict {
	COMMAND_ACCEPTED = 0,
	COMMAND_REJECT_TOO_LONG,
	COMMAND_REJECT_UNSIGNED,
	COMMAND_REJECT_BAD_SIGNATURE,
	COMMAND_REJECT_WRONG_KEY,
	COMMAND_REJECT_NOT_UTF8,
	COMMAND_REJECT_MALFORMED,
	COMMAND_REJECT_DUPLICATE_KEY,
	COMMAND_REJECT_UNKNOWN_ACTION,
	COMMAND_REJECT_WRONG_TARGET,
	COMMAND_REJECT_EXPIRED,
	COMMAND_REJECT_REPLAY,
	_COMMAND_VERDICT_MAX,
};

struct command {
	enum command_action action;
	char **components; /* never NULL after a parse */
	char **targets;
	uint64_t seq;
	int64_t expires;
	int64_t issued;
};

struct command_check {
	enum command_verdict verdict;
	char detail[256]; /* human words for the verdict */
	bool have_cmd;    /* cmd is filled (the body parsed) */
	struct command cmd;
	char sha256[65]; /* of the whole document, hex */
};

const char *command_action_to_string(enum command_action a);
int command_action_from_string(const char *s);
const char *command_verdict_to_string(enum command_verdict v);
/* "all" or a machine-id (32 lowercase hex digits). */
bool command_target_is_valid(const char *s);

void command_done(struct command *c);
void command_check_done(struct command_check *c);

/* Keys. keygen writes PEM files: PKCS#8 private key (mode 0600, refused
 * when the file exists: -EEXIST) and SubjectPublicKeyInfo public key. */
int command_keygen(const char *private_path, const char *public_path);
int command_key_load_private(const char *path, EVP_PKEY **ret);
int command_key_load_public(const char *path, EVP_PKEY **ret);
/* 16 hex digits + NUL. */
int command_key_id(EVP_PKEY *key, char ret[COMMAND_KEY_ID_LEN + 1]);

/* The canonical body of c (compact JSON, the key order above). */
int command_body_format(const struct command *c, char **ret);
/* A whole document: body, newline, signature line, newline. The body is
 * signed as given (tests sign malformed bodies with it). */
int command_sign(EVP_PKEY *private_key, const char *body, size_t size, char **ret_doc);

/* Checks a document (see above). machine_id may be NULL (then only "all"
 * matches). Returns 0 with the verdict in *ret (accepted or not), or a
 * negative errno when the check itself failed (ENOMEM). */
int command_verify(const char *doc, size_t size, EVP_PKEY *public_key, const char *machine_id,
                   uint64_t last_seq, int64_t now, struct command_check *ret);

/* The durable replay guard. Absent file: seq 0, empty hash. -EUCLEAN when
 * the file is damaged. ret_sha may be NULL. */
int command_seq_read(const char *root, uint64_t *ret_seq, char ret_sha[65]);
int command_seq_write(const char *root, uint64_t seq, const char *sha);

/* What applying a command runs. The default (NULL applier) calls the
 * lifelinectl functions ctl_clear(), ctl_quarantine(), ctl_bless(), and
 * for reboot "systemctl reboot" on the real root (never under --root).
 * Returns a CTL_EXIT_* code. */
struct command_applier {
	int (*apply)(const char *root, const struct command *c, void *userdata);
	void *userdata;
};

/* Verifies doc against the [commands] public_key (under root), the
 * machine-id and the seq file; when accepted, writes the seq, then
 * applies. Every outcome becomes a report (event "command") through
 * report_emit(). source names where the document came from (file, URL).
 * *ret_check gets the verdict; *ret_exit (may be NULL) the applier's
 * CTL_EXIT_* code (CTL_EXIT_FAILURE when rejected).
 * Returns 0 when the document was judged (accepted or not), or a negative
 * errno when it could not be (no public key, seq file unreadable...). */
int command_process(const char *root, const struct lifeline_config *cfg, const char *doc,
                    size_t size, const char *source, const struct command_applier *applier,
                    int64_t now, struct command_check *ret_check, int *ret_exit);

/* The daemon's poller: GET <commands_url>/<machine-id>.cmd and /all.cmd
 * (404: nothing), lowest seq first. A document already applied (same
 * hash as in the seq file) or already judged by this poller is skipped
 * quietly, so a static server serving the same file does not make a
 * report every poll. */
struct command_poller {
	char seen[2][65]; /* sha256 of the last document judged per URL */
};

int command_poll(struct command_poller *p, const char *root, const struct lifeline_config *cfg,
                 void (*keepalive)(void *userdata), void *userdata, int64_t now,
                 unsigned *ret_judged);

/* The lifelinectl verbs live in agent/ctl/command-verbs.h; declared here
 * too until agent/ctl/ctl.c includes that header. */
int command_verb_keygen(const struct ctl_ctx *ctx);
int command_verb_sign(const struct ctl_ctx *ctx);
int command_verb_apply(const struct ctl_ctx *ctx);
