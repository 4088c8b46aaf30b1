/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The command poll schedule (command.h): when the first poll after a start
 * comes, and the delay after each poll (jitter, back-off, Retry-After).
 * Apart from the poller (command-poll.c) because lifelined sets its poll
 * timer with it: this file needs nothing but libc, so the daemon links it
 * without libcurl. */
#include <stdint.h>

#include "agent/command/command.h"
#include "agent/report/spool.h"

/* Uniform in [0, n) (n > 0). */
static uint64_t random_below(uint64_t n)
{
	uint64_t x;

	spool_random_bytes(&x, sizeof(x));
	return n > 0 ? x % n : 0;
}

uint64_t command_poll_first_delay(unsigned interval_s)
{
	return random_below((uint64_t)interval_s * 1000);
}

uint64_t command_poll_delay(unsigned interval_s, unsigned failures, int64_t retry_after_s)
{
	uint64_t base = (uint64_t)interval_s * 1000, d, cap;

	if (failures == 0)
		/* [0.9, 1.1) of the interval: phases never line up again */
		return base - base / 10 + random_below(base / 5 + 1);
	/* doubling from the interval up to an hour (or the interval when it
	 * is longer), then [1, 1.5) of that */
	cap = base > (uint64_t)COMMAND_POLL_BACKOFF_MAX_S * 1000
	          ? base
	          : (uint64_t)COMMAND_POLL_BACKOFF_MAX_S * 1000;
	d = base;
	for (unsigned i = 1; i < failures && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	d += random_below(d / 2 + 1);
	if (retry_after_s >= 0) {
		uint64_t ra =
		    (uint64_t)(retry_after_s > COMMAND_RETRY_AFTER_MAX_S ? COMMAND_RETRY_AFTER_MAX_S
		                                                         : retry_after_s) *
		    1000;

		/* never before the server asked, spread over a tenth more */
		ra += random_below(ra / 10 + 1000);
		if (ra > d)
			d = ra;
	}
	return d;
}

uint64_t command_poll_next_delay(const struct command_poller *p)
{
	return p->next_delay_ms;
}
