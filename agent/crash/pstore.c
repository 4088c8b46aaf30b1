/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pstore records: collect (read, reassemble, save, erase) and parse.
 * Kernel facts this relies on are in pstore.h; formats of the oops text
 * are noted where they are used.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "agent/crash/pstore.h"

/* Parts of one dump are written one after the other within a second or
 * two; a gap longer than this starts another record even when the header
 * matches (parts left over from an older boot with the same "Oops#1"). */
#define PSTORE_PART_GAP_SEC 10

static bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool endswith(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

static const char *skip_spaces(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

char **pstore_strv_free(char **l)
{
	if (!l)
		return NULL;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
	return NULL;
}

/* Append a copy of s to a NULL-terminated array of *n entries. */
static int strv_push(char ***l, size_t *n, const char *s, size_t len)
{
	char **nl;
	char *c = strndup(s, len);

	if (!c)
		return -ENOMEM;
	nl = realloc(*l, (*n + 2) * sizeof(char *));
	if (!nl) {
		free(c);
		return -ENOMEM;
	}
	nl[(*n)++] = c;
	nl[*n] = NULL;
	*l = nl;
	return 0;
}

/* ---------------------------------------------------------------- parsing */

/*
 * The message part of one log line. pstore writes syslog form
 * ("<4>[   12.345678] msg": kmsg_dump_get_buffer(syslog=true)); dmesg and
 * consoles drop the "<4>"; CONFIG_PRINTK_CALLER adds "[ T123]"; the journal
 * and syslog files put "Nov 23 10:00:00 host kernel: " in front. The one
 * space the kernel puts after the prefix is removed; the message's own
 * leading spaces (call-trace frames have one) are kept.
 */
static const char *line_body(const char *l)
{
	const char *p = l, *k = strstr(l, "kernel: ");

	/* journal prefix: short, and no ": " before "kernel: " */
	if (k && k - l < 80) {
		const char *c = strstr(l, ": ");

		if (c && c == k + 6)
			p = k + 8;
	}
	if (*p == '<') {
		const char *q = p + 1;

		while (isdigit((unsigned char)*q))
			q++;
		if (q > p + 1 && *q == '>')
			p = q + 1;
	}
	for (int i = 0; i < 2 && *p == '['; i++) {
		const char *q = p + 1;

		while (*q && q - p < 24 &&
		       (isdigit((unsigned char)*q) || *q == ' ' || *q == '.' || *q == 'T' ||
		        *q == 'C'))
			q++;
		if (*q != ']' || q == p + 1)
			break;
		p = q + 1;
	}
	if (p != l && *p == ' ')
		p++;
	return p;
}

static bool module_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* "[badsec]" or "[badsec 1f2e...]" (build id) at s: the module name. */
static char *bracket_module(const char *s)
{
	size_t n = 0;

	s = skip_spaces(s);
	if (*s != '[')
		return NULL;
	s++;
	while (module_char(s[n]))
		n++;
	if (n == 0 || n > 64 || (s[n] != ']' && s[n] != ' '))
		return NULL;
	return strndup(s, n);
}

static size_t token_len(const char *s)
{
	size_t n = 0;

	while (s[n] && s[n] != ' ' && s[n] != '\t')
		n++;
	return n;
}

/* "[<ffffffffa0123456>]" (kernels up to 4.x print raw addresses): skip it. */
static const char *skip_raw_address(const char *s)
{
	while (startswith(s, "[<")) {
		const char *e = strchr(s, ']');

		if (!e)
			break;
		s = skip_spaces(e + 1);
	}
	return s;
}

/* "badsec_init+0xd3/0x1000" or a bare "0xffffffffc0a3c000". */
static bool frame_symbol_ok(const char *s, size_t n)
{
	const char *plus;

	if (n == 0 || n > 256)
		return false;
	if (n > 2 && s[0] == '0' && s[1] == 'x') {
		for (size_t i = 2; i < n; i++)
			if (!isxdigit((unsigned char)s[i]))
				return false;
		return true;
	}
	plus = memchr(s, '+', n);
	return plus && plus + 2 < s + n && plus[1] == '0' && plus[2] == 'x' &&
	       memchr(plus, '/', (size_t)(s + n - plus));
}

/*
 * A line naming the faulting kernel instruction:
 *   6.x/5.x  "RIP: 0010:badsec_crash+0x5/0x10 [badsec]"
 *   3.x/4.x  "RIP: 0010:[<ffffffffa0123456>]  [<ffffffffa0123456>] foo+0x1/0x2 [mod]",
 *            "IP: [<ffffffffa0123456>] foo+0x1/0x2 [mod]" (before the Oops line)
 *   i386     "EIP is at foo+0x1/0x2 [mod]";  arm64 "pc : foo+0x1c/0x30 [mod]"
 * "RIP: 0033:" / "0023:" are user-mode registers (the syscall frame printed
 * inside a call trace): not this.
 */
static bool parse_rip(const char *t, char **ret_function, char **ret_module)
{
	const char *r;
	size_t n;

	if (startswith(t, "RIP: ")) {
		r = t + 5;
		if (strlen(r) >= 5 && isxdigit((unsigned char)r[0]) &&
		    isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2]) &&
		    isxdigit((unsigned char)r[3]) && r[4] == ':') {
			if (startswith(r, "0033:") || startswith(r, "0023:"))
				return false;
			r += 5;
		}
	} else if (startswith(t, "RIP ") && startswith(skip_spaces(t + 4), "[<"))
		r = t + 4;
	else if (startswith(t, "IP: ") || startswith(t, "pc : "))
		r = t + 4;
	else if (startswith(t, "EIP is at "))
		r = t + 10;
	else
		return false;

	r = skip_raw_address(skip_spaces(r));
	n = token_len(r);
	/* the short forms are common words: only with a symbol after them */
	if (!startswith(t, "RIP") && !frame_symbol_ok(r, n))
		return false;
	*ret_function = n > 0 ? strndup(r, n) : NULL;
	*ret_module = bracket_module(r + n);
	return true;
}

