// SPDX-License-Identifier: GPL-2.0
/*
 * badsec: the kernel part of "BadSec Security", a FAKE endpoint-security
 * product used only by lifeline's VM tests.  It behaves like a sensor whose
 * behaviour is driven by a content ("channel") update file, and can be made
 * to fail the way the 2024-07-19 incident did:
 *
 *   content starts with "CRASH" -> NULL pointer dereference in module init
 *                                  (an oops; with oops=panic and panic=N the
 *                                  machine reboots, and the oops names
 *                                  badsec_crash [badsec] in its RIP line)
 *   content starts with "HANG"  -> freezes the whole machine: stop_machine()
 *                                  runs a function that spins with interrupts
 *                                  off while every other CPU waits with
 *                                  interrupts off too, so no timer, no soft
 *                                  lockup detector and no console input can
 *                                  help; only a hardware watchdog resets it
 *   anything else               -> loads normally, logs "content OK"
 *   no content file             -> loads normally, logs "no content"
 *
 * Never load this outside a throw-away VM.
 */
#define pr_fmt(fmt) "badsec: " fmt

#include <linux/compiler.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/irqflags.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/stop_machine.h>
#include <linux/string.h>

static char *content = "/opt/badsec/content/channel-291.bin";
module_param(content, charp, 0444);
MODULE_PARM_DESC(content, "path of the channel (content update) file");

/*
 * noinline + a hidden NULL so the compiler emits a real store through a
 * NULL pointer (not a trap instruction) and the oops's RIP line names this
 * function: "RIP: 0010:badsec_crash+0x.../0x... [badsec]".
 */
static noinline void badsec_crash(void)
{
	int *p = NULL;

	OPTIMIZER_HIDE_VAR(p);
	WRITE_ONCE(*p, 0x291);
}

static int badsec_hang_fn(void *unused)
{
	local_irq_disable();
	for (;;)
		cpu_relax();
	return 0;
}

static noinline void badsec_hang(void)
{
	/* Never returns: the CPU running badsec_hang_fn never lets go. */
	stop_machine(badsec_hang_fn, NULL, NULL);
}

static int __init badsec_init(void)
{
	char buf[64];
	struct file *f;
	loff_t pos = 0;
	ssize_t n;

	f = filp_open(content, O_RDONLY, 0);
	if (IS_ERR(f)) {
		pr_info("loaded, no content (%s: %ld)\n", content, PTR_ERR(f));
		return 0;
	}
	n = kernel_read(f, buf, sizeof(buf) - 1, &pos);
	filp_close(f, NULL);
	if (n < 0) {
		pr_info("loaded, content unreadable (%zd)\n", n);
		return 0;
	}
	buf[n] = '\0';

	if (strncmp(buf, "CRASH", 5) == 0) {
		pr_emerg("content %s says CRASH: dereferencing NULL\n", content);
		badsec_crash();
	} else if (strncmp(buf, "HANG", 4) == 0) {
		pr_emerg("content %s says HANG: freezing the machine\n", content);
		badsec_hang();
	}
	pr_info("loaded, content OK\n");
	return 0;
}

static void __exit badsec_exit(void)
{
	pr_info("unloaded\n");
}

module_init(badsec_init);
module_exit(badsec_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("lifeline VM tests");
MODULE_DESCRIPTION("BadSec Security sensor (fake, crashes on purpose)");
