/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fleet command checks: the names of actions and verdicts, and
 * command_verify(), which judges a document (signature, key id, the body's
 * schema, target, expiry, sequence) without touching any state. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/command/command-internal.h"
#include "agent/command/command.h"
#include "agent/conf/components.h"
#include "agent/conf/machine-id.h"
#include "common/strv.h"

static const char *const action_names[_COMMAND_ACTION_MAX] = {
    [COMMAND_ACTION_CLEAR] = "clear",
    [COMMAND_ACTION_QUARANTINE] = "quarantine",
    [COMMAND_ACTION_BLESS] = "bless",
    [COMMAND_ACTION_REBOOT] = "reboot",
    [COMMAND_ACTION_CLEAR_AND_REBOOT_IF_QUARANTINED] = "clear-and-reboot-if-quarantined",
    [COMMAND_ACTION_REBOOT_IF_SAFE_MODE] = "reboot-if-safe-mode",
};

static const char *const source_names[_COMMAND_SOURCE_MAX] = {
    [COMMAND_SOURCE_ALL] = "all",
    [COMMAND_SOURCE_MACHINE] = "machine",
};

static const char *const verdict_names[_COMMAND_VERDICT_MAX] = {
    [COMMAND_ACCEPTED] = "accepted",
    [COMMAND_REJECT_TOO_LONG] = "too-long",
    [COMMAND_REJECT_UNSIGNED] = "unsigned",
    [COMMAND_REJECT_BAD_SIGNATURE] = "bad-signature",
    [COMMAND_REJECT_WRONG_KEY] = "wrong-key",
    [COMMAND_REJECT_NOT_UTF8] = "not-utf8",
    [COMMAND_REJECT_MALFORMED] = "malformed",
    [COMMAND_REJECT_DUPLICATE_KEY] = "duplicate-key",
    [COMMAND_REJECT_UNKNOWN_ACTION] = "unknown-action",
    [COMMAND_REJECT_WRONG_TARGET] = "wrong-target",
    [COMMAND_REJECT_EXPIRED] = "expired",
    [COMMAND_REJECT_REPLAY] = "replay",
};

const char *command_action_to_string(enum command_action a)
{
	return (unsigned)a < _COMMAND_ACTION_MAX ? action_names[a] : NULL;
}

int command_action_from_string(const char *s)
{
	for (int i = 0; i < _COMMAND_ACTION_MAX; i++)
		if (streq_ptr(s, action_names[i]))
			return i;
	return -EINVAL;
}

const char *command_source_to_string(enum command_source s)
{
	return (unsigned)s < _COMMAND_SOURCE_MAX ? source_names[s] : NULL;
}

enum command_source command_source_of(const struct command *c)
{
	return strv_contains(c->targets, "all") ? COMMAND_SOURCE_ALL : COMMAND_SOURCE_MACHINE;
}

const char *command_verdict_to_string(enum command_verdict v)
{
	return (unsigned)v < _COMMAND_VERDICT_MAX ? verdict_names[v] : NULL;
}

void command_done(struct command *c)
{
	if (!c)
		return;
	strv_free(c->components);
	strv_free(c->targets);
	memset(c, 0, sizeof(*c));
}

void command_check_done(struct command_check *c)
{
	if (!c)
		return;
	command_done(&c->cmd);
	c->have_cmd = false;
}

/* ---- verify ---- */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* json-c keeps the last of duplicate keys without saying so. Count the
 * top-level object's keys in the text (one ':' each, outside strings, at
 * depth 1) and compare with what json-c kept. The text already parsed, so
 * its structure is sound. */
static size_t count_top_level_keys(const char *s, size_t n)
{
	size_t keys = 0;
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
		else if (c == ':' && depth == 1)
			keys++;
	}
	return keys;
}

_printf_(3, 4) static int verdict(struct command_check *ret, enum command_verdict v,
                                  const char *fmt, ...)
{
	va_list ap;

	ret->verdict = v;
	va_start(ap, fmt);
	vsnprintf(ret->detail, sizeof(ret->detail), fmt, ap);
	va_end(ap);
	return 0;
}

static int get_int_in(json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret)
{
	json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -EINVAL;
	x = json_object_get_int64(v);
	if (x < min || x > max)
		return -ERANGE;
	*ret = x;
	return 0;
}