/*
 * A call-trace frame: " badsec_init+0xd3/0x1000 [badsec]", " ? __die+0x20/0x70",
 * 4.x " [<ffffffffa0123456>] ? foo+0x1/0x2 [mod]". "? " marks an address
 * found on the stack that the unwinder could not confirm as a return address.
 */
static int parse_frame(const char *t, struct pstore_frame *f)
{
	const char *p = skip_raw_address(t);
	bool reliable = true;
	size_t n;

	if (startswith(p, "? ")) {
		reliable = false;
		p += 2;
	}
	n = token_len(p);
	if (!frame_symbol_ok(p, n))
		return 0;
	f->function = strndup(p, n);
	if (!f->function)
		return -ENOMEM;
	f->module = bracket_module(p + n);
	f->reliable = reliable;
	return 1;
}

/* "<TASK>", "</IRQ>", "<EOI>", "<#DF>": stack boundaries inside a trace. */
static bool trace_marker(const char *t)
{
	size_t n = strlen(t);

	if (n < 3 || t[0] != '<' || t[n - 1] != '>')
		return false;
	for (size_t i = 1; i < n - 1; i++)
		if (!(isupper((unsigned char)t[i]) || t[i] == '/' || t[i] == '#'))
			return false;
	return true;
}

/* Register dump lines ("RSP: 002b:...", "R10: ...", "Code: 48 8b ..."),
 * printed inside a trace for the user-mode part of a syscall. */
static bool register_line(const char *t)
{
	static const char *const names[] = {"Code", "PKRU", "RIP", "RSP", "RAX", "RBX", "RCX",
	                                    "RDX",  "RSI",  "RDI", "RBP", "FS",  "GS",  "CS"};
	size_t n = strcspn(t, ": ");

	if (t[n] != ':')
		return false;
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (n == strlen(names[i]) && strncmp(t, names[i], n) == 0)
			return true;
	/* R08..R15, CR0..CR4, DR0..DR7 */
	return n == 3 && isdigit((unsigned char)t[2]) &&
	       ((t[0] == 'R' && isdigit((unsigned char)t[1])) ||
	        ((t[0] == 'C' || t[0] == 'D') && t[1] == 'R'));
}

static const char *const headline_prefixes[] = {
    "BUG: ",
    "watchdog: BUG: ",
    "NMI watchdog: ",
    "kernel BUG at ",
    "general protection fault",
    "Unable to handle kernel ",
    "INFO: task ",
    "Internal error: ",
    "Oops: ",
    "invalid opcode: ",
    "stack segment: ",
    "double fault: ",
    "divide error: ",
};

static bool headline(const char *t)
{
	for (size_t i = 0; i < ELEMENTSOF(headline_prefixes); i++)
		if (startswith(t, headline_prefixes[i]))
			return true;
	return false;
}

/* Flags after "Tainted: ": one letter or blank per flag, then the kernel
 * version ("G           OE      6.1.0-27-amd64"). G (all GPL) says nothing. */
static char *parse_taint(const char *p)
{
	char buf[64];
	size_t n = 0;

	for (;;) {
		size_t len;
		bool letters = true;

		p = skip_spaces(p);
		len = token_len(p);
		if (len == 0)
			break;
		for (size_t i = 0; i < len; i++)
			if (!isupper((unsigned char)p[i]))
				letters = false;
		if (!letters)
			break;
		for (size_t i = 0; i < len && n + 1 < sizeof(buf); i++)
			if (p[i] != 'G')
				buf[n++] = p[i];
		p += len;
	}
	buf[n] = 0;
	return strdup(buf);
}

/* "CPU: 1 PID: 312 Comm: modprobe Tainted: G  OE  6.1.0-27-amd64 #1 Debian ..."
 * (RHEL adds " Kdump: loaded" after the name; 2.6/3.x "Pid: 312, comm: insmod").
 * The name ends where the next field begins: task names may hold spaces. */
static int parse_comm_line(const char *t, struct pstore_evidence *e)
{
	const char *c = strstr(t, "Comm: "), *end = NULL;
	static const char *const stops[] = {" Tainted: ", " Not tainted", " Kdump: "};
	size_t n;

	if (!c)
		c = strstr(t, "comm: ");
	if (!c)
		return 0;
	c += 6;
	for (size_t i = 0; i < ELEMENTSOF(stops); i++) {
		const char *s = strstr(c, stops[i]);

		if (s && (!end || s < end))
			end = s;
	}
	n = end ? (size_t)(end - c) : strlen(c);
	while (n > 0 && c[n - 1] == ' ')
		n--;
	if (n == 0)
		return 0;
	e->comm = strndup(c, MIN(n, (size_t)64));
	e->comm_line = strdup(t);
	if (!e->comm || !e->comm_line)
		return -ENOMEM;
	return 1;
}

