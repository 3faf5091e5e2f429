/* The operator's view of money on /admin/rpc (API.md "Admin API", docs/admin.md "Tips,
 * withdrawals and timelines"):
 *
 *   tips.list {appId?, state?, userId?, limit?, cursor?}         newest first, keyset pages
 *   withdrawals.list {appId?, state?, userId?, limit?, cursor?}
 *   tips.get {tipId | invoice}   the tip with its timeline
 *   withdrawals.get {id}         the withdrawal with its timeline
 *
 * Every method is read-only and open to both roles. A COMMUNITY_ADMIN reads only its apps: an
 * appId outside them, or a tip or withdrawal of another app, is -32004 exactly as if it did not
 * exist (handlers/admin.h), and its lists are read with its apps as the scope, so they never hold,
 * nor are shaped by, another app's rows.
 *
 * A timeline lists every event of the money oldest first (storage/migrations/
 * 0017_admin_timelines.sql has the kinds and the order); a tip's node checks and a withdrawal's
 * middle events are sampled beyond ADMIN_TIMELINE_KEEP at each end. Amounts are decimal strings in
 * the asset's whole units, times ISO-8601 UTC with microseconds. */
#ifndef FL_HANDLERS_ADMIN_MONEY_H
#define FL_HANDLERS_ADMIN_MONEY_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/rpc.h"

/* Node checks (tips) or middle events (withdrawals) kept at each end of a timeline; the ones
 * between are counted in one "checks_omitted" / "events_omitted" item. */
#define ADMIN_TIMELINE_KEEP 20

/* Registers the four methods on the /admin/rpc dispatcher (handlers/admin.h admin_new). */
void admin_money_register(struct rpc *admin);

/* The opaque list cursor: the position (created_at in microseconds since the epoch, id) of the
 * last item of a page, "<microseconds>.<uuid>". Format writes at most ADMIN_MONEY_CURSOR_MAX bytes
 * with the NUL; parse returns 0, or -1 unless s is a decimal time from 1970 to the year 9999, a
 * dot and a uuid (pure: unit-tested). */
#define ADMIN_MONEY_CURSOR_MAX 64
void admin_money_cursor_format(int64_t created_us, const char *id, char *out, size_t outsz);
int admin_money_cursor_parse(const char *s, int64_t *created_us, char id[37]);

#endif
