/*
 * Shared helpers of the libtoeless benchmarks (tests/bench/, `make bench`).
 *
 * Conventions every benchmark follows:
 * - a comparison is made of two (or more) variants measured in the same
 *   process, alternated rep by rep (the order rotates each repetition), and
 *   the figure is the median over the repetitions of the per-repetition
 *   ratio;
 * - at least 5 repetitions (BENCH_REPS, default 7);
 * - a readable table first, then one line per figure:
 *       BENCH <name> <value> <unit>
 *
 * Environment:
 *   BENCH_REPS   repetitions per comparison (default 7, at least 5)
 *   BENCH_QUICK  1: shorter runs (smoke test; figures are noisier)
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_BENCH_H
#define TOELESS_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* ---- clocks ---- */
uint64_t bench_now_ns(void);        /* CLOCK_MONOTONIC */
uint64_t bench_thread_cpu_ns(void); /* CLOCK_THREAD_CPUTIME_ID of the caller */

/* ---- parameters ---- */
int bench_reps(void);  /* BENCH_REPS, at least 5 */
int bench_quick(void); /* BENCH_QUICK set and not "0" */
long bench_env_long(const char *name, long def);

/* ---- statistics ---- */
double bench_median(const double *v, int n); /* v is not modified */

/* ---- output ---- */
/* Remember a figure; bench_emit() prints them all as BENCH lines. */
void bench_figure(const char *name, double value, const char *unit);
void bench_emit(void);
/* printf to stdout and flush (tables are printed as measured). */
void bench_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a message to stderr and exit(1). */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Print a one-line header naming the machine and the configuration. */
void bench_banner(const char *what);

/* ---- memory ---- */
void *bench_alloc(size_t len); /* 4 KiB aligned, zeroed, dies on failure */
void bench_fill(void *buf, size_t len, uint64_t seed);
uint64_t bench_rand(uint64_t *state); /* splitmix64 */
/* Bytes the C library's allocator has handed out (mallinfo2: arena + mmap). */
size_t bench_heap_in_use(void);

/* ---- CRC32C, straight from isa-l (the reference the library must match) ---- */
uint32_t bench_crc32c(uint32_t crc, const void *buf, size_t len);

/* ---- iSCSI PDUs ---- */
#define BENCH_BHS         48
#define BENCH_OP_DATA_OUT 0x05
#define BENCH_OP_DATA_IN  0x25
#define BENCH_F_FINAL     0x80
#define BENCH_F_STATUS    0x01

/* Fill a 48-byte Data-In header (lengths set). */
void bench_bhs_data_in(uint8_t *bhs, uint32_t itt, uint32_t datasn, uint32_t offset, uint32_t dsl, uint8_t flags);
/* Fill a 48-byte Data-Out header (lengths set). */
void bench_bhs_data_out(uint8_t *bhs, uint32_t itt, uint32_t ttt, uint32_t datasn, uint32_t offset, uint32_t dsl,
			uint8_t flags);
/* Serialise one PDU (header, header digest, data, pad, data digest) at out;
 * returns its length.  out needs 48 + 4 + dsl + 3 + 4 bytes. */
size_t bench_pdu_write(uint8_t *out, const uint8_t *bhs, const void *data, uint32_t dsl, int hdr_digest,
		       int data_digest);
static inline uint32_t bench_pad(uint32_t len)
{
	return (4 - (len & 3)) & 3;
}

/* ---- sockets ---- */
/* A connected loopback TCP pair (TCP_NODELAY off, blocking). */
void bench_tcp_pair(int *a, int *b);
/* The same with buffers of buf bytes forced on both sides (a sends, b
 * receives; SO_SNDBUFFORCE/SO_RCVBUFFORCE, root only).  Returns 0, or -1 when
 * the kernel refused (then the pair uses the default buffers). */
int bench_tcp_pair_buf(int *a, int *b, int buf);
/* write()/read() everything or die; read returns 0 on EOF before any byte. */
void bench_write_all(int fd, const void *buf, size_t len);
/* Raise RLIMIT_NOFILE to the hard limit; returns the new soft limit. */
long bench_raise_nofile(void);

#endif /* TOELESS_BENCH_H */