/* "INFO: task kworker/0:1:123 blocked for more than 120 seconds.": the
 * blocked task is the one to name (khungtaskd only reports it). */
static int parse_hung_task(const char *t, struct pstore_evidence *e)
{
	const char *s = t + strlen("INFO: task "), *b = strstr(s, " blocked"), *colon = NULL;

	if (!b)
		return 0;
	for (const char *q = s; q < b; q++)
		if (*q == ':')
			colon = q;
	if (!colon || colon == s)
		return 0;
	e->comm = strndup(s, MIN((size_t)(colon - s), (size_t)64));
	e->comm_line = strdup(t);
	if (!e->comm || !e->comm_line)
		return -ENOMEM;
	return 1;
}

static bool module_token(const char *s, size_t n, size_t *ret_name_len)
{
	size_t i = 0;

	while (i < n && module_char(s[i]))
		i++;
	if (i == 0 || i > 64)
		return false;
	if (i < n) {
		/* "(OE+)", "(T)", "(P)": flags */
		if (s[i] != '(' || s[n - 1] != ')')
			return false;
		for (size_t k = i + 1; k < n - 1; k++)
			if (!(isupper((unsigned char)s[k]) || s[k] == '+' || s[k] == '-'))
				return false;
	}
	*ret_name_len = i;
	return true;
}

/* Tokens of a "Modules linked in:" line (or of its continuation). Returns
 * how many were taken, -EINVAL when a token is no module (not a list). */
static int parse_modules(const char *p, struct pstore_evidence *e, bool continuation)
{
	int taken = 0;

	for (;;) {
		size_t len, name_len;
		int r;

		p = skip_spaces(p);
		len = token_len(p);
		if (len == 0)
			break;
		if (startswith(p, "[last"))
			break;
		if (!module_token(p, len, &name_len)) {
			if (continuation)
				return -EINVAL;
			p += len;
			continue;
		}
		if (e->n_modules_linked >= PSTORE_MODULES_LINKED_MAX)
			break;
		r = strv_push(&e->modules_linked, &e->n_modules_linked, p, name_len);
		if (r < 0)
			return r;
		/* per-module taint flags in parentheses, from the kernel's
		 * module_flags() (kernel/module/main.c): P proprietary, O out
		 * of tree, E unsigned, F forced, C staging, + loading, -
		 * unloading */
		if (len > name_len && p[name_len] == '(' &&
		    e->n_modules_third_party < PSTORE_MODULES_LINKED_MAX) {
			const char *f = p + name_len + 1, *end = p + len;

			for (; f < end && *f != ')'; f++)
				if (*f == 'O' || *f == 'E' || *f == 'P')
					break;
			if (f < end && *f != ')') {
				r = strv_push(&e->modules_third_party, &e->n_modules_third_party, p,
				              name_len);
				if (r < 0)
					return r;
			}
		}
		if (!e->loading_module && memchr(p + name_len, '+', len - name_len)) {
			e->loading_module = strndup(p, name_len);
			if (!e->loading_module)
				return -ENOMEM;
		}
		taken++;
		p += len;
	}
	return taken;
}

static bool continuation_of_modules(const char *body)
{
	const char *p;

	/* the wrapped rest of a long list: the message begins with a blank and
	 * holds module tokens only */
	if (body[0] != ' ')
		return false;
	p = skip_spaces(body);
	if (!*p)
		return false;
	for (;;) {
		size_t len, name_len;

		p = skip_spaces(p);
		len = token_len(p);
		if (len == 0)
			return true;
		if (startswith(p, "[last"))
			return true;
		if (!module_token(p, len, &name_len))
			return false;
		p += len;
	}
}

void pstore_evidence_done(struct pstore_evidence *e)
{
	if (!e)
		return;
	free(e->headline);
	free(e->rip_line);
	free(e->rip_function);
	free(e->rip_module);
	for (size_t i = 0; i < e->n_frames; i++) {
		free(e->frames[i].function);
		free(e->frames[i].module);
	}
	free(e->frames);
	pstore_strv_free(e->trace_lines);
	free(e->comm_line);
	free(e->comm);
	free(e->taint);
	pstore_strv_free(e->modules_linked);
	free(e->loading_module);
	pstore_strv_free(e->modules_third_party);
	free(e->panic_line);
	free(e->panic_reason);
	*e = (struct pstore_evidence){};
}

static int add_frame(struct pstore_evidence *e, const char *t)
{
	struct pstore_frame f = {}, *nf;
	int r;

	if (e->n_frames >= PSTORE_FRAMES_MAX)
		return 1; /* still a frame line; not kept */
	r = parse_frame(t, &f);
	if (r <= 0)
		return r;
	nf = realloc(e->frames, (e->n_frames + 1) * sizeof(*nf));
	if (!nf) {
		free(f.function);
		free(f.module);
		return -ENOMEM;
	}
	e->frames = nf;
	e->frames[e->n_frames++] = f;
	if (e->n_trace_lines < PSTORE_TRACE_LINES_MAX) {
		r = strv_push(&e->trace_lines, &e->n_trace_lines, t, strlen(t));
		if (r < 0)
			return r;
	}
	return 1;
}

enum trace_state { TRACE_NONE, TRACE_IN, TRACE_DONE };

