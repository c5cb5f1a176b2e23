/*
 * libtoeless backend interface: the ops table every engine implements, and
 * the stable, installed ABI for vendor plugins.
 *
 * SPDX-License-Identifier: MIT
 */
/**
 * @file toeless_backend.h
 * @brief The backend (engine) ABI: built-in backends and vendor plugins.
 *
 * An initiator never includes this header; a backend does.  The built-in
 * backends (sw, mock, hw) are compiled against exactly this table, and an
 * out-of-tree backend is a shared object built from the installed headers
 * with nothing but `pkg-config --cflags --libs libtoeless` (see
 * examples/backend-skeleton/ and doc/conformance.md).
 *
 * ## Loading
 *
 * toeless_device_open() resolves a spec "NAME[:ARGS]" to a built-in first,
 * then to the plugin file NAME.so in each directory of the environment
 * variable TOELESS_BACKEND_PATH (colon-separated), then in the library's
 * backend directory, `$(pkglibdir)/backends` (TOELESS_BACKEND_DIR, printed by
 * `toeless-info`).  A spec whose name part contains a '/' is a plugin path,
 * loaded as given.  NAME may hold only letters, digits, '-' and '_'.
 *
 * The plugin is loaded with dlopen(RTLD_NOW | RTLD_LOCAL) and must export
 * toeless_backend_entry() (declare it with TOELESS_BACKEND_DEFINE()).  The
 * core calls it with the ABI version it speaks and checks the table it
 * returns: @c abi_version must equal #TOELESS_BACKEND_ABI and @c size must be
 * at least #TOELESS_BACKEND_OPS_SIZE_1.  Anything else is refused with
 * -EPROTO and a log message (through the device's log callback) that names
 * the file and what was wrong; a missing file is -ENOENT.  Every device
 * opened on a plugin holds it loaded; the core dlclose()s it after the
 * backend's close() returns, so close() must leave nothing of the plugin
 * running (threads, timers, atexit or signal handlers).  The plugin calls the
 * services at the end of this header, which libtoeless.so exports; link it
 * with `-ltoeless`.
 *
 * ## Versions
 *
 * #TOELESS_BACKEND_ABI changes when the meaning, order or size of anything
 * in this header changes incompatibly; a backend built for another ABI is
 * refused.  Compatible growth only appends: new ops at the end of struct
 * toeless_backend_ops, new fields at the end of the size-prefixed structs.
 * A table shorter than the core's (a plugin built against an older header of
 * the same ABI) has NULL for the ops it lacks; a longer one (a newer plugin)
 * has its extra ops ignored by an older core.  Every op appended after ABI 2
 * is therefore optional on both sides.  A backend reading a field of
 * struct toeless_backend_ctx_info or struct toeless_rx_query appended later
 * checks its @c size first.  No size-prefixed struct is embedded by value in
 * another (that would move the fields after it when it grew): the
 * parameters inside struct toeless_backend_ctx_info are the fixed-size
 * struct toeless_ctx_params, which grows only into its reserved words.
 *
 * Appended after ABI 2: @c tx_pdu (transmit digest insertion).
 *
 * ABI 2 (libtoeless 0.2): struct toeless_ctx_params lost its size field and
 * gained reserved words; struct toeless_rx_query and struct
 * toeless_rx_record start with a size.  The ops are those of ABI 1.
 *
 * ## Optional ops
 *
 * @c name, @c open, @c close and @c query are required.  Every other op may
 * be NULL: when the device is opened, the core fills each absent op with a
 * default that does this (so a NULL op and one that always answers as
 * below behave the same):
 *
 * | op               | when NULL                                                        |
 * |------------------|------------------------------------------------------------------|
 * | mr_reg, mr_dereg | registrations still succeed; SGEs carry @c mr_priv NULL          |
 * | ctx_create       | every context is served in software (not logged); no other ctx_ op is called |
 * | ctx_destroy      | nothing is called at destroy                                      |
 * | ctx_set_params   | the engine cannot follow new parameters: it is dropped for that context (set_params is -EBUSY while it holds SGLs) |
 * | ctx_progress     | never called; sgl_release must then never answer 1               |
 * | sgl_post         | no SGL is offered; software places every payload                 |
 * | sgl_release      | an accepted SGL counts as released at once                        |
 * | rx_pdu           | no engine records: software places and checks every PDU           |
 * | rx_resync_reply  | the answer is not delivered                                       |
 * | crc_submit       | toeless_crc_submit() computes on the host and completes at once   |
 * | progress         | never called                                                      |
 * | sgl_claim        | the engine is not told: right only for an engine that places nothing but what rx_pdu() offers (see "Buffers") |
 * | tx_pdu           | -EOPNOTSUPP: the host computes every transmit digest               |
 *
 * SGLs are offered (sgl_post) only when query() set #TOELESS_CAP_DDP, and
 * when it also set #TOELESS_CAP_DDP_NEEDS_REG, only SGLs that lie wholly in
 * registered memory.  An error from any optional op is never an I/O error:
 * "not offloaded" is a normal outcome and the software path takes the work.
 *
 * ## Threading
 *
 * The core calls context ops (ctx_*, sgl_*, rx_*) from the thread that is
 * using that context, one call at a time per context; ops of different
 * contexts may run at the same time on different threads.  Device ops
 * (query, mr_reg, mr_dereg, crc_submit, progress) may be called from several
 * threads at once, and concurrently with context ops.  open() and close()
 * run alone.  A backend calls the toeless_backend_*() services below only
 * from inside an op call on the same object (a context service from a
 * context op of that context, a device service from any op of that device),
 * never from a thread of its own; toeless_backend_log() and
 * toeless_backend_device_error() may be called from any op.
 *
 * ## Buffers
 *
 * - The SGE array given to sgl_post() is valid only during the call: copy
 *   it.  The memory it describes is lent to the engine from a successful
 *   sgl_post() until the SGL is released (below).  The engine writes there
 *   only Data-In payload bytes of that ITT, at their Buffer Offset, never
 *   outside the SGEs, never pad or digest bytes, and nothing at all once the
 *   SGL is released: the buffers are the caller's again.
 * - What the core rejects never reaches the caller's memory, and a byte
 *   once placed is never written again, whoever placed it.  The engine
 *   places a PDU's payload only when all of it lies inside the SGL and
 *   none of it overlaps bytes placed into that SGL before: by the engine
 *   itself, or by software.  It learns what software places in two ways:
 *   - rx_pdu() offers a PDU (@c q->sgl_posted_to_engine is 1) only when
 *     the core accepts its placement: the core judges Buffer Offset and
 *     length against everything placed so far before it asks.  An engine
 *     that writes payload only from inside rx_pdu(), and only when
 *     offered, needs nothing more (the skeleton and the mock do so).  A
 *     record with bytes placed for a PDU that was not offered is ignored,
 *     logged and counted in toeless_stats.engine_anomalies.
 *   - sgl_claim() tells the engine each range software is about to write
 *     into an SGL the engine holds, before the first byte is written.  An
 *     engine that places ahead of the core (from the wire, before rx_pdu()
 *     is asked, like hw) must implement it and keep it synchronously: it
 *     cannot otherwise know what passed while it was out of sync, or
 *     before it took the SGL.  Payload such an engine wrote before a claim
 *     reached it lies in a range that software then overwrites with the
 *     bytes it accepted, so the final contents are the accepted ones.
 * - The connection socket (@c info->fd) stays the core's: the engine may
 *   read it only with MSG_PEEK, and must not change its flags or close it.
 *   When rx_pdu() is called, the socket's read position is the PDU's first
 *   payload byte (@c q->payload_pos).
 * - toeless_rx_query.bhs is valid only during the rx_pdu() call.
 * - The iovecs of an accepted CRC request stay valid and unchanged until the
 *   engine completes it with toeless_backend_crc_done().
 * - Memory given to mr_reg() stays mapped until mr_dereg(); the core never
 *   deregisters memory that an SGL held by the engine uses.
 *
 * ## Completions
 *
 * - Every SGL the engine accepted (sgl_post() returned 0) is released
 *   exactly once: sgl_release() returns 0 (released now), or returns 1 and
 *   the engine later calls toeless_backend_sgl_released() exactly once for
 *   it, from ctx_progress().  The core calls sgl_release() for every
 *   accepted SGL before ctx_destroy(); at destroy it calls ctx_progress()
 *   for up to 5 s and then declares the device failed.
 * - A release for an ITT the core did not release (twice, or unasked) is
 *   ignored, counted in toeless_stats.engine_anomalies and logged; so is a
 *   CRC completion for an unknown request.
 * - crc_submit() accepts a prefix of the requests and returns its length;
 *   each accepted request gets exactly one toeless_backend_crc_done(), from
 *   crc_submit() itself or from a later progress() (which toeless_cq_poll()
 *   calls).
 * - An rx_pdu() record reports what is already in memory when it returns:
 *   @c bytes_placed payload bytes from the segment start, and a data digest
 *   verdict of OK or BAD only when all of the payload was placed; a digest
 *   the engine did not check is UNCHECKED and the core checks it.  A digest
 *   error is never reported as good.
 *
 * `toeless-conform` (doc/conformance.md) checks these rules against any
 * backend.
 */
