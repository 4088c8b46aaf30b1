/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pstore, the parsing half: one crash text (oops, panic, hung task) in,
 * the evidence DESIGN's suspect ranking needs out (struct
 * pstore_evidence), plus the ranking of its modules and the Comm match.
 * Reading the records off the pstore file system is pstore-collect.c.
 * Kernel facts this relies on are in pstore.h; formats of the oops text
 * are noted where they are used.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macro.h"
#include "efi/state-record.h"
#include "agent/conf/components.h"
#include "agent/conf/protected.h"
#include "agent/crash/pstore.h"

static bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
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

int pstore_line_module(const char *line, char **ret_module)
{
	const char *t = skip_spaces(line);
	_cleanup_free_ char *function = NULL, *module = NULL;
	struct pstore_frame f = {0};
	int r;

	*ret_module = NULL;
	if (parse_rip(t, &function, &module)) {
		if (!module)
			return 0;
		*ret_module = TAKE_PTR(module);
		return 1;
	}
	r = parse_frame(t, &f);
	if (r <= 0)
		return r;
	free(f.function);
	if (!f.module || !f.reliable) {
		free(f.module);
		return 0;
	}
	*ret_module = f.module;
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

/* ------------------------------------------------------- crash signature */

/* The symbol of "badsec_init+0xd3/0x1000" ("badsec_init"), its length in
 * *ret_len; false for a bare address ("0xffffffffc0a3c000": it moves every
 * boot) or nothing. */
static bool frame_symbol(const char *function, size_t *ret_len)
{
	size_t n;

	if (!function || startswith(function, "0x"))
		return false;
	n = strcspn(function, "+ ");
	if (n == 0 || n > 256)
		return false;
	*ret_len = n;
	return true;
}

/* "bpf_prog_3c9b5b0ab6cc8b6e_fs_read_enter+0x2fa/0x49c": the program's
 * name ("fs_read_enter"); a program loaded without one prints as
 * "bpf_prog_<tag>", and the tag (a hash of its instructions, the same
 * each boot) stands in. */
static bool bpf_program(const char *function, const char **ret_name, size_t *ret_len)
{
	const char *p;
	size_t n, tag = 0;

	if (!frame_symbol(function, &n) || !startswith(function, "bpf_prog_"))
		return false;
	p = function + strlen("bpf_prog_");
	while (p + tag < function + n && isxdigit((unsigned char)p[tag]))
		tag++;
	if (tag == 0)
		return false;
	if (p + tag < function + n && p[tag] == '_' && p + tag + 1 < function + n) {
		*ret_name = p + tag + 1;
		*ret_len = (size_t)(function + n - (p + tag + 1));
	} else {
		*ret_name = function;
		*ret_len = n;
	}
	return true;
}

static void module_norm(char *dst, size_t size, const char *module)
{
	size_t i;

	for (i = 0; module[i] && i + 1 < size; i++) {
		dst[i] = module[i];
		if (dst[i] == '-')
			dst[i] = '_';
	}
	dst[i] = 0;
}

/* A module of a configured component, the third-party code level 1 acts
 * on; never a protected one. Only such a crash takes the fast path: a
 * module that is merely out of tree (O, E or P taint: a GPU driver,
 * VirtualBox, DKMS zfs) names no component, and level 1 would then pick
 * by the inventory diff, one boot earlier, something that did not crash.
 * Without the component set (drop-ins failed to load) nothing is. */
static bool third_party_module(const struct component_set *set, const char *module)
{
	char m[65];

	if (!set || !module || !*module || pseudo_module(module) || strlen(module) > 64)
		return false;
	module_norm(m, sizeof(m), module);
	if (set->protected && protected_module_reason(set->protected, m))
		return false;
	return components_find_module(set, m) != NULL;
}

/* The bytes hashed: "<kind>\0<owner>\0<function>\0<rip function>". */
struct sig_key {
	char buf[4 * 260];
	size_t n;
};

static void sig_put(struct sig_key *k, const char *s, size_t n)
{
	n = MIN(n, sizeof(k->buf) - k->n - 1);
	memcpy(k->buf + k->n, s, n);
	k->n += n;
	k->buf[k->n++] = 0;
}

int pstore_crash_signature(const struct pstore_evidence *e, const struct component_set *set,
                           uint32_t *ret_sig, char **ret_what)
{
	struct sig_key k = {.n = 0};
	const char *name = NULL, *rip = e->rip_function;
	size_t name_len = 0, rip_len = 0, fn_len = 0;
	char *what = NULL;
	uint32_t sig;
	int r = 0;

	if (!e->rip_line || !frame_symbol(rip, &rip_len))
		return 0;

	if (bpf_program(rip, &name, &name_len)) {
		sig_put(&k, "bpf", 3);
		sig_put(&k, name, name_len);
		r = asprintf(&what, "eBPF program %.*s", (int)name_len, name);
	} else if (third_party_module(set, e->rip_module)) {
		char m[65];

		module_norm(m, sizeof(m), e->rip_module);
		sig_put(&k, "module", 6);
		sig_put(&k, m, strlen(m));
		sig_put(&k, rip, rip_len);
		r = asprintf(&what, "%.*s (module %s)", (int)rip_len, rip, m);
	} else {
		for (size_t i = 0; !what && r >= 0 && i < e->n_frames; i++) {
			const struct pstore_frame *f = &e->frames[i];

			if (!f->reliable || !frame_symbol(f->function, &fn_len))
				continue;
			if (bpf_program(f->function, &name, &name_len)) {
				sig_put(&k, "bpf", 3);
				sig_put(&k, name, name_len);
				sig_put(&k, rip, rip_len);
				r = asprintf(&what, "%.*s called from eBPF program %.*s",
				             (int)rip_len, rip, (int)name_len, name);
			} else if (third_party_module(set, f->module)) {
				char m[65];

				module_norm(m, sizeof(m), f->module);
				sig_put(&k, "module", 6);
				sig_put(&k, m, strlen(m));
				sig_put(&k, f->function, fn_len);
				sig_put(&k, rip, rip_len);
				r = asprintf(&what, "%.*s called from %.*s (module %s)",
				             (int)rip_len, rip, (int)fn_len, f->function, m);
			}
		}
	}
	if (r < 0)
		return -ENOMEM;
	if (!what)
		return 0;
	sig = state_crc32(k.buf, k.n);
	*ret_sig = sig ? sig : 1; /* 0 means "none" in the state record */
	*ret_what = what;
	return 1;
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
