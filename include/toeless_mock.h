/*
 * libtoeless mock engine: a deterministic, in-process offload engine with
 * fault injection, for testing an initiator's error paths.
 *
 * Open it with toeless_device_open("mock", ...) or "mock:ARGS"; then script
 * it with the functions below.  See doc/mock.md for a walk-through.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_MOCK_H
#define TOELESS_MOCK_H

#include <stddef.h>
#include <stdint.h>

#include "toeless.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file toeless_mock.h
 * @brief Scripting the mock engine: fault injection, call counts, call log.
 *
 * The mock behaves like an offload engine: it accepts SGL posts, places the
 * payload of Data-In PDUs for accepted ITTs into them (peeking at the
 * socket, never consuming from it), checks data digests, holds SGLs until
 * released, and runs asynchronous CRC requests, completing them when the
 * application polls a completion queue.  Every call the library makes into
 * it is counted and logged, and faults can be armed to make it misbehave in
 * each way a real engine may.
 *
 * Arguments after "mock:" are a comma-separated list of key=value pairs
 * (numbers in decimal or 0x hex); an unknown key or a bad value makes
 * toeless_device_open() fail with -EINVAL:
 * - ddp=0|1            place Data-In payload (default 1; 0: CRC only)
 * - needs_reg=0|1      place only into registered memory (default 0)
 * - seed=N             seed of the generator behind TOELESS_MOCK_FAULT_F_RANDOM (default 1)
 * - max_sge=N          caps.max_sge (default 16, at most 1023)
 * - max_tasks=N        caps.max_tasks (default 256)
 * - max_contexts=N     caps.max_contexts (default 64)
 * - max_crc_batch=N    caps.max_crc_batch (default 64)
 * - max_recv_dsl=N     caps.max_recv_dsl (default 262144)
 * - max_engine_tasks=N SGLs the engine holds per context before sgl_post
 *                      answers -ENOSPC (default: max_tasks)
 * - crc_queue=N        CRC requests waiting at once before submission
 *                      accepts fewer (default 256)
 * - log=N              entries kept in the call log (default 256; 0: none)
 *
 * Every function here takes the device and returns -EINVAL when it is NULL
 * or not a mock device.  They are thread safe.
 */

/** @defgroup mock Mock engine
 *  @{ */

/**
 * What a fault does.  Each kind counts its own trigger events (given per
 * kind below); a fault lets ::toeless_mock_fault.after matching events
 * pass, then fires on the next ::toeless_mock_fault.count of them.
 */
enum toeless_mock_fault_kind {
	/** Event: a Data-In the engine fully places on a context with
	 *  DataDigest on.  The payload is placed but its data digest is
	 *  reported BAD (even when it is good), so the library must fail the
	 *  task with -EBADMSG. */
	TOELESS_MOCK_FAULT_DATA_DIGEST = 1,
	/** Event: a PDU asked about on a context with HeaderDigest on.  The
	 *  engine reports the header digest BAD (placing nothing), so the
	 *  library must fail the context. */
	TOELESS_MOCK_FAULT_HDR_DIGEST = 2,
	/** Event: a PDU asked about.  The engine loses the PDU boundary: it
	 *  declines the PDUs it fires on (software takes them), then asks for
	 *  resynchronisation at the header that follows the last of them
	 *  (toeless_backend_resync_request() from the next context progress),
	 *  and declines every PDU until the library confirms that header. */
	TOELESS_MOCK_FAULT_LOSE_SYNC = 3,
	/** Event: a Data-In the engine would place.  Only the first
	 *  ::toeless_mock_fault.value bytes are placed and the data digest is
	 *  reported unchecked: software places the rest and checks the digest. */
	TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT = 4,
	/** Event: an SGL release.  The engine keeps the SGL and reports its
	 *  release only from the ::toeless_mock_fault.value-th context
	 *  progress call after it (0 counts as 1). */
	TOELESS_MOCK_FAULT_DELAY_RELEASE = 5,
	/** Event: a batch of two or more completions delivered together (CRC
	 *  completions from one progress call, delayed SGL releases from one
	 *  context progress call).  The batch is delivered in reverse order. */
	TOELESS_MOCK_FAULT_REORDER_COMPLETIONS = 6,
	/** Event: a CRC completion being delivered, or an SGL release.  The
	 *  completion is reported twice; an SGL release under this fault is
	 *  held until the next context progress call, then reported twice.
	 *  The library must ignore the second (counted in engine_anomalies). */
	TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS = 7,
	/** Event: an sgl_post or crc_submit call (choose with
	 *  ::toeless_mock_fault.ops).  sgl_post answers -ENOSPC (software
	 *  places that task); crc_submit accepts at most
	 *  ::toeless_mock_fault.value requests. */
	TOELESS_MOCK_FAULT_EXHAUSTION = 8,
	/** Event: an op call of a kind in ::toeless_mock_fault.ops.  The engine
	 *  reports toeless_backend_device_error(dev, -EIO) and is dead from
	 *  then on: it places nothing, holds nothing, refuses every post,
	 *  context and CRC submission with -EIO (memory registrations are
	 *  still accepted), and fails its queued CRC requests with -EIO. */
	TOELESS_MOCK_FAULT_DEVICE_FAILURE = 9,
};

