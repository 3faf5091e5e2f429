/* See owner.h. Plain globals: the daemon runs one loop on one thread (ARCHITECTURE.md 1.1). */
#include "core/owner.h"

static owner_id current;
static owner_id last;

owner_id owner_new(void)
{
    return ++last;
}

owner_id owner_current(void)
{
    return current;
}

owner_id owner_enter(owner_id id)
{
    owner_id prev = current;
    current = id;
    return prev;
}

void owner_leave(owner_id previous)
{
    current = previous;
}
