/* version: the interlook release, shown by --version and sent in HELLO. */
#ifndef INTERLOOK_VERSION_H
#define INTERLOOK_VERSION_H
#define INTERLOOK_VERSION "0.1.0"
#endif