#ifndef TOELESS_BACKEND_H
#define TOELESS_BACKEND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "toeless.h"

#ifdef __cplusplus
extern "C" {
#endif

/** ABI version of struct toeless_backend_ops; bumped on incompatible change. */
#define TOELESS_BACKEND_ABI 2

/** What a context is bound to, given to ctx_create. */
struct toeless_backend_ctx_info {
	size_t size; /**< sizeof(struct toeless_backend_ctx_info) */
	int fd;      /**< the connected socket: the backend must not consume from it (MSG_PEEK is allowed) */
	struct toeless_ctx_params params; /**< negotiated parameters */
	uint32_t max_tasks;               /**< SGL posts at once the core allows */
	uint64_t stream_pos;              /**< stream position of the next PDU header */
};

/** One SGE of an SGL post, with its registration if it lies inside one. */
struct toeless_backend_sge {
	void *addr;       /**< host address */
	size_t len;       /**< bytes */
	void *mr_priv;    /**< the backend's handle from mr_reg, or NULL if unregistered */
	size_t mr_offset; /**< offset of addr inside that registration */
};

/**
 * The core's question about one PDU whose header it has just read.
 * Fields are only appended: an engine reading one appended after ABI 2
 * checks @c size first.
 */
struct toeless_rx_query {
	size_t size;            /**< sizeof(struct toeless_rx_query) of the core */
	uint64_t stream_pos;    /**< position of the PDU header */
	uint64_t payload_pos;   /**< position of the first data-segment byte */
	const uint8_t *bhs;     /**< the 48-byte BHS */
	uint32_t data_len;      /**< DataSegmentLength */
	uint32_t itt;           /**< Initiator Task Tag from the header */
	uint32_t buffer_offset; /**< Data-In Buffer Offset */
	uint32_t
		sgl_posted_to_engine; /**< 1 when the engine holds this ITT's SGL and may place this payload: 0 for one the core rejects (outside the SGL, over placed bytes), see "Buffers" */
};

/**
 * The engine's answer.  The core zeroes it and sets @c size to the bytes it
 * reads; an engine writes a field appended after ABI 2 only when it lies
 * within @c size, and never writes @c size.
 */
struct toeless_rx_record {
	size_t size;           /**< bytes the core reads (set by the core) */
	uint32_t bytes_placed; /**< payload bytes from the segment start already placed (0..data_len) */
	uint8_t hdr_digest;    /**< ::toeless_digest_result of the engine's header check */
	uint8_t data_digest;   /**< ::toeless_digest_result; OK/BAD only when bytes_placed == data_len */
	uint8_t reserved[2];   /**< zero */
	uint8_t flags;         /**< ::toeless_rx_record_flags; appended after ABI 2: written only within @c size */
};

/**
 * Flags of struct toeless_rx_record.  They say who did the work, for the
 * counters only: an engine that copies payload from the socket with the
 * host's CPU (MSG_PEEK, like the mock and the skeleton) is placing on
 * its own behalf but saves the host nothing, and must not be counted as
 * hardware placement.
 */
enum toeless_rx_record_flags {
	/** The placed bytes (and any digest verdict) came from the host's CPU,
	 *  not from a device: counted in toeless_stats.bytes_placed_engine_host
	 *  and data_digests_engine_host as well. */
	TOELESS_RX_REC_HOST_CPU = 1u << 0,
};

/** One asynchronous CRC request as the backend sees it. */
struct toeless_backend_crc {
	uint64_t id;             /**< report it back in toeless_backend_crc_done() */
	const struct iovec *iov; /**< the bytes */
	int iovcnt;              /**< entries in iov */
	uint32_t seed;           /**< digest to extend, or 0 */
};

/** The ops table.  @c size and @c abi_version let the core refuse a mismatch. */
struct toeless_backend_ops {
	size_t size;          /**< sizeof(struct toeless_backend_ops) */
	uint32_t abi_version; /**< TOELESS_BACKEND_ABI */
	const char *name;     /**< the name a spec selects it by */
	const char *version;  /**< the backend's own version */

	/** Open the engine; @p args is the text after "name:" or "". */
	int (*open)(toeless_device *dev, const char *args, void **dev_priv);
	/** Close the engine; every context, queue and registration is gone. */
	void (*close)(void *dev_priv);
	/** Fill caps (all fields after size; the core has zeroed it and set size). */
	int (*query)(void *dev_priv, struct toeless_caps *caps);

	/** Register memory for engine placement; NULL: accepted, not reachable. */
	int (*mr_reg)(void *dev_priv, void *addr, size_t len, void **mr_priv);
	/** Forget a registration no SGL uses any more. */
	void (*mr_dereg)(void *dev_priv, void *mr_priv);

	/** Take a connection; an error means "not offloaded": software serves it. */
	int (*ctx_create)(void *dev_priv, toeless_ctx *ctx, const struct toeless_backend_ctx_info *info,
			  void **ctx_priv);
	/** Called after every SGL was released; the engine holds nothing after it. */
	void (*ctx_destroy)(void *ctx_priv);
	/** New negotiated parameters from stream_pos on; an error drops the engine for this context. */
	int (*ctx_set_params)(void *ctx_priv, const struct toeless_ctx_params *params, uint64_t stream_pos);
	/** Let the engine make progress on this context (release SGLs, ask for resync). */
	void (*ctx_progress)(void *ctx_priv);

	/**
	 * Offer an SGL to the engine.  0: the engine will place into it;
	 * -ENOSPC: the engine is out of resources (software places, counted);
	 * any other error: software places.
	 */
	int (*sgl_post)(void *ctx_priv, uint32_t itt, const struct toeless_backend_sge *sges, int n);
	/**
	 * Take an SGL back.  0: released now.  1: the engine still holds it
	 * and will call toeless_backend_sgl_released() later (from ctx_progress).
	 */
	int (*sgl_release)(void *ctx_priv, uint32_t itt);

	/** 0 and *rec filled: the engine saw this PDU.  -ENOENT: no record (software path). */
	int (*rx_pdu)(void *ctx_priv, const struct toeless_rx_query *q, struct toeless_rx_record *rec);
	/** Answer to toeless_backend_resync_request(): is there a header at @p pos? */
	void (*rx_resync_reply)(void *ctx_priv, uint64_t pos, int is_header);

	/** Accept up to n CRC requests; return how many (>= 0) or a negative errno. */
	int (*crc_submit)(void *dev_priv, toeless_cq *cq, const struct toeless_backend_crc *reqs, int n);
	/** Reap device-level completions (CRC); called from toeless_cq_poll(). */
	void (*progress)(void *dev_priv);

	/* ---- appended after ABI 1: optional on both sides (see "Versions") ---- */

	/**
	 * Software is about to write bytes [@p lo, @p hi) of the SGL of @p itt,
	 * which the engine holds: from the return of this call on, the engine
	 * must write nothing that overlaps them into this SGL (until it is
	 * released and posted again).  Called before the first byte is
	 * written, for every PDU (or tail of a PDU) software places into an SGL
	 * the engine accepted.  An engine that cannot promise it in time (a
	 * device that does not answer) declares the device failed with
	 * toeless_backend_device_error() before it returns: a failed device
	 * writes nothing.  See "Buffers".
	 */
	void (*sgl_claim)(void *ctx_priv, uint32_t itt, uint64_t lo, uint64_t hi);

	/**
	 * Transmit digest insertion (an engine that set #TOELESS_CAP_CRC_TX).
	 * toeless_pdu_send() asks before the first byte of a PDU is written:
	 * the PDU starts @p tx_pos bytes into what this context has sent
	 * (0 at ctx_create(); @c info->fd had sent bytes before that the
	 * engine learns itself, e.g. from the socket), its header (BHS + AHS,
	 * without digest) is @p hdr_len bytes, its data segment @p data_len
	 * bytes (pad follows), and @p flags (::toeless_tx_digest_flags) name
	 * the digests wanted.  0: the engine will write those digests into
	 * the outgoing bytes, where the core sends placeholder zero bytes,
	 * for the first transmission and for every retransmission until the
	 * peer acknowledged them.  Any error: the host computes them.  Called
	 * once per PDU, in stream order, only when a digest is wanted.
	 */
	int (*tx_pdu)(void *ctx_priv, uint64_t tx_pos, uint32_t hdr_len, uint32_t data_len, uint32_t flags);
};

/** Digests named by the @c flags of toeless_backend_ops.tx_pdu. */
enum toeless_tx_digest_flags {
	TOELESS_TX_HDR_DIGEST = 1u << 0,  /**< the header digest follows the header */
	TOELESS_TX_DATA_DIGEST = 1u << 1, /**< the data digest follows data and pad */
};

/* ---- services the core offers to backends ---- */

/** The engine has let go of the SGL of @p itt (after sgl_release returned 1). */
TOELESS_API void toeless_backend_sgl_released(toeless_ctx *ctx, uint32_t itt);
/** The engine lost the PDU boundary: is there a header at stream position @p pos? */
TOELESS_API void toeless_backend_resync_request(toeless_ctx *ctx, uint64_t pos);
/** A CRC request is finished (status 0 or negative errno). */
TOELESS_API void toeless_backend_crc_done(toeless_cq *cq, uint64_t id, uint32_t crc, int status);
/** The device failed: every context goes to software from now on. */
TOELESS_API void toeless_backend_device_error(toeless_device *dev, int err);
/** Log through the device's log callback. */
TOELESS_API void toeless_backend_log(toeless_device *dev, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- appended in libtoeless 0.2 (version node LIBTOELESS_0.2) ---- */

/**
 * Count one anomaly of the engine on @p ctx in toeless_stats.engine_anomalies
 * (a record or completion the engine itself found inconsistent and dropped).
 * Call it only from a context op of @p ctx.  NULL is ignored.
 */
TOELESS_API void toeless_backend_count_anomaly(toeless_ctx *ctx);
/**
 * The private data open() stored in @c *dev_priv, when @p dev is open on the
 * engine whose ops table is @p ops; NULL when @p dev is NULL or open on
 * another engine.  For an engine's own API (toeless_mock.h), which gets a
 * device from the application and must check that it is one of its own.
 */
TOELESS_API void *toeless_backend_device_priv(toeless_device *dev, const struct toeless_backend_ops *ops);
/**
 * Copy the size-prefixed struct @p src (its first member is a size_t
 * holding its size) into @p dst of @p dst_size bytes, the way the core takes
 * its own attribute structs: a shorter @p src (an older caller) leaves the
 * rest of @p dst zero; a longer one is accepted only when the bytes past
 * @p dst_size are zero.  On success @p dst's size field is @p dst_size.
 * @return 0, or -EINVAL (NULL pointers, @p dst_size below sizeof(size_t),
 *         a size below sizeof(size_t), a nonzero unknown tail).
 */
TOELESS_API int toeless_backend_attr_copy(void *dst, size_t dst_size, const void *src);

/* ---- plugins ---- */

/** Size of the ABI-1 ops table (ABI 2 has the same ops): the smallest table the core accepts. */
#define TOELESS_BACKEND_OPS_SIZE_1 (offsetof(struct toeless_backend_ops, progress) + sizeof(void (*)(void *)))

/** Environment variable: colon-separated directories searched for NAME.so
 *  before the library's own backend directory. */
#define TOELESS_BACKEND_PATH_ENV "TOELESS_BACKEND_PATH"

/** Name of the symbol a plugin exports: see toeless_backend_entry(). */
#define TOELESS_BACKEND_ENTRY_SYMBOL "toeless_backend_entry"

/** Type of toeless_backend_entry(), for dlsym(). */
typedef const struct toeless_backend_ops *(*toeless_backend_entry_fn)(uint32_t core_abi);

/** Marks the plugin's entry point exported (plugins build with -fvisibility=hidden too). */
#if defined(__GNUC__) && __GNUC__ >= 4
#define TOELESS_BACKEND_EXPORT __attribute__((visibility("default")))
#else
#define TOELESS_BACKEND_EXPORT
#endif

/**
 * The entry point of a plugin backend, defined by the plugin (never by
 * libtoeless).  Called once for every device opened on the plugin.
 *
 * @param core_abi the #TOELESS_BACKEND_ABI of the loading library.
 * @return the plugin's ops table, valid until the plugin is unloaded; or
 *         NULL when it cannot serve that ABI (the open fails with -EPROTO).
 */
TOELESS_BACKEND_EXPORT const struct toeless_backend_ops *toeless_backend_entry(uint32_t core_abi);

/**
 * Define toeless_backend_entry() returning @p ops (a
 * <tt>const struct toeless_backend_ops</tt> of the plugin) for the ABI this
 * header describes, and NULL for any other.
 */
#define TOELESS_BACKEND_DEFINE(ops)                                                                                    \
	TOELESS_BACKEND_EXPORT const struct toeless_backend_ops *toeless_backend_entry(uint32_t core_abi)              \
	{                                                                                                              \
		return core_abi == TOELESS_BACKEND_ABI ? &(ops) : NULL;                                                \
	}

#ifdef __cplusplus
}
#endif
#endif /* TOELESS_BACKEND_H */
