/* interlook: the SDK's one public header, all an extension includes. Link
 * libinterlook.a with it (pkg-config --cflags --libs interlook).
 * An extension author gets:
 *   ilp_client     the bus client: register, take WORK, answer, send EVENTs
 *   ilp_msg        the ILP/1 messages and their limits (ILP_MAX_CREDIT...)
 *   ilp_batch      batched bodies (several items in one message)
 *   ilp_frame      receiving and sending frames in place
 *   ilp_pub        the core's PUB topics (state, changes, refresh)
 *   il_service     the service model that travels on the bus
 *   il_codec       safe msgpack decoding and typed field helpers
 *   il_config      the stack's YAML file, with typed getters
 *   il_bus_config  the bus settings (core.bus.*, INTERLOOK_BUS_* overrides)
 *   il_ext_cli     the command line every extension takes
 *   il_log         levelled log lines
 *   il_fileio      durable file writes (fsync, mkdir -p)
 *   il_alloc       allocation that aborts on out of memory (the SDK's policy)
 *   il_err         "reason" strings for functions that return -1
 *   INTERLOOK_VERSION
 * The headers use czmq (zloop, zsock) and msgpack-c types. */
#ifndef INTERLOOK_H
#define INTERLOOK_H

/* <> rather than "": from the installed include/interlook.h, a "common/..."
 * would look in include/common/ first, which is nobody's in particular. */
#include <broker/bus_config.h>
#include <broker/ext_cli.h>
#include <broker/ilp_batch.h>
#include <broker/ilp_client.h>
#include <broker/ilp_frame.h>
#include <broker/ilp_msg.h>
#include <broker/ilp_pub.h>
#include <common/alloc.h>
#include <common/codec.h>
#include <common/config.h>
#include <common/err.h>
#include <common/fileio.h>
#include <common/log.h>
#include <common/service.h>
#include <common/version.h>

#endif