/* A JSON array of distinct strings, each accepted by valid(). */
static int get_strings(json_object *o, const char *key, size_t max, bool (*valid)(const char *),
                       char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	json_object *a;
	size_t n;
	int r;

	if (!json_object_object_get_ex(o, key, &a)) {
		l = calloc(1, sizeof(char *));
		if (!l)
			return -ENOMEM;
		*ret = TAKE_PTR(l);
		return 0;
	}
	if (!json_object_is_type(a, json_type_array) || (n = json_object_array_length(a)) > max)
		return -EINVAL;
	l = calloc(1, sizeof(char *));
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(a, i);
		const char *s;

		if (!json_object_is_type(v, json_type_string) || !(s = json_object_get_string(v)) ||
		    strlen(s) != (size_t)json_object_get_string_len(v) || !valid(s) ||
		    strv_contains(l, s))
			return -EINVAL;
		r = strv_extend(&l, s);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

bool command_target_is_valid(const char *s)
{
	return streq(s, "all") || machine_id_is_valid(s);
}

/* The body's schema (command.h). Returns the verdict. */
static int parse_body(const char *body, size_t size, struct command_check *ret)
{
	static const char *const keys[] = {"version", "action",  "components", "targets",
	                                   "seq",     "expires", "issued"};
	_cleanup_(json_tokener_freep) json_tokener *tok = json_tokener_new();
	_cleanup_(json_object_putp) json_object *o = NULL;
	struct command c = {};
	json_object *v;
	int64_t x;
	int r;

	if (!tok)
		return -ENOMEM;
	if (!utf8_valid((const uint8_t *)body, size))
		return verdict(ret, COMMAND_REJECT_NOT_UTF8, "the body is not valid UTF-8");
	if (memchr(body, 0, size))
		return verdict(ret, COMMAND_REJECT_MALFORMED, "NUL byte in the body");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)size);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != size)
		return verdict(
		    ret, COMMAND_REJECT_MALFORMED, "not one JSON value: %s",
		    o ? "trailing characters"
		      : json_tokener_error_desc(json_tokener_get_error(tok) == json_tokener_continue
		                                    ? json_tokener_error_parse_eof
		                                    : json_tokener_get_error(tok)));
	if (!json_object_is_type(o, json_type_object))
		return verdict(ret, COMMAND_REJECT_MALFORMED, "the body is not a JSON object");
	if (count_top_level_keys(body, size) != (size_t)json_object_object_length(o))
		return verdict(ret, COMMAND_REJECT_DUPLICATE_KEY, "a key appears more than once");
	json_object_object_foreach(o, key, val)
	{
		bool known = false;

		(void)val;
		for (size_t i = 0; i < ELEMENTSOF(keys); i++)
			known = known || streq(key, keys[i]);
		if (!known)
			return verdict(ret, COMMAND_REJECT_MALFORMED, "unknown key \"%.64s\"", key);
	}
	if (get_int_in(o, "version", 1, 1, &x) < 0)
		return verdict(ret, COMMAND_REJECT_MALFORMED, "\"version\" must be 1");
	if (!json_object_object_get_ex(o, "action", &v) ||
	    !json_object_is_type(v, json_type_string))
		return verdict(ret, COMMAND_REJECT_MALFORMED, "\"action\" missing or not a string");
	r = command_action_from_string(json_object_get_string(v));
	if (r < 0)
		return verdict(ret, COMMAND_REJECT_UNKNOWN_ACTION, "unknown action \"%.64s\"",
		               json_object_get_string(v));
	c.action = (enum command_action)r;

	r = get_strings(o, "components", COMMAND_COMPONENTS_MAX, component_id_is_valid,
	                &c.components);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		command_done(&c);
		return verdict(ret, COMMAND_REJECT_MALFORMED,
		               "\"components\" must be at most %d distinct component ids",
		               COMMAND_COMPONENTS_MAX);
	}
	if (!json_object_object_get_ex(o, "targets", &v))
		r = -EINVAL;
	else
		r = get_strings(o, "targets", COMMAND_TARGETS_MAX, command_target_is_valid,
		                &c.targets);
	if (r == -ENOMEM) {
		command_done(&c);
		return r;
	}
	if (r < 0 || !c.targets[0] || (strv_contains(c.targets, "all") && c.targets[1])) {
		command_done(&c);
		return verdict(ret, COMMAND_REJECT_MALFORMED,
		               "\"targets\" must be [\"all\"] or 1..%d distinct machine-ids",
		               COMMAND_TARGETS_MAX);
	}
	if (get_int_in(o, "seq", 1, (int64_t)COMMAND_SEQ_MAX, &x) < 0) {
		command_done(&c);
		return verdict(ret, COMMAND_REJECT_MALFORMED,
		               "\"seq\" must be an integer 1..2^53-1");
	}
	c.seq = (uint64_t)x;
	if (get_int_in(o, "expires", 0, INT64_MAX, &c.expires) < 0 ||
	    get_int_in(o, "issued", 0, INT64_MAX, &c.issued) < 0 || c.issued > c.expires) {
		command_done(&c);
		return verdict(ret, COMMAND_REJECT_MALFORMED,
		               "\"issued\" and \"expires\" must be unix times, issued <= expires");
	}
	if ((c.action == COMMAND_ACTION_QUARANTINE && !c.components[0]) ||
	    ((c.action == COMMAND_ACTION_BLESS || c.action == COMMAND_ACTION_REBOOT ||
	      c.action == COMMAND_ACTION_REBOOT_IF_SAFE_MODE) &&
	     c.components[0])) {
		enum command_action a = c.action;

		command_done(&c);
		return verdict(ret, COMMAND_REJECT_MALFORMED, "%s takes %s components",
		               command_action_to_string(a),
		               a == COMMAND_ACTION_QUARANTINE ? "one or more" : "no");
	}
	ret->cmd = c;
	ret->have_cmd = true;
	return verdict(ret, COMMAND_ACCEPTED, "%s, seq %" PRIu64,
	               command_action_to_string(c.action), c.seq);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i] || !strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static bool is_b64(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
		            s[i]) ||
		    !s[i])
			return false;
	return true;
}

