/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fleet command keys and signing: Ed25519 key pairs in PEM files, the key
 * id, the trusted keys of a machine (the keyring), the canonical body of a
 * command, the derived seq and the signed document (the format is
 * described in command.h). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/command/command-internal.h"
#include "agent/command/command.h"
#include "agent/conf/config.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/strv.h"

#define ED25519_KEY_LEN 32
#define KEY_FILE_MAX    (64 * 1024)

static void hex(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

int command_sha256_hex(const void *data, size_t size, char ret[65])
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
	r = command_sha256_hex(raw, len, full);
	if (r < 0)
		return r;
	memcpy(ret, full, COMMAND_KEY_ID_LEN);
	ret[COMMAND_KEY_ID_LEN] = 0;
	return 0;
}

/* ---- the trusted keys ---- */

void command_keyring_done(struct command_keyring *k)
{
	for (size_t i = 0; i < k->n; i++)
		EVP_PKEY_free(k->keys[i]);
	memset(k, 0, sizeof(*k));
}

/* Adds the public key of path (under root) once; a file that does not
 * load is logged and skipped. */
static int keyring_add(struct command_keyring *k, const char *path, bool quiet_enoent)
{
	EVP_PKEY *key = NULL;
	char id[COMMAND_KEY_ID_LEN + 1];
	int r;

	r = command_key_load_public(path, &key);
	if (r == -ENOENT && quiet_enoent)
		return 0;
	if (r < 0) {
		log_warning_errno(r, "Fleet public key %s not used: %m", path);
		return 0;
	}
	r = command_key_id(key, id);
	if (r < 0) {
		EVP_PKEY_free(key);
		return r;
	}
	for (size_t i = 0; i < k->n; i++)
		if (streq(k->ids[i], id)) {
			EVP_PKEY_free(key);
			return 0;
		}
	if (k->n >= COMMAND_KEYS_MAX) {
		log_warning("Fleet public key %s not used: more than %d trusted keys", path,
		            COMMAND_KEYS_MAX);
		EVP_PKEY_free(key);
		return 0;
	}
	memcpy(k->ids[k->n], id, sizeof(id));
	k->keys[k->n++] = key;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int command_keyring_load(const char *root, const struct lifeline_config *cfg,
                         struct command_keyring *ret)
{
	_cleanup_free_ char *legacy = NULL, *dir = path_under_root(root, COMMAND_KEY_DIR);
	_cleanup_strv_free_ char **names = NULL;
	struct command_keyring k = {};
	DIR *d;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	if (cfg->commands_public_key && *cfg->commands_public_key) {
		legacy = path_under_root(root, cfg->commands_public_key);
		if (!legacy)
			return -ENOMEM;
		r = keyring_add(&k, legacy, true);
	}
	d = r >= 0 ? opendir(dir) : NULL;
	if (d) {
		struct dirent *de;
		size_t len;

		/* sorted: the same keys win at COMMAND_KEYS_MAX on every
		 * machine */
		while (r >= 0 && (de = readdir(d))) {
			len = strlen(de->d_name);
			if (de->d_name[0] != '.' && len > 4 && streq(de->d_name + len - 4, ".pub"))
				r = strv_extend(&names, de->d_name);
		}
		closedir(d);
		if (r >= 0 && names)
			qsort(names, strv_length(names), sizeof(char *), cmp_str);
		STRV_FOREACH (n, names) {
			_cleanup_free_ char *p = path_join(dir, *n);

			if (r < 0)
				break;
			r = p ? keyring_add(&k, p, true) : -ENOMEM;
		}
	}
	if (r < 0) {
		command_keyring_done(&k);
		return r;
	}
	if (k.n == 0)
		return -ENOKEY;
	*ret = k;
	return 0;
}

/* ---- the derived seq ---- */

int command_seq_derive(const char *state_path, int64_t now_us, uint64_t *ret, int *ret_state_error)
{
	_cleanup_free_ char *text = NULL;
	unsigned long long last = 0;
	uint64_t seq = now_us > 0 ? (uint64_t)now_us : 1;
	char buf[32], *end;
	int r = 0, n;

	if (ret_state_error)
		*ret_state_error = 0;
	if (state_path) {
		r = read_full_file(state_path, 64, &text, NULL);
		if (r >= 0) {
			errno = 0;
			last = strtoull(text, &end, 10);
			if (errno || end == text || (*end && !streq(end, "\n")))
				last = 0;
		}
		if (r >= 0 || r == -ENOENT) {
			if (last >= seq)
				seq = last + 1;
		}
	}
	if (seq > COMMAND_SEQ_MAX)
		return -ERANGE;
	if (state_path) {
		n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", seq);
		r = write_file_atomic(state_path, buf, (size_t)n, 0600);
		if (r < 0 && ret_state_error)
			*ret_state_error = r;
	}
	*ret = seq;
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
	uint8_t sig[COMMAND_ED25519_SIG_LEN];
	size_t sig_len = sizeof(sig);
	char b64[COMMAND_SIG_B64_LEN + 1], id[COMMAND_KEY_ID_LEN + 1];
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
	if (EVP_EncodeBlock((unsigned char *)b64, sig, (int)sig_len) != COMMAND_SIG_B64_LEN)
		return -EIO;
	b64[COMMAND_SIG_B64_LEN] = 0;
	if (asprintf(ret_doc, "%.*s\n" COMMAND_SIGNATURE_PREFIX "%s %s\n", (int)size, body, id,
	             b64) < 0)
		return -ENOMEM;
	return 0;
}
