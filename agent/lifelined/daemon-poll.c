/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* When lifelined polls fleet commands (daemon-state.h): the poller's own
 * schedule (command_poll_first_delay(), command_poll_next_delay()) turned
 * into the times of lifelined's poll timer. libc only: lifelined links it. */
#include <stdint.h>
#include <time.h>

#include "agent/command/command.h"
#include "agent/lifelined/daemon-state.h"

uint64_t daemon_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t daemon_poll_first_at(unsigned interval_s, uint64_t now_ms, const struct daemon_state *ds)
{
	uint64_t at = now_ms + command_poll_first_delay(interval_s);

	if (ds && ds->poll_next_ms > at)
		at = ds->poll_next_ms;
	return at;
}

uint64_t daemon_poll_next_at(unsigned interval_s, uint64_t now_ms, const struct daemon_state *ds)
{
	if (ds && ds->poll_next_ms > now_ms)
		return ds->poll_next_ms;
	return now_ms + command_poll_delay(interval_s, 0, -1);
}
