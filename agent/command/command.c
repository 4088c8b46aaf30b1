/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Signed fleet commands: the document format and its checks are in
 * command.h. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/command/command.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "agent/conf/components.h"
#include "agent/conf/config.h"
#include "agent/ctl/ctl.h"
#include "agent/conf/machine-id.h"
#include "agent/report/report.h"
#include "agent/decision/runstate.h"
#include "agent/report/spool.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free)

#define ED25519_SIG_LEN 64
#define ED25519_KEY_LEN 32
#define SIG_B64_LEN     88 /* 4 * ceil(64 / 3) */
#define KEY_FILE_MAX    (64 * 1024)

static const char *const action_names[_COMMAND_ACTION_MAX] = {
    [COMMAND_ACTION_CLEAR] = "clear",
    [COMMAND_ACTION_QUARANTINE] = "quarantine",
    [COMMAND_ACTION_BLESS] = "bless",
    [COMMAND_ACTION_REBOOT] = "reboot",
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

static void hex(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static int sha256_hex(const void *data, size_t size, char ret[65])
{
	uint8_t md[32];
	unsigned len = 0;

	if (EVP_Digest(data, size, md, &len, EVP_sha256(), NULL) != 1 || len != sizeof(md))
		return -EIO;
	hex(md, sizeof(md), ret);
	return 0;
}

/* ---- keys ---- */

static int write_pem(const char *path, EVP_PKEY *key, bool private_key)
{
	_cleanup_(BIO_freep) BIO *mem = BIO_new(private_key ? BIO_s_secmem() : BIO_s_mem());
	char *data = NULL;
	long len;

	if (!mem)
		return -ENOMEM;
	if ((private_key ? PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL)
	                 : PEM_write_bio_PUBKEY(mem, key)) != 1)
		return -EIO;
	len = BIO_get_mem_data(mem, &data);
	if (len <= 0)
		return -EIO;
	return write_file_atomic(path, data, (size_t)len, private_key ? 0600 : 0644);
}

int command_keygen(const char *private_path, const char *public_path)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx =
	    EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	int r;

	if (!pctx)
		return -ENOMEM;
	/* Never overwrite a fleet's private key. */
	if (access(private_path, F_OK) == 0)
		return -EEXIST;
	if (EVP_PKEY_keygen_init(pctx) != 1 || EVP_PKEY_keygen(pctx, &key) != 1)
		return -EIO;
	r = write_pem(private_path, key, true);
	if (r < 0)
		return r;
	return write_pem(public_path, key, false);
}

static int key_load(const char *path, bool private_key, EVP_PKEY **ret)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_(BIO_freep) BIO *mem = NULL;
	EVP_PKEY *key;
	size_t size = 0;
	int r;

	r = read_full_file(path, KEY_FILE_MAX, &text, &size);
	if (r < 0)
		return r;
	mem = BIO_new_mem_buf(text, (int)size);
	if (!mem)
		return -ENOMEM;
	key = private_key ? PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL)
	                  : PEM_read_bio_PUBKEY(mem, NULL, NULL, NULL);
	if (private_key)
		OPENSSL_cleanse(text, size);
	if (!key)
		return -EBADMSG;
	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		return -EKEYREJECTED;
	}
	*ret = key;
	return 0;
}

int command_key_load_private(const char *path, EVP_PKEY **ret)
{
	return key_load(path, true, ret);
}

int command_key_load_public(const char *path, EVP_PKEY **ret)
{
	return key_load(path, false, ret);
}

int command_key_id(EVP_PKEY *key, char ret[COMMAND_KEY_ID_LEN + 1])
{
	uint8_t raw[ED25519_KEY_LEN];
	size_t len = sizeof(raw);
	char full[65];
	int r;

	if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof(raw))
		return -EKEYREJECTED;
	r = sha256_hex(raw, len, full);
	if (r < 0)
		return r;
	memcpy(ret, full, COMMAND_KEY_ID_LEN);
	ret[COMMAND_KEY_ID_LEN] = 0;
	return 0;
}

/* ---- format and sign ---- */

