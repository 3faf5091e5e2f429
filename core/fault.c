/* See fault.h. */
#include "core/fault.h"

#ifdef FIBERLINK_FAULT_POINTS
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static char armed[64];
static long remaining;
static int stop_action; /* ":stop": freeze with SIGSTOP (until SIGCONT) instead of SIGKILL */

void fault_init(void)
{
    const char *spec = getenv("FL_FAULT_POINT");
    if (spec == NULL || spec[0] == '\0')
        return;
    const char *colon = strchr(spec, ':');
    size_t len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
    if (len >= sizeof armed)
        return;
    memcpy(armed, spec, len);
    armed[len] = '\0';
    remaining = 1;
    if (colon != NULL) {
        char *end;
        long n = strtol(colon + 1, &end, 10);
        if (end != colon + 1)
            remaining = n;
        else
            end = (char *)colon;
        stop_action = strcmp(end, ":stop") == 0;
    }
    if (remaining < 1)
        remaining = 1;
    const char *action = getenv("FL_FAULT_ACTION");
    if (action != NULL && strcmp(action, "stop") == 0)
        stop_action = 1;
    log_event(LOG_WARN, "fault.armed", "point=%s hit=%ld action=%s", armed, remaining,
              stop_action ? "stop" : "kill");
}

void fault_point(const char *name)
{
    if (armed[0] == '\0' || strcmp(name, armed) != 0 || --remaining > 0)
        return;
    if (stop_action) {
        /* Frozen here, as a daemon stalled by the scheduler or a debugger would be; a test lets a
         * lease run out meanwhile, then resumes it with SIGCONT. It fires once. */
        armed[0] = '\0';
        log_event(LOG_WARN, "fault.fired", "point=%s action=stop", name);
        kill(getpid(), SIGSTOP);
        log_event(LOG_WARN, "fault.resumed", "point=%s", name);
        return;
    }
    log_event(LOG_WARN, "fault.fired", "point=%s", name);
    kill(getpid(), SIGKILL);
    _exit(137); /* not reached */
}
#endif