/* Which trusted key has the id at p (16 hex digits): its index, or -1
 * with the trusted ids listed in ret_list. */
static int find_key(const struct command_trust *t, const char *p, char *list, size_t list_size,
                    int *ret_error)
{
	size_t used = 0;

	*ret_error = 0;
	list[0] = 0;
	for (size_t i = 0; i < t->n_keys; i++) {
		char id[COMMAND_KEY_ID_LEN + 1];
		int r = command_key_id(t->keys[i], id);

		if (r < 0) {
			*ret_error = r;
			return -1;
		}
		if (strncmp(p, id, COMMAND_KEY_ID_LEN) == 0)
			return (int)i;
		if (used < list_size)
			used += (size_t)snprintf(list + used, list_size - used, "%s%s",
			                         i > 0 ? ", " : "", id);
	}
	return -1;
}

int command_body_check(const char *body, size_t size, struct command_check *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (size > COMMAND_BODY_MAX)
		return verdict(ret, COMMAND_REJECT_TOO_LONG, "body of %zu bytes, at most %d", size,
		               COMMAND_BODY_MAX);
	return parse_body(body, size, ret);
}

int command_verify(const char *doc, size_t size, EVP_PKEY *public_key, const char *machine_id,
                   uint64_t last_seq, int64_t now, struct command_check *ret)
{
	struct command_trust t = {.keys = &public_key,
	                          .n_keys = public_key ? 1 : 0,
	                          .machine_id = machine_id,
	                          .last_seq = {last_seq, last_seq}};

	return command_verify_trust(doc, size, &t, now, ret);
}

