/* ctl_keygen: `interlookctl keygen FILE [--extensions LIST] [--force]`: a
 * new CURVE key pair for the bus (broker/ilp_cert.h): FILE, the public
 * certificate to copy into the core's core.bus.curve.clientCerts directory
 * (or, for the core's own key, to give to every extension), and FILE_secret,
 * mode 0600, for its holder alone. */
#ifndef INTERLOOK_CTL_KEYGEN_H
#define INTERLOOK_CTL_KEYGEN_H

/* Runs keygen with its arguments (argv[0] is "keygen"). Returns the exit
 * status: 0 written, 1 a file could not be written, 2 bad usage (no FILE, a
 * bad list, FILE or FILE_secret exists without --force); each said on
 * stderr. */
int ctl_keygen_run(int argc, char **argv);

#endif
