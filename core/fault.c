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
static int stop_instead; /* FL_FAULT_ACTION=stop: freeze (SIGSTOP) rather than die */

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
    remaining = colon != NULL ? strtol(colon + 1, NULL, 10) : 1;
    if (remaining < 1)
        remaining = 1;
    const char *action = getenv("FL_FAULT_ACTION");
    stop_instead = action != NULL && strcmp(action, "stop") == 0;
    log_event(LOG_WARN, "fault.armed", "point=%s hit=%ld action=%s", armed, remaining,
              stop_instead ? "stop" : "kill");
}

void fault_point(const char *name)
{
    if (armed[0] == '\0' || strcmp(name, armed) != 0 || --remaining > 0)
        return;
    log_event(LOG_WARN, "fault.fired", "point=%s", name);
    if (stop_instead) {
        /* The test that froze us decides when we go on (SIGCONT); the point fires once. */
        armed[0] = '\0';
        kill(getpid(), SIGSTOP);
        log_event(LOG_WARN, "fault.continued", "point=%s", name);
        return;
    }
    kill(getpid(), SIGKILL);
    _exit(137); /* not reached */
}
#endif
