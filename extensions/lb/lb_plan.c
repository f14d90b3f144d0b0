/* lb_plan: the difference between two states, see lb_plan.h. */
#include "extensions/lb/lb_plan.h"

#include <stdlib.h>
#include <string.h>

static bool s_same_string(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

bool lb_plan_frontend_differs(const il_service_t *from, const il_service_t *to)
{
    if (!from || !to) return from != to;
    return !s_same_string(from->public_ip, to->public_ip) || from->port != to->port ||
           from->tls != to->tls;
}

bool lb_plan_frontends_differ(zhashx_t *from, zhashx_t *to)
{
    if (zhashx_size(from) != zhashx_size(to)) return true;
    for (il_service_t *s = zhashx_first(from); s; s = zhashx_next(from))
        if (lb_plan_frontend_differs(s, zhashx_lookup(to, s->name))) return true;
    return false;
}

static bool s_has_name(const il_service_t *s)
{
    for (size_t i = 0; i < s->target_count; i++)
        if (!il_service_ip_valid(s->targets[i].host)) return true;
    return false;
}

bool lb_plan_needs_reload(zhashx_t *from, zhashx_t *to)
{
    if (lb_plan_frontends_differ(from, to)) return true;
    for (il_service_t *s = zhashx_first(to); s; s = zhashx_next(to)) {
        const il_service_t *old = zhashx_lookup(from, s->name);
        if (old && !il_service_same_definition(old, s) && (s_has_name(s) || s_has_name(old)))
            return true;
        /* a backend's check lines and servers' check words: the file only */
        if (old && !s_same_string(old->check, s->check)) return true;
    }
    return false;
}

static void s_push(lb_plan_op_t **ops, size_t *count, lb_plan_op_t op)
{
    *ops = il_realloc(*ops, (*count + 1) * sizeof **ops);
    (*ops)[(*count)++] = op;
}

/* Targets are sorted by host then port (il_service_normalize). */
static int s_compare(const il_service_target_t *a, const il_service_target_t *b)
{
    int c = strcmp(a->host, b->host);
    return c ? c : (int)a->port - (int)b->port;
}

void lb_plan_servers(const il_service_t *from, const il_service_t *to, lb_plan_op_t **ops,
                     size_t *count)
{
    size_t i = 0, j = 0;
    while (i < from->target_count || j < to->target_count) {
        const il_service_target_t *a = i < from->target_count ? &from->targets[i] : NULL;
        const il_service_target_t *b = j < to->target_count ? &to->targets[j] : NULL;
        int c = !a ? 1 : !b ? -1 : s_compare(a, b);
        if (c < 0) {
            s_push(ops, count, (lb_plan_op_t){LB_PLAN_REMOVE, from, a});
            i++;
        } else if (c > 0) {
            s_push(ops, count, (lb_plan_op_t){LB_PLAN_ADD, to, b});
            j++;
        } else {
            if (a->weight != b->weight) s_push(ops, count, (lb_plan_op_t){LB_PLAN_WEIGHT, to, b});
            i++;
            j++;
        }
    }
}

void lb_plan_all(zhashx_t *from, zhashx_t *to, lb_plan_op_t **ops, size_t *count)
{
    for (il_service_t *s = zhashx_first(to); s; s = zhashx_next(to)) {
        const il_service_t *old = zhashx_lookup(from, s->name);
        if (old) lb_plan_servers(old, s, ops, count);
    }
}