int command_body_format(const struct command *c, char **ret)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();
	json_object *comp = json_object_new_array(), *targets = json_object_new_array();
	const char *s;

	if (!o || !comp || !targets) {
		json_object_put(comp);
		json_object_put(targets);
		return -ENOMEM;
	}
	STRV_FOREACH (x, c->components)
		json_object_array_add(comp, json_object_new_string(*x));
	STRV_FOREACH (x, c->targets)
		json_object_array_add(targets, json_object_new_string(*x));
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(
	    o, "action", json_object_new_string(strempty(command_action_to_string(c->action))));
	json_object_object_add(o, "components", comp);
	json_object_object_add(o, "targets", targets);
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)c->seq));
	json_object_object_add(o, "expires", json_object_new_int64(c->expires));
	json_object_object_add(o, "issued", json_object_new_int64(c->issued));
	s = json_object_to_json_string_ext(o,
	                                   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s || !(*ret = strdup(s)))
		return -ENOMEM;
	return 0;
}

int command_sign(EVP_PKEY *private_key, const char *body, size_t size, char **ret_doc)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t sig[ED25519_SIG_LEN];
	size_t sig_len = sizeof(sig);
	char b64[SIG_B64_LEN + 1], id[COMMAND_KEY_ID_LEN + 1];
	int r;

	if (!ctx)
		return -ENOMEM;
	r = command_key_id(private_key, id);
	if (r < 0)
		return r;
	/* Ed25519 signs the message itself: no digest (NULL md), one shot
	 * (EVP_DigestSignInit(3), EVP_SIGNATURE-ED25519(7)). */
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, private_key) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)body, size) != 1 ||
	    sig_len != sizeof(sig))
		return -EIO;
	if (EVP_EncodeBlock((unsigned char *)b64, sig, (int)sig_len) != SIG_B64_LEN)
		return -EIO;
	b64[SIG_B64_LEN] = 0;
	if (asprintf(ret_doc, "%.*s\n" COMMAND_SIGNATURE_PREFIX "%s %s\n", (int)size, body, id,
	             b64) < 0)
		return -ENOMEM;
	return 0;
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

static bool target_valid(const char *s)
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
		r = get_strings(o, "targets", COMMAND_TARGETS_MAX, target_valid, &c.targets);
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
	    ((c.action == COMMAND_ACTION_BLESS || c.action == COMMAND_ACTION_REBOOT) &&
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

int command_verify(const char *doc, size_t size, EVP_PKEY *public_key, const char *machine_id,
                   uint64_t last_seq, int64_t now, struct command_check *ret)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
	char our_id[COMMAND_KEY_ID_LEN + 1], b64[SIG_B64_LEN + 1], again[SIG_B64_LEN + 1];
	const char *nl, *line2, *p;
	size_t body_len, line2_len, rest;
	uint8_t sig[SIG_B64_LEN / 4 * 3];
	int r;

	memset(ret, 0, sizeof(*ret));
	r = sha256_hex(doc, size, ret->sha256);
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
	if (line2_len != strlen(COMMAND_SIGNATURE_PREFIX) + COMMAND_KEY_ID_LEN + 1 + SIG_B64_LEN ||
	    strncmp(line2, COMMAND_SIGNATURE_PREFIX, strlen(COMMAND_SIGNATURE_PREFIX)) != 0 ||
	    !is_hex(p, COMMAND_KEY_ID_LEN) || p[COMMAND_KEY_ID_LEN] != ' ' ||
	    !is_b64(p + COMMAND_KEY_ID_LEN + 1, SIG_B64_LEN))
		return verdict(ret, COMMAND_REJECT_BAD_SIGNATURE,
		               "signature line not understood (want \"" COMMAND_SIGNATURE_PREFIX
		               "KEYID BASE64\")");
	memcpy(b64, p + COMMAND_KEY_ID_LEN + 1, SIG_B64_LEN);
	b64[SIG_B64_LEN] = 0;
	/* EVP_DecodeBlock() counts '=' padding as zero bytes; accept only the
	 * canonical encoding of exactly 64 bytes. */
	if (EVP_DecodeBlock(sig, (const unsigned char *)b64, SIG_B64_LEN) != (int)sizeof(sig) ||
	    EVP_EncodeBlock((unsigned char *)again, sig, ED25519_SIG_LEN) != SIG_B64_LEN ||
	    memcmp(again, b64, SIG_B64_LEN))
		return verdict(ret, COMMAND_REJECT_BAD_SIGNATURE,
		               "the signature is not 64 bytes of base64");

	r = command_key_id(public_key, our_id);
	if (r < 0)
		return r;
	if (strncmp(p, our_id, COMMAND_KEY_ID_LEN) != 0)
		return verdict(ret, COMMAND_REJECT_WRONG_KEY,
		               "signed with key %.16s, this machine trusts key %s", p, our_id);
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, public_key) != 1)
		return -EIO;
	if (EVP_DigestVerify(ctx, sig, ED25519_SIG_LEN, (const unsigned char *)doc, body_len) != 1)
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
	if (ret->cmd.seq <= last_seq)
		return verdict(ret, COMMAND_REJECT_REPLAY,
		               "seq %" PRIu64 " <= last applied %" PRIu64, ret->cmd.seq, last_seq);
	return 0;
}