/** Flags in ::toeless_mock_fault. */
enum toeless_mock_fault_flags {
	/** Only events for ::toeless_mock_fault.itt count (PDUs, posts and
	 *  releases of that ITT; CRC events never match). */
	TOELESS_MOCK_FAULT_F_ITT = 1u << 0,
	/** After the first @c after events, each event fires with probability
	 *  ::toeless_mock_fault.permille / 1000, drawn from the generator
	 *  seeded by the "seed" argument: the same seed and the same sequence
	 *  of calls give the same faults. */
	TOELESS_MOCK_FAULT_F_RANDOM = 1u << 1,
};

/** ::toeless_mock_fault.count value: fire on every event from then on. */
#define TOELESS_MOCK_FOREVER UINT32_MAX

/**
 * The ops of the engine and the events it raises, as recorded in
 * ::toeless_mock_call.op.  (1u << op) selects an op in
 * ::toeless_mock_fault.ops.
 */
enum toeless_mock_op {
	TOELESS_MOCK_OP_MR_REG = 1,           /**< mr_reg: memory registration */
	TOELESS_MOCK_OP_MR_DEREG = 2,         /**< mr_dereg */
	TOELESS_MOCK_OP_CTX_CREATE = 3,       /**< ctx_create */
	TOELESS_MOCK_OP_CTX_DESTROY = 4,      /**< ctx_destroy */
	TOELESS_MOCK_OP_CTX_SET_PARAMS = 5,   /**< ctx_set_params */
	TOELESS_MOCK_OP_CTX_PROGRESS = 6,     /**< ctx_progress (logged only when it has work) */
	TOELESS_MOCK_OP_SGL_POST = 7,         /**< sgl_post */
	TOELESS_MOCK_OP_SGL_RELEASE = 8,      /**< sgl_release */
	TOELESS_MOCK_OP_RX_PDU = 9,           /**< rx_pdu: the library asks about one PDU */
	TOELESS_MOCK_OP_RX_RESYNC_REPLY = 10, /**< rx_resync_reply */
	TOELESS_MOCK_OP_CRC_SUBMIT = 11,      /**< crc_submit */
	TOELESS_MOCK_OP_PROGRESS = 12,        /**< progress (logged only when it has work) */
	TOELESS_MOCK_EV_SGL_RELEASED = 16,    /**< the engine called toeless_backend_sgl_released() */
	TOELESS_MOCK_EV_RESYNC_REQUEST = 17,  /**< the engine called toeless_backend_resync_request() */
	TOELESS_MOCK_EV_CRC_DONE = 18,        /**< the engine called toeless_backend_crc_done() */
	TOELESS_MOCK_EV_DEVICE_ERROR = 19,    /**< the engine called toeless_backend_device_error() */
};

/** Default ::toeless_mock_fault.ops of TOELESS_MOCK_FAULT_DEVICE_FAILURE:
 *  the ops a test drives directly (not the progress calls, whose number
 *  depends on how often the library polls). */
#define TOELESS_MOCK_OPS_DEFAULT_FAILURE                                                                               \
	((1u << TOELESS_MOCK_OP_MR_REG) | (1u << TOELESS_MOCK_OP_CTX_CREATE) |                                         \
	 (1u << TOELESS_MOCK_OP_CTX_SET_PARAMS) | (1u << TOELESS_MOCK_OP_SGL_POST) |                                   \
	 (1u << TOELESS_MOCK_OP_SGL_RELEASE) | (1u << TOELESS_MOCK_OP_RX_PDU) |                                        \
	 (1u << TOELESS_MOCK_OP_RX_RESYNC_REPLY) | (1u << TOELESS_MOCK_OP_CRC_SUBMIT))

