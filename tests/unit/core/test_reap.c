/* Unit tests for the deferred-free list (core/reap.c): nothing is freed before the safe point,
 * items go in order, a free function may queue more, and reap_free leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/reap.h"

static int order[8];
static int norder;
static struct reap *current;

struct obj {
    int id;
    int requeue; /* queue another object when freed */
};

static void obj_free(void *p)
{
    struct obj *o = p;
    order[norder++] = o->id;
    if (o->requeue) {
        struct obj *more = calloc(1, sizeof *more);
        more->id = o->id * 10;
        reap_later(current, more, obj_free);
    }
    free(o);
}

static struct obj *obj_new(int id, int requeue)
{
    struct obj *o = calloc(1, sizeof *o);
    o->id = id;
    o->requeue = requeue;
    return o;
}

static void test_frees_at_the_safe_point_in_order(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_default_loop(0);
    current = reap_new(loop);
    norder = 0;
    reap_later(current, obj_new(1, 0), obj_free);
    reap_later(current, obj_new(2, 1), obj_free);
    reap_later(current, obj_new(3, 0), obj_free);
    assert_int_equal(norder, 0);
    assert_int_equal(reap_pending(current), 3);
    /* One loop iteration: the prepare watcher runs before the loop would block. */
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(norder, 4);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 3);
    assert_int_equal(order[3], 20);
    assert_int_equal(reap_pending(current), 0);
    reap_free(current);
}

static void test_free_runs_what_is_left(void **state)
{
    (void)state;
    current = reap_new(NULL);
    norder = 0;
    reap_later(current, obj_new(7, 1), obj_free);
    reap_free(current); /* under ASan a leak here fails the test */
    assert_int_equal(norder, 2);
    assert_int_equal(order[1], 70);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frees_at_the_safe_point_in_order),
        cmocka_unit_test(test_free_runs_what_is_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