/* ---- the replay guard ---- */

int command_seq_read(const char *root, uint64_t *ret_seq, char ret_sha[65])
{
	_cleanup_free_ char *path = path_under_root(root, COMMAND_SEQ_FILE), *text = NULL;
	unsigned long long seq;
	char sha[65];
	int r, n = 0;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 256, &text, NULL);
	if (r == -ENOENT) {
		*ret_seq = 0;
		if (ret_sha)
			ret_sha[0] = 0;
		return 0;
	}
	if (r < 0)
		return r == -EFBIG ? -EUCLEAN : r;
	if (sscanf(text, "%llu %64[0-9a-f]%n", &seq, sha, &n) != 2 || strlen(sha) != 64 ||
	    !streq(text + n, "\n") || seq > COMMAND_SEQ_MAX || text[0] < '0' || text[0] > '9')
		return -EUCLEAN;
	*ret_seq = seq;
	if (ret_sha)
		memcpy(ret_sha, sha, sizeof(sha));
	return 0;
}

int command_seq_write(const char *root, uint64_t seq, const char *sha)
{
	_cleanup_free_ char *path = path_under_root(root, COMMAND_SEQ_FILE), *dir = NULL,
	                    *buf = NULL;
	int r;

	if (!path || !(dir = path_under_root(root, LIFELINE_STATE_DIR)))
		return -ENOMEM;
	if (asprintf(&buf, "%" PRIu64 " %s\n", seq, sha) < 0)
		return -ENOMEM;
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	return write_file_atomic(path, buf, strlen(buf), 0644);
}

/* ---- apply ---- */

static bool root_is_real(const char *root)
{
	return !root || !*root || streq(root, "/");
}

static int run_reboot(void)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return CTL_EXIT_FAILURE;
	if (pid == 0) {
		execlp("systemctl", "systemctl", "reboot", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return CTL_EXIT_FAILURE;
	return CTL_EXIT_OK;
}

static int apply_with_ctl(const char *root, const struct command *c, void *userdata)
{
	struct ctl_ctx ctx = {
	    .root = root, .args = c->components, .n_args = (int)strv_length(c->components)};

	(void)userdata;
	switch (c->action) {
	case COMMAND_ACTION_CLEAR:
		ctx.all = ctx.n_args == 0;
		return ctl_clear(&ctx);
	case COMMAND_ACTION_QUARANTINE:
		return ctl_quarantine(&ctx);
	case COMMAND_ACTION_BLESS:
		return ctl_bless(&ctx);
	case COMMAND_ACTION_REBOOT:
		if (!root_is_real(root)) {
			log_info("reboot command accepted; not rebooting for --root=%s", root);
			return CTL_EXIT_OK;
		}
		return run_reboot();
	default:
		return CTL_EXIT_FAILURE;
	}
}

static void emit_report(const char *root, const struct lifeline_config *cfg,
                        const struct command_check *chk, const char *result, const char *source,
                        int exit_code)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	json_object *c;

	if (report_build_config(root, cfg, REPORT_EVENT_COMMAND, &o) < 0)
		return;
	c = json_object_new_object();
	json_object_object_add(c, "result", json_object_new_string(result));
	json_object_object_add(c, "reason",
	                       json_object_new_string(command_verdict_to_string(chk->verdict)));
	json_object_object_add(c, "detail", json_object_new_string(chk->detail));
	json_object_object_add(c, "source", source ? json_object_new_string(source) : NULL);
	json_object_object_add(c, "sha256", json_object_new_string(chk->sha256));
	if (chk->have_cmd) {
		json_object *a = json_object_new_array();

		json_object_object_add(
		    c, "action", json_object_new_string(command_action_to_string(chk->cmd.action)));
		json_object_object_add(c, "seq", json_object_new_int64((int64_t)chk->cmd.seq));
		STRV_FOREACH (x, chk->cmd.components)
			json_object_array_add(a, json_object_new_string(*x));
		json_object_object_add(c, "components", a);
	}
	if (streq(result, "accepted"))
		json_object_object_add(c, "applied",
		                       json_object_new_boolean(exit_code == CTL_EXIT_OK));
	json_object_object_add(o, "command", c);
	if (report_emit(root, cfg, o) < 0)
		log_debug("Failed to spool the command report");
}

