/* ctl_watch: `interlookctl watch`: a SUB socket on the core's PUB endpoint,
 * subscribed to "changes" (several state bodies a message), printing one line
 * per change of an entry until SIGINT or SIGTERM. */
#ifndef INTERLOOK_CTL_WATCH_H
#define INTERLOOK_CTL_WATCH_H

#include <stdbool.h>

/* Watches endpoint: each change of a "changes" publication prints
 * "TIME NAME STATE (expected EXPECTED)[ error: ERROR]", or with json one
 * compact object {time, name, state, expected_state, error, public_ip,
 * port, targets} per line (port null when none). Malformed publications are
 * skipped with a warning on stderr. Returns the exit status: 0 when stopped by
 * SIGINT/SIGTERM, 1 when the output cannot be written, the socket fails or
 * the core refuses our CURVE key, 2
 * for an endpoint ZeroMQ refuses or a certificate that cannot be read. With
 * core_cert (the core's public certificate) and cert (ours, FILE_secret
 * beside it), the socket uses CURVE; both or neither. */
int ctl_watch_run(const char *endpoint, bool json, const char *core_cert, const char *cert);

#endif