static int parse_line(struct pstore_evidence *e, const char *body, enum trace_state *trace,
                      bool *in_modules)
{
	const char *t = skip_spaces(body);
	const char *k;
	int r;

	if (*in_modules) {
		if (continuation_of_modules(body)) {
			r = parse_modules(t, e, true);
			return r < 0 && r != -EINVAL ? r : 0;
		}
		*in_modules = false;
	}

	if (*trace == TRACE_IN) {
		if (!*t || register_line(t))
			return 0;
		if (trace_marker(t)) {
			if (streq(t, "</TASK>"))
				*trace = TRACE_DONE;
			return 0;
		}
		r = add_frame(e, t);
		if (r < 0)
			return r;
		if (r > 0)
			return 0;
		*trace = TRACE_DONE; /* anything else ends the trace; the line is looked at below */
	}

	if (!e->headline && headline(t)) {
		e->headline = strdup(t);
		if (!e->headline)
			return -ENOMEM;
		if (!e->comm && startswith(t, "INFO: task ")) {
			r = parse_hung_task(t, e);
			if (r < 0)
				return r;
		}
		return 0;
	}

	if (!e->rip_line) {
		char *fn = NULL, *mod = NULL;

		if (parse_rip(t, &fn, &mod)) {
			e->rip_function = fn;
			e->rip_module = mod;
			e->rip_line = strdup(t);
			if (!e->rip_line)
				return -ENOMEM;
			return 0;
		}
	}

	if (*trace == TRACE_NONE &&
	    (startswith(t, "Call Trace:") || startswith(t, "Call trace:"))) {
		*trace = TRACE_IN;
		return 0;
	}

	if (!e->comm && (startswith(t, "CPU: ") || startswith(t, "Pid: "))) {
		r = parse_comm_line(t, e);
		if (r < 0)
			return r;
	}
	if (!e->taint && (startswith(t, "CPU: ") || startswith(t, "Pid: ") ||
	                  startswith(t, "Tainted: ") || startswith(t, "Not tainted"))) {
		k = strstr(t, "Tainted: ");
		if (k && *skip_spaces(k + 9) != '[') {
			e->taint = parse_taint(k + 9);
			if (!e->taint)
				return -ENOMEM;
		} else if (strstr(t, "Not tainted")) {
			e->taint = strdup("");
			if (!e->taint)
				return -ENOMEM;
		}
		return 0;
	}

	if (!e->modules_linked && startswith(t, "Modules linked in:")) {
		r = parse_modules(t + strlen("Modules linked in:"), e, false);
		if (r < 0)
			return r;
		if (!e->modules_linked) {
			/* "Modules linked in:" with nothing loaded: remember we saw it */
			e->modules_linked = calloc(1, sizeof(char *));
			if (!e->modules_linked)
				return -ENOMEM;
		}
		*in_modules = true;
		return 0;
	}

	if (!e->panic_line && !startswith(t, "---[") &&
	    (k = strstr(t, "Kernel panic - not syncing"))) {
		const char *reason = k + strlen("Kernel panic - not syncing");

		if (*reason == ':')
			reason++;
		e->panic_line = strdup(k);
		e->panic_reason = strdup(skip_spaces(reason));
		if (!e->panic_line || !e->panic_reason)
			return -ENOMEM;
	}
	return 0;
}

int pstore_parse(const char *text, size_t size, struct pstore_evidence *ret)
{
	_cleanup_free_ char *copy = NULL;
	_cleanup_free_ const char **lines = NULL;
	struct pstore_evidence e = {};
	enum trace_state trace = TRACE_NONE;
	bool in_modules = false;
	size_t n_lines = 0, start = 0;
	int r = 0;

	if (!text && size > 0)
		return -EINVAL;
	copy = malloc(size + 1);
	if (!copy)
		return -ENOMEM;
	if (size > 0)
		memcpy(copy, text, size);
	copy[size] = 0;

	/* split in place; an embedded NUL just ends that line early */
	lines = malloc((size + 2) * sizeof(char *));
	if (!lines)
		return -ENOMEM;
	for (char *p = copy; p < copy + size;) {
		char *nl = memchr(p, '\n', (size_t)(copy + size - p));
		char *end = nl ? nl : copy + size;

		*end = 0;
		while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = 0;
		lines[n_lines++] = line_body(p);
		if (!nl)
			break;
		p = nl + 1;
	}

	/* evidence belongs to the first crash: start at its headline */
	for (size_t i = 0; i < n_lines; i++)
		if (headline(skip_spaces(lines[i]))) {
			start = i;
			break;
		}

	for (size_t i = start; i < n_lines && r >= 0; i++)
		r = parse_line(&e, lines[i], &trace, &in_modules);
	if (r < 0) {
		pstore_evidence_done(&e);
		return r;
	}
	if (!e.headline && !e.rip_line && e.n_frames == 0 && !e.comm && !e.panic_line) {
		pstore_evidence_done(&e);
		return -ENOMSG;
	}
	*ret = e;
	return 0;
}

/* Symbol-table pseudo-modules, not loadable modules: JIT-ed BPF programs
 * ("[bpf]" in kallsyms) and ftrace / kprobe trampolines ("[__builtin__ftrace]"). */
static bool pseudo_module(const char *m)
{
	return streq(m, "bpf") || startswith(m, "__builtin__");
}