/**
 * One fault to arm.  Zero-initialise, set @c size and @c kind; the zero
 * value of every other field means "fire once, on the first event".
 */
struct toeless_mock_fault {
	size_t size;       /**< sizeof(struct toeless_mock_fault) */
	uint32_t kind;     /**< ::toeless_mock_fault_kind */
	uint32_t flags;    /**< ::toeless_mock_fault_flags */
	uint32_t after;    /**< matching events that pass before the fault may fire */
	uint32_t count;    /**< events it fires on (0 counts as 1; TOELESS_MOCK_FOREVER: no end) */
	uint32_t value;    /**< kind-specific: bytes placed (PARTIAL_PLACEMENT), progress calls
			        (DELAY_RELEASE), CRC requests still accepted (EXHAUSTION) */
	uint32_t ops;      /**< EXHAUSTION and DEVICE_FAILURE: which ops are events, as a mask of
			        1u << ::toeless_mock_op (0: SGL_POST and CRC_SUBMIT for EXHAUSTION,
			        TOELESS_MOCK_OPS_DEFAULT_FAILURE for DEVICE_FAILURE) */
	uint32_t itt;      /**< the ITT with TOELESS_MOCK_FAULT_F_ITT */
	uint32_t permille; /**< firing probability in 1/1000 with TOELESS_MOCK_FAULT_F_RANDOM */
};

/**
 * Arm a fault.  Faults of the device apply to all its contexts; several
 * may be armed at once (at most 32, spent ones included until removed).
 *
 * @param dev   a mock device.
 * @param fault the fault; copied.
 * @return a fault id (> 0) for toeless_mock_fault_fired() and
 *         toeless_mock_fault_remove(); -EINVAL on a bad argument or an
 *         unknown kind; -ENOSPC when 32 faults are armed.
 */
TOELESS_API int toeless_mock_fault_add(toeless_device *dev, const struct toeless_mock_fault *fault);

/**
 * Disarm one fault.
 * @param dev a mock device.
 * @param id  an id returned by toeless_mock_fault_add().
 * @return 0; -EINVAL; -ENOENT when no fault has that id.
 */
TOELESS_API int toeless_mock_fault_remove(toeless_device *dev, int id);

/**
 * Disarm every fault.  A device already failed by
 * TOELESS_MOCK_FAULT_DEVICE_FAILURE stays dead.
 * @param dev a mock device.
 * @return 0; -EINVAL.
 */
TOELESS_API int toeless_mock_fault_clear(toeless_device *dev);

/**
 * How often a fault has fired.
 * @param dev a mock device.
 * @param id  an id returned by toeless_mock_fault_add().
 * @return the number of events it fired on (>= 0); -EINVAL; -ENOENT when
 *         no fault has that id.
 */
TOELESS_API int toeless_mock_fault_fired(toeless_device *dev, int id);

/**
 * Counts of the calls the library made into the engine and of what the
 * engine did.  Append-only; set @c size, and only that many bytes are
 * written.
 */