int command_verify_trust(const char *doc, size_t size, const struct command_trust *t, int64_t now,
                         struct command_check *ret)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
	char trusted[COMMAND_KEYS_MAX * (COMMAND_KEY_ID_LEN + 2) + 1], b64[COMMAND_SIG_B64_LEN + 1],
	    again[COMMAND_SIG_B64_LEN + 1];
	const char *machine_id = t->machine_id;
	EVP_PKEY *public_key;
	enum command_source src;
	int k, err;
	const char *nl, *line2, *p;
	size_t body_len, line2_len, rest;
	uint8_t sig[COMMAND_SIG_B64_LEN / 4 * 3];
	int r;

	memset(ret, 0, sizeof(*ret));
	r = command_sha256_hex(doc, size, ret->sha256);
	if (r < 0)
		return r;
	if (size > COMMAND_DOC_MAX)
		return verdict(ret, COMMAND_REJECT_TOO_LONG, "%zu bytes, at most %d", size,
		               COMMAND_DOC_MAX);
	nl = memchr(doc, '\n', size);
	body_len = nl ? (size_t)(nl - doc) : size;
	if (body_len > COMMAND_BODY_MAX)
		return verdict(ret, COMMAND_REJECT_TOO_LONG, "body of %zu bytes, at most %d",
		               body_len, COMMAND_BODY_MAX);
	if (!nl || nl + 1 == doc + size)
		return verdict(ret, COMMAND_REJECT_UNSIGNED, "no signature line");
	line2 = nl + 1;
	rest = size - body_len - 1;
	p = memchr(line2, '\n', rest);
	line2_len = p ? (size_t)(p - line2) : rest;
	if (line2_len < 10 || strncmp(line2, "signature:", 10) != 0)
		return verdict(ret, COMMAND_REJECT_UNSIGNED, "line 2 is not a signature line");

	/* "signature: ed25519 " KEYID " " BASE64, nothing else */
	p = line2 + strlen(COMMAND_SIGNATURE_PREFIX);
	if (line2_len !=
	        strlen(COMMAND_SIGNATURE_PREFIX) + COMMAND_KEY_ID_LEN + 1 + COMMAND_SIG_B64_LEN ||
	    strncmp(line2, COMMAND_SIGNATURE_PREFIX, strlen(COMMAND_SIGNATURE_PREFIX)) != 0 ||
	    !is_hex(p, COMMAND_KEY_ID_LEN) || p[COMMAND_KEY_ID_LEN] != ' ' ||
	    !is_b64(p + COMMAND_KEY_ID_LEN + 1, COMMAND_SIG_B64_LEN))
		return verdict(ret, COMMAND_REJECT_BAD_SIGNATURE,
		               "signature line not understood (want \"" COMMAND_SIGNATURE_PREFIX
		               "KEYID BASE64\")");
	memcpy(b64, p + COMMAND_KEY_ID_LEN + 1, COMMAND_SIG_B64_LEN);
	b64[COMMAND_SIG_B64_LEN] = 0;
	/* EVP_DecodeBlock() counts '=' padding as zero bytes; accept only the
	 * canonical encoding of exactly 64 bytes. */
	if (EVP_DecodeBlock(sig, (const unsigned char *)b64, COMMAND_SIG_B64_LEN) !=
	        (int)sizeof(sig) ||
	    EVP_EncodeBlock((unsigned char *)again, sig, COMMAND_ED25519_SIG_LEN) !=
	        COMMAND_SIG_B64_LEN ||
	    memcmp(again, b64, COMMAND_SIG_B64_LEN) != 0)
		return verdict(ret, COMMAND_REJECT_BAD_SIGNATURE,
		               "the signature is not 64 bytes of base64");

	memcpy(ret->key_id, p, COMMAND_KEY_ID_LEN);
	ret->key_id[COMMAND_KEY_ID_LEN] = 0;
	k = find_key(t, p, trusted, sizeof(trusted), &err);
	if (err < 0)
		return err;
	if (k < 0)
		return verdict(
		    ret, COMMAND_REJECT_WRONG_KEY,
		    "signed with key %s, which this machine does not trust (trusted: %s)",
		    ret->key_id, t->n_keys > 0 ? trusted : "none");
	public_key = t->keys[k];
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, public_key) != 1)
		return -EIO;
	if (EVP_DigestVerify(ctx, sig, COMMAND_ED25519_SIG_LEN, (const unsigned char *)doc,
	                     body_len) != 1)
		return verdict(ret, COMMAND_REJECT_BAD_SIGNATURE,
		               "the signature does not match the body");
	/* Only a final newline may follow: anything else is unsigned. */
	if (rest > line2_len && rest != line2_len + 1)
		return verdict(ret, COMMAND_REJECT_MALFORMED, "text after the signature line");

	r = parse_body(doc, body_len, ret);
	if (r < 0 || ret->verdict != COMMAND_ACCEPTED)
		return r;
	if (!strv_contains(ret->cmd.targets, "all") &&
	    !(machine_id && strv_contains(ret->cmd.targets, machine_id)))
		return verdict(ret, COMMAND_REJECT_WRONG_TARGET,
		               "not addressed to this machine (%s)",
		               machine_id ? machine_id : "no machine-id");
	if (now > ret->cmd.expires)
		return verdict(ret, COMMAND_REJECT_EXPIRED, "expired at %" PRId64 ", now %" PRId64,
		               ret->cmd.expires, now);
	src = command_source_of(&ret->cmd);
	if (ret->cmd.seq <= t->last_seq[src])
		return verdict(
		    ret, COMMAND_REJECT_REPLAY, "seq %" PRIu64 " <= last applied %" PRIu64 " (%s)",
		    ret->cmd.seq, t->last_seq[src],
		    src == COMMAND_SOURCE_ALL ? "fleet-wide commands" : "commands to this machine");
	return 0;
}