static int rank_push(char ***l, size_t *n, const char *module)
{
	_cleanup_free_ char *norm = NULL;

	if (!module || !*module || pseudo_module(module))
		return 0;
	norm = strdup(module);
	if (!norm)
		return -ENOMEM;
	for (char *p = norm; *p; p++)
		if (*p == '-')
			*p = '_';
	for (size_t i = 0; i < *n; i++)
		if (streq((*l)[i], norm))
			return 0;
	return strv_push(l, n, norm, strlen(norm));
}

int pstore_rank_modules(const struct pstore_evidence *e, char ***ret_modules)
{
	_cleanup_(pstore_strv_freep) char **l = NULL;
	size_t n = 0;
	int r;

	l = calloc(1, sizeof(char *));
	if (!l)
		return -ENOMEM;
	r = rank_push(&l, &n, e->rip_module);
	for (size_t i = 0; r >= 0 && i < e->n_frames; i++)
		if (e->frames[i].reliable)
			r = rank_push(&l, &n, e->frames[i].module);
	for (size_t i = 0; r >= 0 && i < e->n_frames; i++)
		if (!e->frames[i].reliable)
			r = rank_push(&l, &n, e->frames[i].module);
	if (r >= 0)
		r = rank_push(&l, &n, e->loading_module);
	if (r < 0)
		return r;
	*ret_modules = TAKE_PTR(l);
	return (int)n;
}

bool pstore_comm_matches_binary(const char *comm, const char *binary_basename)
{
	const char *slash;
	size_t lc, lb;

	if (!comm || !binary_basename)
		return false;
	slash = strrchr(binary_basename, '/');
	if (slash)
		binary_basename = slash + 1;
	lc = strlen(comm);
	lb = strlen(binary_basename);
	if (lc == 0 || lb == 0 || lc > PSTORE_COMM_MAX)
		return false;
	/* the kernel copies at most 15 bytes of the name (TASK_COMM_LEN 16) */
	return lc == MIN(lb, (size_t)PSTORE_COMM_MAX) && memcmp(comm, binary_basename, lc) == 0;
}

/* ------------------------------------------------------------- collecting */

struct candidate {
	char *path;
	const char *name; /* points into path */
	bool txt;
	dev_t dev;
	ino_t ino;
	uint64_t time;
};

struct part {
	struct candidate *c;
	char backend[32];
	char reason[32]; /* "" without a header */
	unsigned event;
	unsigned part;
	uint64_t time;
	char *body; /* text after the header line */
	size_t body_size;
	char *data; /* the whole file */
};

static bool name_ok(const char *n)
{
	size_t l = strlen(n);

	if (l == 0 || l > 128 || n[0] == '.')
		return false;
	for (const char *p = n; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* dmesg-efi-<id>: id = (seconds * 100 + part) * 1000 + count
 * (generic_id() in drivers/firmware/efi/efi-pstore.c). */
static bool efi_id(const char *name, uint64_t *ret_time, unsigned *ret_part, unsigned *ret_count)
{
	const char *d;
	size_t n;
	uint64_t id;

	if (!startswith(name, "dmesg-efi-"))
		return false;
	d = name + strlen("dmesg-efi-");
	n = strlen(d);
	if (n < 6 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)d[i]))
			return false;
	id = strtoull(d, NULL, 10);
	*ret_count = (unsigned)(id % 1000);
	*ret_part = (unsigned)(id / 1000 % 100);
	*ret_time = id / 100000;
	return true;
}

/* "Oops#1 Part1" (fs/pstore/platform.c: "%s#%d Part%u\n"), or "Oops#1" as
 * this file saves records. Returns the header length with its newline, 0
 * when the text does not start with one. */
static size_t parse_header(const char *d, size_t size, struct part *p, bool *ret_has_part)
{
	const char *nl = memchr(d, '\n', size);
	size_t len = nl ? (size_t)(nl - d) : size, i = 0, rl;
	unsigned long ev, pt = 0;
	char *end;

	*ret_has_part = false;
	while (i < len && isalpha((unsigned char)d[i]))
		i++;
	rl = i;
	if (rl == 0 || rl >= sizeof(p->reason) || i >= len || d[i] != '#' ||
	    !isdigit((unsigned char)d[i + 1]))
		return 0;
	ev = strtoul(d + i + 1, &end, 10);
	if (end > d + len || ev > 1000000)
		return 0;
	if ((size_t)(end - d) < len) {
		if ((size_t)(end - d) + 6 > len || strncmp(end, " Part", 5) != 0 ||
		    !isdigit((unsigned char)end[5]))
			return 0;
		pt = strtoul(end + 5, &end, 10);
		if (end != d + len || pt == 0 || pt > 1000)
			return 0;
		*ret_has_part = true;
	}
	memcpy(p->reason, d, rl);
	p->reason[rl] = 0;
	p->event = (unsigned)ev;
	p->part = (unsigned)pt;
	return nl ? len + 1 : len;
}

/* Text, not a binary (a compressed record, junk). A NUL ends the text when
 * a pstore header (hl bytes) shows it is one (a record the kernel could not
 * compress is stored as a full buffer and may carry stale bytes after the
 * text). The share of control bytes is taken after the header: the header
 * differs between a part ("Oops#1 Part1") and the record saved from it
 * ("Oops#1"), and the saved record must pass where its parts did. */