struct toeless_mock_stats {
	size_t size;                  /**< sizeof(struct toeless_mock_stats) */
	uint64_t calls;               /**< op calls of any kind (idle progress calls included) */
	uint64_t mr_reg;              /**< mr_reg calls */
	uint64_t mr_dereg;            /**< mr_dereg calls */
	uint64_t ctx_create;          /**< ctx_create calls */
	uint64_t ctx_destroy;         /**< ctx_destroy calls */
	uint64_t ctx_set_params;      /**< ctx_set_params calls */
	uint64_t ctx_progress;        /**< ctx_progress calls */
	uint64_t progress;            /**< progress calls */
	uint64_t sgl_post;            /**< sgl_post calls */
	uint64_t sgl_post_accepted;   /**< of which accepted (0) */
	uint64_t sgl_post_nospc;      /**< of which refused with -ENOSPC */
	uint64_t sgl_release;         /**< sgl_release calls */
	uint64_t sgl_release_delayed; /**< of which answered 1 (release reported later) */
	uint64_t sgl_released;        /**< toeless_backend_sgl_released() calls made (duplicates included) */
	uint64_t rx_pdu_answered;     /**< rx_pdu calls answered with a record (0) */
	uint64_t rx_pdu_declined;     /**< rx_pdu calls answered -ENOENT (software path) */
	uint64_t rx_placed_full;      /**< Data-In PDUs the engine placed whole */
	uint64_t rx_placed_partial;   /**< Data-In PDUs the engine placed in part */
	uint64_t bytes_placed;        /**< payload bytes the engine placed */
	uint64_t data_digests_ok;     /**< data digests the engine checked and found good */
	uint64_t data_digests_bad;    /**< data digests the engine reported bad (faults included) */
	uint64_t crc_submit;          /**< crc_submit calls */
	uint64_t crc_accepted;        /**< CRC requests accepted */
	uint64_t crc_done;            /**< toeless_backend_crc_done() calls made (duplicates included) */
	uint64_t resync_requests;     /**< toeless_backend_resync_request() calls made */
	uint64_t resync_replies;      /**< rx_resync_reply calls */
	uint64_t resync_confirmed;    /**< of which confirmed the requested header */
	uint64_t faults_fired;        /**< fault firings, all kinds (one per fault per event) */
	uint64_t device_errors;       /**< toeless_backend_device_error() calls made */
	uint64_t anomalies;           /**< calls that made no sense to the engine (release of an ITT
				          it does not hold, a post of an ITT it holds, ...) */
	uint64_t engine_sgls;         /**< SGLs the engine holds now, all contexts (a gauge) */
	uint64_t crc_queued;          /**< CRC requests waiting now (a gauge) */
};

/**
 * Read the mock's counters.
 * @param dev   a mock device.
 * @param stats filled up to stats->size bytes.
 * @return 0; -EINVAL (also when stats->size is smaller than the size field).
 */
TOELESS_API int toeless_mock_stats(toeless_device *dev, struct toeless_mock_stats *stats);

/** One entry of the call log. */
struct toeless_mock_call {
	uint64_t seq;      /**< 1 for the first call logged on this device, then counting up */
	uint32_t op;       /**< ::toeless_mock_op */
	int32_t ret;       /**< what the op returned (0 for ops without a result); status for CRC_DONE */
	uint32_t ctx_id;   /**< the context: 1 for the first created on the device, ...; 0 for device ops */
	uint32_t itt;      /**< ITT of SGL, RX_PDU and SGL_RELEASED entries, else 0 */
	uint32_t faults;   /**< kinds that fired in this call, as a mask of 1u << ::toeless_mock_fault_kind */
	uint32_t reserved; /**< zero */
	uint64_t pos;      /**< stream position: RX_PDU header, RESYNC_REQUEST/REPLY, CTX_SET_PARAMS; else 0 */
	uint64_t value;    /**< RX_PDU: bytes placed; SGL_POST: SGEs; CRC_SUBMIT: requests offered;
			        CRC_DONE: the CRC; RX_RESYNC_REPLY: is_header; SGL_RELEASED: 1 for a duplicate */
};

/**
 * Copy the call log: the last entries (up to @p max and up to the "log"
 * argument), oldest first.
 * @param dev   a mock device.
 * @param calls room for @p max entries.
 * @param max   > 0.
 * @return the number of entries copied; -EINVAL.
 */
TOELESS_API int toeless_mock_log(toeless_device *dev, struct toeless_mock_call *calls, int max);

/**
 * Empty the call log (sequence numbers go on counting).
 * @param dev a mock device.
 * @return 0; -EINVAL.
 */
TOELESS_API int toeless_mock_log_clear(toeless_device *dev);

/**
 * Name an op or event.
 * @param op a ::toeless_mock_op.
 * @return a static string such as "sgl_post"; "?" when unknown.
 */
TOELESS_API const char *toeless_mock_op_name(uint32_t op);

/**
 * Name a fault kind.
 * @param kind a ::toeless_mock_fault_kind.
 * @return a static string such as "data_digest"; "?" when unknown.
 */
TOELESS_API const char *toeless_mock_fault_name(uint32_t kind);

/** @} */

#ifdef __cplusplus
}
#endif
#endif /* TOELESS_MOCK_H */