/* One judge at a time (lifelined's poll and a lifelinectl apply-command):
 * otherwise both could pass the seq check with the same document. */
static int lock_judging(const char *root)
{
	_cleanup_free_ char *dir = path_under_root(root, LIFELINE_STATE_DIR), *p = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (!dir || !(p = path_join(dir, "command.lock")))
		return -ENOMEM;
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return negative_errno();
	return TAKE_FD(fd);
}

int command_process(const char *root, const struct lifeline_config *cfg, const char *doc,
                    size_t size, const char *source, const struct command_applier *applier,
                    int64_t now, struct command_check *ret_check, int *ret_exit)
{
	static const struct command_applier default_applier = {.apply = apply_with_ctl};
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
	_cleanup_free_ char *key_path = NULL;
	_cleanup_close_ int lock = -1;
	struct command_check chk;
	char mid[33];
	bool have_mid;
	uint64_t last = 0;
	int r, code = CTL_EXIT_FAILURE;

	if (!applier)
		applier = &default_applier;
	if (!cfg->commands_public_key || !*cfg->commands_public_key)
		return -ENOKEY;
	key_path = path_under_root(root, cfg->commands_public_key);
	if (!key_path)
		return -ENOMEM;
	r = command_key_load_public(key_path, &pub);
	if (r < 0)
		return r == -ENOENT ? -ENOKEY : r;
	have_mid = machine_id_read(root, mid) >= 0;
	lock = lock_judging(root);
	if (lock < 0)
		return lock;
	r = command_seq_read(root, &last, NULL);
	if (r < 0)
		return r;

	r = command_verify(doc, size, pub, have_mid ? mid : NULL, last, now, &chk);
	if (r < 0)
		return r;
	if (chk.verdict == COMMAND_ACCEPTED) {
		/* The seq first, durably: a power cut from here on loses this
		 * command rather than ever applying it twice. */
		r = command_seq_write(root, chk.cmd.seq, chk.sha256);
		if (r < 0) {
			snprintf(chk.detail, sizeof(chk.detail),
			         "not applied: cannot record seq: %s", strerror(-r));
			emit_report(root, cfg, &chk, "error", source, CTL_EXIT_FAILURE);
			command_check_done(&chk);
			return r;
		}
		fault_point("command-seq-written");
		code = applier->apply(root, &chk.cmd, applier->userdata);
		emit_report(root, cfg, &chk, "accepted", source, code);
	} else
		emit_report(root, cfg, &chk, "rejected", source, code);
	*ret_check = chk;
	if (ret_exit)
		*ret_exit = code;
	return 0;
}

/* ---- polling ---- */

/* The seq a document claims, unverified: only to try lower ones first. */
static uint64_t peek_seq(const char *doc, size_t size)
{
	_cleanup_(json_tokener_freep) json_tokener *tok = json_tokener_new();
	_cleanup_(json_object_putp) json_object *o = NULL;
	const char *nl = memchr(doc, '\n', size);
	json_object *v;

	if (!tok || !nl || nl - doc > COMMAND_BODY_MAX)
		return UINT64_MAX;
	o = json_tokener_parse_ex(tok, doc, (int)(nl - doc));
	if (!o || !json_object_object_get_ex(o, "seq", &v) ||
	    !json_object_is_type(v, json_type_int))
		return UINT64_MAX;
	return (uint64_t)json_object_get_int64(v);
}