static bool text_ok(const char *d, size_t *size, size_t hl)
{
	const char *z = memchr(d, 0, *size);
	size_t bad = 0;

	if (z) {
		if (hl == 0)
			return false;
		*size = (size_t)(z - d);
	}
	if (*size == 0 || *size < hl)
		return false;
	for (size_t i = hl; i < *size; i++) {
		unsigned char c = (unsigned char)d[i];

		if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f)
			bad++;
	}
	return bad * 32 <= *size - hl;
}

static void candidates_free(struct candidate *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].path);
	free(c);
}

struct scan {
	struct candidate *c;
	size_t n;
	size_t entries;
	struct pstore_log *log;
};

static int scan_add(struct scan *s, const char *dir, const char *name, const struct stat *st,
                    bool txt)
{
	struct candidate *nc;
	char *path = path_join(dir, name);
	unsigned part, count;
	uint64_t t;

	if (!path)
		return -ENOMEM;
	nc = realloc(s->c, (s->n + 1) * sizeof(*nc));
	if (!nc) {
		free(path);
		return -ENOMEM;
	}
	s->c = nc;
	if (!efi_id(name, &t, &part, &count))
		t = st->st_mtime > 0 ? (uint64_t)st->st_mtime : 0;
	s->c[s->n++] = (struct candidate){
	    .path = path,
	    .name = path + strlen(path) - strlen(name),
	    .txt = txt,
	    .dev = st->st_dev,
	    .ino = st->st_ino,
	    .time = t,
	};
	return 0;
}

static int scan_dir(struct scan *s, int dfd, const char *path, bool top)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int r;

	d = fdopendir(dfd);
	if (!d) {
		r = negative_errno();
		close(dfd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		const char *n = de->d_name;
		bool txt;

		if (streq(n, ".") || streq(n, ".."))
			continue;
		if (++s->entries > PSTORE_DIR_ENTRIES_MAX) {
			s->log->capped = true;
			break;
		}
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			s->log->n_skipped++;
			continue;
		}
		if (S_ISDIR(st.st_mode) && top && name_ok(n)) {
			/* systemd-pstore: /var/lib/systemd/pstore/<id>/dmesg-efi-* */
			_cleanup_free_ char *sub = path_join(path, n);
			int sfd;

			if (!sub)
				return -ENOMEM;
			sfd = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sfd < 0) {
				s->log->n_skipped++;
				continue;
			}
			r = scan_dir(s, sfd, sub, false);
			if (r < 0)
				return r;
			continue;
		}
		txt = top && endswith(n, ".txt") && strlen(n) > 4;
		if (!S_ISREG(st.st_mode) || !name_ok(n) || (!txt && !startswith(n, "dmesg-")) ||
		    endswith(n, ".enc.z") || st.st_size <= 0 || st.st_size > PSTORE_FILE_SIZE_MAX) {
			log_debug("pstore: skipping %s/%s", path, n);
			s->log->n_skipped++;
			continue;
		}
		r = scan_add(s, path, n, &st, txt);
		if (r < 0)
			return r;
	}
	if (errno > 0)
		return -errno;
	return 0;
}

static int cmp_candidate_newest(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	if (x->time != y->time)
		return x->time > y->time ? -1 : 1;
	return -strcmp(x->path, y->path);
}

/* Read one candidate: regular, not a symlink, still the file scanned. */
static int read_candidate(const struct candidate *c, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	char *shrunk;
	struct stat st;
	size_t size = 0;

	fd = open(c->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || st.st_dev != c->dev || st.st_ino != c->ino)
		return -ESTALE;
	buf = malloc(PSTORE_FILE_SIZE_MAX + 2);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t k = read(fd, buf + size, PSTORE_FILE_SIZE_MAX + 1 - size);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		size += (size_t)k;
		if (size > PSTORE_FILE_SIZE_MAX)
			return -EFBIG;
	}
	buf[size] = 0;
	/* keep only what the file holds: up to 256 of these live at once */
	shrunk = realloc(buf, size + 1);
	if (shrunk)
		buf = shrunk;
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

static void backend_of(const char *name, char *buf, size_t bufsize)
{
	const char *s = name + strlen("dmesg-"), *dash = strrchr(s, '-');
	size_t n = dash && dash > s ? (size_t)(dash - s) : strlen(s);

	snprintf(buf, bufsize, "%.*s", (int)n, s);
}

/* Saved "efi-1732371234-oops-1": the first long all-digit field is the time. */
static bool time_from_name(const char *name, uint64_t *ret)
{
	const char *p = name;

	while (*p) {
		size_t n = strspn(p, "0123456789");

		if (n >= 9 && n <= 12 && (p[n] == '-' || p[n] == '.' || p[n] == 0) &&
		    (p == name || p[-1] == '-')) {
			*ret = strtoull(p, NULL, 10);
			return true;
		}
		p += n;
		if (*p)
			p++;
	}
	return false;
}

