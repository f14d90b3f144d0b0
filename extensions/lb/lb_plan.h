/* lb_plan: what it takes to go from the state HAProxy runs to the one
 * wanted, decided in one place and without side effects: whether the
 * frontends differ (a reload), and else the runtime commands per backend
 * (servers added, weights changed, servers removed). */
#ifndef INTERLOOK_LB_PLAN_H
#define INTERLOOK_LB_PLAN_H

#include "common/interlook.h"

#include <stdbool.h>

typedef enum { LB_PLAN_ADD, LB_PLAN_WEIGHT, LB_PLAN_REMOVE } lb_plan_kind_t;

typedef struct {
    lb_plan_kind_t kind;
    const il_service_t *service; /* whose backend (the wanted one; the old one for a removal) */
    const il_service_target_t *target; /* the server: wanted (add, weight) or old (remove) */
} lb_plan_op_t;

/* True when a service is in one state and not the other, or its public_ip,
 * port or TLS mode differ: only a reload can apply that. */
bool lb_plan_frontends_differ(zhashx_t *from, zhashx_t *to);

/* True when only a reload can take HAProxy from `from` to `to`: the
 * frontends differ, a service's targets changed and one of them is a host
 * name (the runtime API takes addresses only: HAProxy resolves names when it
 * loads its file), or a service's check changed (its backend's lines). */
bool lb_plan_needs_reload(zhashx_t *from, zhashx_t *to);

/* True when the one service's frontend differs (NULL: absent). */
bool lb_plan_frontend_differs(const il_service_t *from, const il_service_t *to);

/* The server operations that take from's targets to to's (same service, both
 * present), appended to ops (*count items, grown as needed). A target is one
 * server (HOST_PORT): one only in to is added, one only in from removed, one
 * in both with another weight re-weighted. */
void lb_plan_servers(const il_service_t *from, const il_service_t *to, lb_plan_op_t **ops,
                     size_t *count);

/* The server operations for every service of both states (which must not
 * differ in frontends). */
void lb_plan_all(zhashx_t *from, zhashx_t *to, lb_plan_op_t **ops, size_t *count);

#endif
