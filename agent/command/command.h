/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signed fleet commands: the document, its checks, the replay guard, the
 * trusted keys and the poller (docs/fleet-commands.md has the whole flow).
 *
 * A command document is one file of two lines:
 *
 *   {"version":1,"action":"clear","components":[],"targets":["all"],"seq":7,"expires":1767225600,"issued":1767139200}
 *   signature: ed25519 <key-id> <base64>
 *
 * Line 1 is the body: a JSON object on one line, compact, with exactly
 * these keys ("components" may be left out):
 *   version     1
 *   action      "clear" | "quarantine" | "bless" | "reboot" |
 *               "clear-and-reboot-if-quarantined" | "reboot-if-safe-mode"
 *   components  component ids: clear and clear-and-reboot-if-quarantined
 *               (none = all of them), quarantine (at least one); must be
 *               empty for bless, reboot and reboot-if-safe-mode
 *   targets     ["all"] or machine-ids (32 lowercase hex), at most 256
 *   seq         1 .. 2^53-1, above the last seq this machine applied from
 *               the same source (below)
 *   expires     unix seconds; the command is refused after it
 *   issued      unix seconds, <= expires
 * Line 2 is the detached Ed25519 signature (RFC 8032) over the exact bytes
 * of line 1 (without its newline), in standard base64 (88 characters), with
 * the key id of the signing key: the first 8 bytes of SHA-256 of the raw
 * 32-byte public key, in hex. The key id picks which trusted key checks the
 * signature (a machine trusts several during a key rotation); it is not
 * trusted for anything else: a document naming no trusted key is refused
 * ("wrong-key", the detail names the key id), a document naming a trusted
 * key whose signature does not match is "bad-signature". A final newline
 * is optional.
 *
 * The conditional actions act only where they are needed, so that one
 * fleet-wide document is safe on healthy machines:
 *   clear-and-reboot-if-quarantined  when this machine has something
 *       quarantined (of the listed components; any when none are listed)
 *       or runs in safe mode: clear (those, or everything), then reboot;
 *       otherwise nothing.
 *   reboot-if-safe-mode  when this boot runs in safe mode (or given up):
 *       reboot; otherwise nothing.
 * A condition not met is still an accepted, used-up command: the report
 * says "condition": "not-met" and nothing was changed.
 *
 * Checks, in this order, each with its own reason: the document's size
 * (too-long), the signature line (unsigned, bad-signature), the key id
 * (wrong-key), the signature (bad-signature); only then is the signed body
 * parsed: UTF-8 (not-utf8), JSON and the schema (malformed), duplicate keys
 * (duplicate-key), the action (unknown-action), the target (wrong-target),
 * the expiry (expired), the sequence number (replay).
 *
 * Sources. A document addressed to ["all"] (published as all.cmd) and one
 * addressed to machine-ids (published as <machine-id>.cmd) have separate
 * sequences: a per-machine command signed later cannot make a still valid
 * fleet-wide command a replay, nor the other way round. The last applied
 * seq of each is kept in <root>/var/lib/lifeline/command-seq, one line a
 * source:
 *   all SEQ SHA256-OF-DOCUMENT
 *   machine SEQ SHA256-OF-DOCUMENT
 * (a source never used has seq 0 and 64 zeros). The file of older versions,
 * one line "SEQ SHA256", is read as that seq for both sources, so no
 * document refused before is accepted after an upgrade. The file is written
 * atomically and durably BEFORE the action runs. Trade-off: a power cut
 * between that write and the action loses that one command (it is never
 * applied; the administrator sends a new one), but no command is ever
 * applied twice, not even across a power cut. An unreadable seq file
 * refuses every command (a lost seq must not re-open replays).
 *
 * Signing derives the seq (lifelinectl sign-command without --seq): the
 * signing time in microseconds since the epoch, and above the last seq
 * signed with that key (the state file <private key>.seq, when it can be
 * written), so it rises even when the signing machine's clock is set back.
 *
 * Trusted keys: the [commands] public_key file (the key of older versions)
 * and every *.pub file of <root>/etc/lifeline/fleet.d/. A key rotation
 * installs the new public key in fleet.d beside the old one, signs with the
 * new key, then removes the old public key.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lifeline_config;
typedef struct evp_pkey_st EVP_PKEY;

#define COMMAND_SEQ_FILE         "/var/lib/lifeline/command-seq"
#define COMMAND_KEY_DIR          "/etc/lifeline/fleet.d"
#define COMMAND_KEYS_MAX         16    /* trusted keys read, at most */
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
	COMMAND_ACTION_CLEAR_AND_REBOOT_IF_QUARANTINED,
	COMMAND_ACTION_REBOOT_IF_SAFE_MODE,
	_COMMAND_ACTION_MAX,
};