static int load_part(struct candidate *c, struct part *p, size_t *total, struct pstore_log *log)
{
	_cleanup_free_ char *data = NULL;
	size_t size = 0, hl;
	bool has_part = false;
	unsigned id_part = 0, id_count = 0;
	uint64_t id_time = 0;
	int r;

	r = read_candidate(c, &data, &size);
	if (r < 0) {
		log_debug_errno(r, "pstore: skipping %s: %m", c->path);
		return r == -ENOMEM ? r : 0;
	}
	if (*total + size > PSTORE_TOTAL_SIZE_MAX) {
		log->capped = true;
		return 0;
	}
	*p = (struct part){.c = c};
	hl = parse_header(data, size, p, &has_part);
	if (!text_ok(data, &size, hl)) {
		log_debug("pstore: skipping %s: not text", c->path);
		return 0;
	}
	*total += size;
	data[size] = 0;
	if (c->txt) {
		snprintf(p->backend, sizeof(p->backend), "txt");
		if (!time_from_name(c->name, &p->time))
			p->time = c->time;
	} else {
		backend_of(c->name, p->backend, sizeof(p->backend));
		if (efi_id(c->name, &id_time, &id_part, &id_count)) {
			p->time = id_time;
			if (hl == 0) {
				p->event = id_count;
				p->part = id_part;
			}
		} else
			p->time = c->time;
	}
	if (p->part == 0)
		p->part = 1; /* a whole record, or a header without "PartN" */
	p->body = data + hl;
	p->body_size = size - hl;
	p->data = TAKE_PTR(data);
	return 1;
}

static int cmp_part(const void *a, const void *b)
{
	const struct part *x = a, *y = b;
	int r;

	if (x->c->txt != y->c->txt)
		return x->c->txt ? 1 : -1;
	if ((r = strcmp(x->backend, y->backend)))
		return r;
	if ((r = strcmp(x->reason, y->reason)))
		return r;
	if (x->event != y->event)
		return x->event < y->event ? -1 : 1;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	return strcmp(x->c->path, y->c->path);
}

static bool same_record(const struct part *prev, const struct part *p)
{
	return !prev->c->txt && !p->c->txt && streq(prev->backend, p->backend) &&
	       streq(prev->reason, p->reason) && prev->event == p->event && p->part > prev->part &&
	       p->time >= prev->time && p->time - prev->time <= PSTORE_PART_GAP_SEC;
}

/* Build one record from parts[from..to) (ascending part numbers): text in
 * log order is the highest part first. */
static int make_record(struct part *parts, size_t from, size_t to, struct pstore_record *rec)
{
	size_t total = 0, pos = 0;
	unsigned highest = parts[to - 1].part;
	char *text;

	for (size_t i = from; i < to; i++)
		total += parts[i].body_size + 1;
	text = malloc(total + 1);
	if (!text)
		return -ENOMEM;
	for (size_t i = to; i > from; i--) {
		struct part *p = &parts[i - 1];

		memcpy(text + pos, p->body, p->body_size);
		pos += p->body_size;
		if (p->body_size > 0 && p->body[p->body_size - 1] != '\n')
			text[pos++] = '\n';
	}
	text[pos] = 0;
	*rec = (struct pstore_record){
	    .reason = strdup(parts[from].reason[0] ? parts[from].reason : "Unknown"),
	    .event = parts[from].event,
	    .time = parts[from].time,
	    .n_parts = (unsigned)(to - from),
	    .incomplete = !parts[from].c->txt && highest != to - from,
	    .text = text,
	    .size = pos,
	};
	if (!rec->reason)
		return -ENOMEM;
	rec->sources = calloc(to - from, sizeof(*rec->sources));
	if (!rec->sources)
		return -ENOMEM;
	for (size_t i = from; i < to; i++) {
		struct pstore_source *src = &rec->sources[rec->n_sources];

		src->path = strdup(parts[i].c->path);
		if (!src->path)
			return -ENOMEM;
		src->dev = parts[i].c->dev;
		src->ino = parts[i].c->ino;
		rec->n_sources++;
	}
	return 0;
}

static void record_done(struct pstore_record *r)
{
	for (unsigned i = 0; i < r->n_sources; i++)
		free(r->sources[i].path);
	free(r->sources);
	free(r->name);
	free(r->reason);
	free(r->text);
	free(r->saved_path);
}

struct pstore_log *pstore_log_free(struct pstore_log *log)
{
	if (!log)
		return NULL;
	for (size_t i = 0; i < log->n_records; i++)
		record_done(&log->records[i]);
	free(log->records);
	free(log);
	return NULL;
}

/* A record's parts: parts[from..to). */
struct group {
	size_t from, to;
	const struct part *first;
};

static int cmp_group(const void *a, const void *b)
{
	const struct part *x = ((const struct group *)a)->first,
	                  *y = ((const struct group *)b)->first;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	if (x->event != y->event)
		return x->event < y->event ? -1 : 1;
	return strcmp(x->reason, y->reason);
}

static int name_records(struct pstore_log *log, const struct group *groups)
{
	for (size_t i = 0; i < log->n_records; i++) {
		struct pstore_record *rec = &log->records[i];
		const struct part *p = groups[i].first;
		char base[192], lower[32];
		size_t k;

		if (p->c->txt)
			snprintf(base, sizeof(base), "%.*s", (int)(strlen(p->c->name) - 4),
			         p->c->name);
		else {
			for (k = 0; rec->reason[k] && k + 1 < sizeof(lower); k++)
				lower[k] = (char)tolower((unsigned char)rec->reason[k]);
			lower[k] = 0;
			snprintf(base, sizeof(base), "%s-%" PRIu64 "-%s-%u", p->backend, rec->time,
			         lower, rec->event);
		}
		for (unsigned n = 1;; n++) {
			bool taken = false;
			char *name;

			if (n == 1)
				name = strdup(base);
			else if (asprintf(&name, "%s-%u", base, n) < 0)
				name = NULL;
			if (!name)
				return -ENOMEM;
			for (size_t j = 0; j < i; j++)
				if (streq(log->records[j].name, name))
					taken = true;
			if (!taken) {
				rec->name = name;
				break;
			}
			free(name);
		}
	}
	return 0;
}