int command_poll(struct command_poller *p, const char *root, const struct lifeline_config *cfg,
                 void (*keepalive)(void *userdata), void *userdata, int64_t now,
                 unsigned *ret_judged)
{
	struct spool_http h = {
	    .allow_plain_http = true, .keepalive = keepalive, .userdata = userdata};
	_cleanup_free_ char *ca = NULL, *cert = NULL, *key = NULL;
	char *urls[2] = {}, *docs[2] = {}, mid[33], last_sha[65] = "", sha[2][65];
	size_t sizes[2] = {};
	uint64_t last = 0;
	unsigned judged = 0, order[2] = {0, 1};
	int r, result = 0;
	size_t base_len;

	if (ret_judged)
		*ret_judged = 0;
	if (!cfg->commands_url || !*cfg->commands_url)
		return 0;
	base_len = strlen(cfg->commands_url);
	while (base_len > 0 && cfg->commands_url[base_len - 1] == '/')
		base_len--;
	/* Documents are signed: plain http cannot forge one, so any static
	 * web server will do. An https server is verified with the fleet's
	 * TLS settings of [report] (ca_file, client certificate): typically
	 * the same fleet server and private CA. */
	if (cfg->report_ca_file && *cfg->report_ca_file)
		h.ca_file = ca = path_under_root(root, cfg->report_ca_file);
	if (cfg->report_client_cert && *cfg->report_client_cert)
		h.client_cert = cert = path_under_root(root, cfg->report_client_cert);
	if (cfg->report_client_key && *cfg->report_client_key)
		h.client_key = key = path_under_root(root, cfg->report_client_key);
	if (machine_id_read(root, mid) >= 0 &&
	    asprintf(&urls[0], "%.*s/%s.cmd", (int)base_len, cfg->commands_url, mid) < 0)
		urls[0] = NULL;
	if (asprintf(&urls[1], "%.*s/all.cmd", (int)base_len, cfg->commands_url) < 0)
		urls[1] = NULL;
	(void)command_seq_read(root, &last, last_sha);

	for (int i = 0; i < 2; i++) {
		long status = 0;

		if (!urls[i])
			continue;
		r = spool_http_request(&h, urls[i], NULL, 0, SPOOL_FILE_MAX, &status, &docs[i],
		                       &sizes[i], NULL);
		if (r < 0 || status != 200) {
			if (r >= 0 && status != 404) {
				log_debug("%s: HTTP %ld", urls[i], status);
				r = -EPROTO;
			}
			if (r < 0 && result == 0)
				result = r;
			free(docs[i]);
			docs[i] = NULL;
			if (status == 404)
				p->seen[i][0] = 0;
			continue;
		}
		if (sha256_hex(docs[i], sizes[i], sha[i]) < 0 || streq(sha[i], p->seen[i]) ||
		    streq(sha[i], last_sha)) {
			memcpy(p->seen[i], sha[i], sizeof(sha[i]));
			free(docs[i]);
			docs[i] = NULL;
		}
	}
	if (docs[0] && docs[1] && peek_seq(docs[1], sizes[1]) < peek_seq(docs[0], sizes[0])) {
		order[0] = 1;
		order[1] = 0;
	}
	for (int k = 0; k < 2; k++) {
		unsigned i = order[k];
		struct command_check chk;

		if (!docs[i])
			continue;
		r = command_process(root, cfg, docs[i], sizes[i], urls[i], NULL, now, &chk, NULL);
		if (r < 0) {
			/* Not judged (no key, seq file unreadable): try again
			 * at the next poll. */
			log_debug_errno(r, "Cannot judge %s: %m", urls[i]);
			if (result == 0)
				result = r;
			continue;
		}
		memcpy(p->seen[i], sha[i], sizeof(sha[i]));
		command_check_done(&chk);
		judged++;
	}
	for (int i = 0; i < 2; i++) {
		free(urls[i]);
		free(docs[i]);
	}
	if (ret_judged)
		*ret_judged = judged;
	return result;
}

/* ---- lifelinectl verbs ---- */

/* "--name VALUE" or "--name=VALUE" at args[*i]; NULL when args[*i] is not
 * that option. *missing is set when the value is absent. */