/* Where a document belongs for the replay guard: its targets. */
enum command_source {
	COMMAND_SOURCE_ALL,     /* targets ["all"]: all.cmd */
	COMMAND_SOURCE_MACHINE, /* targets machine-ids: <machine-id>.cmd */
	_COMMAND_SOURCE_MAX,
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
	char key_id[COMMAND_KEY_ID_LEN + 1]; /* of the signature line, when it parsed */
	char detail[256];                    /* human words for the verdict */
	bool have_cmd;                       /* cmd is filled (the body parsed) */
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

/* The body's schema alone (no signature): the agent's own limits, also
 * run by sign-command before it signs. Returns 0 with the verdict in *ret
 * (COMMAND_ACCEPTED or why not; ret->cmd filled when accepted). */
int command_body_check(const char *body, size_t size, struct command_check *ret);

/* The source a parsed command belongs to (its targets). */
enum command_source command_source_of(const struct command *c);
const char *command_source_to_string(enum command_source s);

/* What a machine judges a document against: its trusted keys (up to
 * COMMAND_KEYS_MAX), its machine-id (may be NULL: then only "all"
 * matches) and the last applied seq of each source. */
struct command_trust {
	EVP_PKEY *const *keys;
	size_t n_keys;
	const char *machine_id;
	uint64_t last_seq[_COMMAND_SOURCE_MAX];
};

/* Checks a document (see above). Returns 0 with the verdict in *ret
 * (accepted or not), or a negative errno when the check itself failed
 * (ENOMEM). */
int command_verify_trust(const char *doc, size_t size, const struct command_trust *t, int64_t now,
                         struct command_check *ret);
/* The same with one key and one last seq for both sources. */
int command_verify(const char *doc, size_t size, EVP_PKEY *public_key, const char *machine_id,
                   uint64_t last_seq, int64_t now, struct command_check *ret);

/* The trusted keys under root: [commands] public_key and
 * COMMAND_KEY_DIR/ *.pub, each key once. A file that does not load is
 * logged and skipped. -ENOKEY when there is none. */
struct command_keyring {
	EVP_PKEY *keys[COMMAND_KEYS_MAX];
	char ids[COMMAND_KEYS_MAX][COMMAND_KEY_ID_LEN + 1];
	size_t n;
};
int command_keyring_load(const char *root, const struct lifeline_config *cfg,
                         struct command_keyring *ret);
void command_keyring_done(struct command_keyring *k);

/* The seq sign-command puts in a document: max(now_us, last + 1), where
 * last is read from state_path (absent: 0); state_path is then updated
 * (best effort: a failure is returned as *ret_state_error, the seq is
 * still good). state_path may be NULL (time only). */
int command_seq_derive(const char *state_path, int64_t now_us, uint64_t *ret, int *ret_state_error);

/* The durable replay guard (see "Sources" above). Absent file: every seq
 * 0, hashes of 64 zeros. -EUCLEAN when the file is damaged. */
struct command_seqs {
	uint64_t seq[_COMMAND_SOURCE_MAX];
	char sha[_COMMAND_SOURCE_MAX][65];
};
int command_seqs_read(const char *root, struct command_seqs *ret);
int command_seqs_write(const char *root, const struct command_seqs *s);
/* The highest seq of any source (and its document's hash; ret_sha may be
 * NULL), and setting every source to seq: the single counter of older
 * versions, kept for tools and tests. */
int command_seq_read(const char *root, uint64_t *ret_seq, char ret_sha[65]);
int command_seq_write(const char *root, uint64_t seq, const char *sha);

/* Whether a conditional action's condition holds on the machine under
 * root (see above); why gets the words for the report. Unconditional
 * actions: always true. */
bool command_condition_met(const char *root, const struct lifeline_config *cfg,
                           const struct command *c, char *why, size_t why_size);

/* What an applier returns: the same numbers as lifelinectl's exit codes
 * 0 and 1, so apply-command can exit with it. */
enum {
	COMMAND_APPLY_OK = 0,
	COMMAND_APPLY_FAILED = 1,
};

/* What applying a command runs. The default (NULL applier) calls the core
 * operations ops_clear(), ops_quarantine(), ops_bless() with the signed
 * command as the actor, and for reboot "systemctl reboot" on the real root
 * (never under --root); clear-and-reboot-if-quarantined is a clear then,
 * when it worked, a reboot. The applier is called only when the condition
 * is met. Returns COMMAND_APPLY_OK or COMMAND_APPLY_FAILED. */
struct command_applier {
	int (*apply)(const char *root, const struct command *c, void *userdata);
	void *userdata;
};

/* Verifies doc against the trusted keys (under root), the machine-id and
 * the seq file; when accepted, writes the seq, then applies when the
 * condition (if any) is met. Every outcome becomes a report (event "command") through
 * report_emit(). source names where the document came from (file, URL).
 * *ret_check gets the verdict; *ret_exit (may be NULL) the applier's
 * code (COMMAND_APPLY_FAILED when rejected).
 * Returns 0 when the document was judged (accepted or not), or a negative
 * errno when it could not be (no public key, seq file unreadable...). */
int command_process(const char *root, const struct lifeline_config *cfg, const char *doc,
                    size_t size, const char *source, const struct command_applier *applier,
                    int64_t now, struct command_check *ret_check, int *ret_exit);

/* The daemon's poller. Each poll GETs <commands_url>/<machine-id>.cmd and
 * <commands_url>/all.cmd (404: nothing there), conditionally: with the
 * ETag (If-None-Match) and Last-Modified (If-Modified-Since) of the
 * document last judged from that URL, so an unchanged file costs a 304
 * and no body. New documents are judged lowest seq first; one already
 * judged by this poller or already applied (its hash in the seq file) is
 * skipped quietly, so a static server serving the same file does not make
 * a report every poll. The validators and the failure count live in the
 * poller, and in COMMAND_POLL_STATE_FILE for the next process (lifelined
 * polls from a short-lived worker): a poller whose "loaded" is false reads
 * it first, every poll writes it. The file is a cache: absent or damaged,
 * the next GETs are unconditional. Every COMMAND_POLL_FULL_EVERY-th poll
 * is unconditional anyway: a server's validators can miss a change (nginx's
 * ETag is the mtime in whole seconds and the size: two documents of one
 * size published within a second look the same).
 *
 * The schedule (times in milliseconds; P = [commands] poll_interval):
 *   first poll   uniform in [0, P) after the daemon starts, so a fleet that
 *                boots together (a power event) spreads over one interval;
 *   after a poll uniform in [0.9 P, 1.1 P), so the phases never line up
 *                again;
 *   after a failed poll (no answer, 429, 5xx or any other unexpected
 *                status) the k-th failure in a row waits P * 2^(k-1),
 *                capped at max(P, COMMAND_POLL_BACKOFF_MAX_S), times
 *                [1, 1.5); and never less than the server's Retry-After
 *                (seconds or an HTTP-date; capped at
 *                COMMAND_RETRY_AFTER_MAX_S) plus up to a tenth more.
 * command_poll() leaves the delay until the next poll in p->next_delay_ms
 * (also command_poll_next_delay(p)); a caller schedules the first poll
 * with command_poll_first_delay(). */
#define COMMAND_POLL_STATE_FILE    "/var/lib/lifeline/command-poll"
#define COMMAND_ETAG_MAX           192
#define COMMAND_POLL_FULL_EVERY    12
#define COMMAND_POLL_BACKOFF_MAX_S 3600
/* an hour, as the back-off: a proxy's maintenance page saying "come back
 * tomorrow" must not hold a signed clear back from a machine in safe mode */
#define COMMAND_RETRY_AFTER_MAX_S 3600

struct command_url_state {
	char etag[COMMAND_ETAG_MAX]; /* of the last document judged, "" none */
	char last_modified[64];
};

struct command_poll_stats {
	uint64_t requests;     /* GETs sent */
	uint64_t not_modified; /* answered 304 */
	uint64_t full;         /* answered 200 with a body */
	uint64_t bytes;        /* received, headers and bodies */
};

struct command_poller {
	char seen[2][65];                /* sha256 of the last document judged per URL */
	struct command_url_state url[2]; /* [0] <machine-id>.cmd, [1] all.cmd */
	unsigned failures;               /* failed polls in a row */
	uint64_t polls;                  /* polls so far (for COMMAND_POLL_FULL_EVERY) */
	uint64_t next_delay_ms;          /* set by command_poll() */
	struct command_poll_stats stats;
	bool loaded; /* COMMAND_POLL_STATE_FILE read */
};

int command_poll(struct command_poller *p, const char *root, const struct lifeline_config *cfg,
                 void (*keepalive)(void *userdata), void *userdata, int64_t now,
                 unsigned *ret_judged);
uint64_t command_poll_next_delay(const struct command_poller *p);
uint64_t command_poll_first_delay(unsigned interval_s);
/* The delay after a poll with failures failed polls in a row (0: it
 * worked) and the server's Retry-After in seconds (-1: none). */
uint64_t command_poll_delay(unsigned interval_s, unsigned failures, int64_t retry_after_s);
/* A Retry-After value as seconds from now (an HTTP-date in the past: 0),
 * or -1 when it is neither form. */
int64_t command_retry_after_parse(const char *value, int64_t now);

/* One conditional GET (the poller's, also used by the poll benchmark). */
typedef void CURL;
struct command_http {
	const char *ca_file; /* NULL: the system's CA store */
	const char *client_cert;
	const char *client_key;
	void (*keepalive)(void *userdata); /* called while a request runs */
	void *userdata;
};
struct command_fetched {
	long status;
	char *body; /* status 200 only; the caller frees it */
	size_t size;
	char etag[COMMAND_ETAG_MAX]; /* the validators of a 200 */
	char last_modified[64];
	int64_t retry_after; /* seconds, -1: none */
	uint64_t bytes;      /* received, headers included */
};
/* GET url on the curl handle e with st's validators (st may be NULL).
 * Returns 0 with any HTTP status in *ret, or -errno when no answer came. */
int command_fetch(CURL *e, const char *url, const struct command_http *h,
                  const struct command_url_state *st, int64_t now, struct command_fetched *ret);