static void save_record(struct pstore_record *rec, const char *save_dir)
{
	_cleanup_free_ char *path = NULL, *file = NULL, *data = NULL;
	int n, r;

	if (asprintf(&file, "%s.txt", rec->name) < 0 || !(path = path_join(save_dir, file))) {
		rec->save_error = -ENOMEM;
		return;
	}
	/* the header makes a saved record read back as the same record (also
	 * with event 0: without it, a first line "Panic#3" of the text would
	 * be read back as the header) */
	n = asprintf(&data, "%s#%u\n%s", rec->reason, rec->event, rec->text);
	if (n < 0) {
		data = NULL;
		rec->save_error = -ENOMEM;
		return;
	}
	r = write_file_atomic(path, data, (size_t)n, 0600);
	if (r < 0) {
		log_debug_errno(r, "pstore: failed to save %s: %m", path);
		rec->save_error = r;
		return;
	}
	rec->saved_path = TAKE_PTR(path);
}

/* Unlink a source only while it is the file that was read: a saved record
 * read back from save_dir has just been replaced by its new copy. */
static void erase_part(struct pstore_record *rec, const struct pstore_source *c)
{
	struct stat st;

	if (lstat(c->path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != c->dev ||
	    st.st_ino != c->ino)
		return;
	if (unlink(c->path) < 0) {
		int r = negative_errno();

		log_debug_errno(r, "pstore: failed to erase %s: %m", c->path);
		if (rec->erase_error == 0)
			rec->erase_error = r;
		return;
	}
	rec->n_erased++;
}

unsigned pstore_erase(struct pstore_log *log)
{
	unsigned n = 0;

	if (!log)
		return 0;
	for (size_t i = 0; i < log->n_records; i++) {
		struct pstore_record *rec = &log->records[i];
		unsigned before = rec->n_erased;

		if (rec->save_error != 0)
			continue;
		for (unsigned k = 0; k < rec->n_sources; k++)
			erase_part(rec, &rec->sources[k]);
		n += rec->n_erased - before;
	}
	return n;
}

int pstore_collect(const char *pstore_dir, const char *save_dir, bool erase,
                   struct pstore_log **ret)
{
	_cleanup_(pstore_log_freep) struct pstore_log *log = NULL;
	_cleanup_free_ struct part *parts = NULL;
	_cleanup_free_ struct group *groups = NULL;
	struct scan s = {};
	size_t n_parts = 0, n_groups = 0, total = 0, n_use;
	int fd, r;

	if (!pstore_dir || !ret)
		return -EINVAL;
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	s.log = log;

	fd = open(pstore_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_debug_errno(errno, "pstore: cannot open %s: %m", pstore_dir);
	r = scan_dir(&s, fd, pstore_dir, true);
	if (r < 0)
		goto out;

	/* newest first, so the caps drop the oldest */
	if (s.n > 1)
		qsort(s.c, s.n, sizeof(*s.c), cmp_candidate_newest);
	n_use = MIN(s.n, (size_t)PSTORE_FILES_MAX);
	if (s.n > n_use) {
		log->capped = true;
		log->n_skipped += (unsigned)(s.n - n_use);
	}
	parts = calloc(n_use + 1, sizeof(*parts));
	groups = calloc(n_use + 1, sizeof(*groups));
	log->records = calloc(n_use + 1, sizeof(*log->records));
	if (!parts || !groups || !log->records) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_use; i++) {
		r = load_part(&s.c[i], &parts[n_parts], &total, log);
		if (r < 0)
			goto out;
		if (r > 0)
			n_parts++;
		else
			log->n_skipped++;
	}

	/* group the parts into records, oldest record first */
	if (n_parts > 1)
		qsort(parts, n_parts, sizeof(*parts), cmp_part);
	for (size_t i = 0; i < n_parts;) {
		size_t j = i + 1;

		while (j < n_parts && same_record(&parts[j - 1], &parts[j]))
			j++;
		groups[n_groups++] = (struct group){.from = i, .to = j, .first = &parts[i]};
		i = j;
	}
	if (n_groups > 1)
		qsort(groups, n_groups, sizeof(*groups), cmp_group);
	for (size_t g = 0; g < n_groups; g++) {
		r = make_record(parts, groups[g].from, groups[g].to,
		                &log->records[log->n_records++]);
		if (r < 0)
			goto out; /* the half-made record is freed with the log */
	}
	r = name_records(log, groups);
	if (r < 0)
		goto out;

	if (save_dir) {
		int dir_r = mkdir_p(save_dir, 0700);

		if (dir_r < 0)
			log_debug_errno(dir_r, "pstore: cannot create %s: %m", save_dir);
		for (size_t i = 0; i < log->n_records; i++) {
			if (dir_r < 0)
				log->records[i].save_error = dir_r;
			else
				save_record(&log->records[i], save_dir);
		}
	}
	if (erase)
		(void)pstore_erase(log);

	r = (int)log->n_records;
	*ret = TAKE_PTR(log);
out:
	for (size_t i = 0; i < n_parts; i++)
		free(parts[i].data);
	candidates_free(s.c, s.n);
	return r;
}