static const char *opt_value(const struct ctl_ctx *ctx, int *i, const char *name, bool *missing)
{
	const char *a = ctx->args[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != 0)
		return NULL;
	if (*i + 1 >= ctx->n_args) {
		*missing = true;
		return NULL;
	}
	return ctx->args[++*i];
}

static int split_list(const char *v, bool (*valid)(const char *), char ***l)
{
	_cleanup_free_ char *copy = strdup(v);
	char *tok, *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!valid(tok))
			return -EINVAL;
		if (!strv_contains(*l, tok) && strv_extend(l, tok) < 0)
			return -ENOMEM;
	}
	return 0;
}

int command_verb_keygen(const struct ctl_ctx *ctx)
{
	int r;

	if (ctx->n_args != 2) {
		log_error("keygen PRIVATE PUBLIC: two file names needed");
		return CTL_EXIT_USAGE;
	}
	r = command_keygen(ctx->args[0], ctx->args[1]);
	if (r == -EEXIST) {
		log_error("%s exists; not overwriting a private key", ctx->args[0]);
		return CTL_EXIT_FAILURE;
	}
	if (r < 0) {
		log_error_errno(r, "Failed to write the key pair %s, %s: %m", ctx->args[0],
		                ctx->args[1]);
		return CTL_EXIT_FAILURE;
	}
	log_info("Ed25519 key pair written: %s (private, keep it off the machines), %s (install as "
	         "/etc/lifeline/fleet.pub)",
	         ctx->args[0], ctx->args[1]);
	return CTL_EXIT_OK;
}

int command_verb_sign(const struct ctl_ctx *ctx)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_free_ char *body = NULL, *doc = NULL;
	const char *key_path = NULL, *action = NULL, *expires = NULL, *seq = NULL, *issued = NULL,
	           *v;
	struct command c = {};
	char *end;
	bool missing = false;
	int r, ret = CTL_EXIT_USAGE;

	for (int i = 0; i < ctx->n_args; i++) {
		if (streq(ctx->args[i], "--"))
			continue;
		if ((v = opt_value(ctx, &i, "--key", &missing)))
			key_path = v;
		else if ((v = opt_value(ctx, &i, "--action", &missing)))
			action = v;
		else if ((v = opt_value(ctx, &i, "--seq", &missing)))
			seq = v;
		else if ((v = opt_value(ctx, &i, "--expires", &missing)))
			expires = v;
		else if ((v = opt_value(ctx, &i, "--issued", &missing)))
			issued = v;
		else if ((v = opt_value(ctx, &i, "--component", &missing))) {
			if (split_list(v, component_id_is_valid, &c.components) < 0) {
				log_error("sign-command: bad component id in '%s'", v);
				goto out;
			}
		} else if ((v = opt_value(ctx, &i, "--target", &missing))) {
			if (split_list(v, target_valid, &c.targets) < 0) {
				log_error("sign-command: --target takes all or machine-ids (32 hex "
				          "digits), comma-separated");
				goto out;
			}
		} else {
			log_error("sign-command: %s '%s'",
			          missing ? "a value is needed after" : "unknown argument",
			          ctx->args[i]);
			goto out;
		}
		if (missing) {
			log_error("sign-command: a value is needed after '%s'", ctx->args[i]);
			goto out;
		}
	}
	if (!key_path || !action || !seq || !expires || !c.targets) {
		log_error("sign-command --key PRIVATE --action clear|quarantine|bless|reboot "
		          "[--component ID...] "
		          "--target all|MACHINE-ID[,...] --seq N --expires UNIX|+SECONDS");
		goto out;
	}
	r = command_action_from_string(action);
	if (r < 0) {
		log_error("sign-command: unknown action '%s'", action);
		goto out;
	}
	c.action = (enum command_action)r;
	if (!c.components && !(c.components = calloc(1, sizeof(char *)))) {
		ret = CTL_EXIT_FAILURE;
		goto out;
	}
	if ((c.action == COMMAND_ACTION_QUARANTINE && !c.components[0]) ||
	    ((c.action == COMMAND_ACTION_BLESS || c.action == COMMAND_ACTION_REBOOT) &&
	     c.components[0])) {
		log_error("sign-command: %s takes %s --component", action,
		          c.action == COMMAND_ACTION_QUARANTINE ? "at least one" : "no");
		goto out;
	}
	if (strv_contains(c.targets, "all") && c.targets[1]) {
		log_error("sign-command: --target all cannot be combined with machine-ids");
		goto out;
	}
	errno = 0;
	c.seq = strtoull(seq, &end, 10);
	if (errno || *end || !*seq || *seq == '-' || c.seq == 0 || c.seq > COMMAND_SEQ_MAX) {
		log_error("sign-command: --seq must be an integer 1..2^53-1");
		goto out;
	}
	c.issued = (int64_t)time(NULL);
	if (issued) {
		errno = 0;
		c.issued = strtoll(issued, &end, 10);
		if (errno || *end || !*issued || c.issued < 0) {
			log_error("sign-command: --issued must be unix seconds");
			goto out;
		}
	}
	errno = 0;
	c.expires = strtoll(expires + (*expires == '+'), &end, 10);
	if (errno || *end || !expires[*expires == '+'] || c.expires < 0 ||
	    (*expires == '+' && c.expires > INT64_MAX - c.issued)) {
		log_error("sign-command: --expires must be unix seconds or +SECONDS");
		goto out;
	}
	if (*expires == '+')
		c.expires += c.issued;
	if (c.expires < c.issued) {
		log_error("sign-command: --expires is before --issued");
		goto out;
	}
	ret = CTL_EXIT_FAILURE;
	r = command_key_load_private(key_path, &key);
	if (r < 0) {
		log_error_errno(r, "Failed to load the Ed25519 private key %s: %m", key_path);
		goto out;
	}
	r = command_body_format(&c, &body);
	if (r >= 0)
		r = command_sign(key, body, strlen(body), &doc);
	if (r < 0) {
		log_error_errno(r, "Failed to sign: %m");
		goto out;
	}
	if (fputs(doc, stdout) < 0 || fflush(stdout) != 0) {
		log_error_errno(errno, "Failed to write the document: %m");
		goto out;
	}
	ret = CTL_EXIT_OK;
out:
	command_done(&c);
	return ret;
}

int command_verb_apply(const struct ctl_ctx *ctx)
{
	_cleanup_free_ char *doc = NULL;
	struct lifeline_config cfg;
	struct command_check chk;
	const char *file = NULL;
	size_t size = 0;
	int r, code = CTL_EXIT_FAILURE;

	for (int i = 0; i < ctx->n_args; i++) {
		if (streq(ctx->args[i], "--"))
			continue;
		if (file) {
			log_error("apply-command FILE: one file");
			return CTL_EXIT_USAGE;
		}
		file = ctx->args[i];
	}
	if (!file) {
		log_error("apply-command FILE: a command document is needed");
		return CTL_EXIT_USAGE;
	}
	if (geteuid() != 0) {
		log_error("apply-command changes the boot state: run it as root");
		return CTL_EXIT_FAILURE;
	}
	r = read_full_file(file, SPOOL_FILE_MAX, &doc, &size);
	if (r < 0) {
		log_error_errno(r, "Failed to read %s: %m", file);
		return CTL_EXIT_FAILURE;
	}
	config_init_defaults(&cfg);
	(void)config_load(ctx->root, &cfg);
	r = command_process(ctx->root, &cfg, doc, size, file, NULL, (int64_t)time(NULL), &chk,
	                    &code);
	if (r == -ENOKEY)
		log_error("No fleet public key ([commands] public_key = %s): cannot verify %s",
		          strempty(cfg.commands_public_key), file);
	else if (r == -EUCLEAN)
		log_error("%s is damaged: every command is refused until it is repaired",
		          COMMAND_SEQ_FILE);
	else if (r < 0)
		log_error_errno(r, "Failed to check %s: %m", file);
	else if (chk.verdict != COMMAND_ACCEPTED) {
		printf("rejected: %s: %s\n", command_verdict_to_string(chk.verdict), chk.detail);
		code = CTL_EXIT_FAILURE;
	} else
		printf("accepted: %s%s\n", chk.detail,
		       code == CTL_EXIT_OK ? "" : " (applying it failed)");
	if (r < 0)
		code = CTL_EXIT_FAILURE;
	else
		command_check_done(&chk);
	config_done(&cfg);
	return code;
}
