/*
 * Test support for the hw backend: start a private toeless-devsim (with
 * faults) in front of a target socket the test plays, and connect the host
 * through it; or, with TOELESS_HWT_NIC (tests/hw/test-check-hw-nic.sh),
 * a private toeless-nic between two network namespaces.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_HWTEST_H
#define TOELESS_HWTEST_H

#include <stdbool.h>
#include <sys/types.h>

struct hwt_env {
	pid_t pid;         /* the devsim process */
	int target_listen; /* the test's target: the devsim connects here */
	int port;          /* devsim's host-side port */
	char dir[64];      /* scratch directory */
	char ctl[128];     /* control socket path */
	char spec[160];    /* "hw:" + ctl */
};

/* Path of the toeless-devsim binary ($TOELESS_DEVSIM, else in the build
 * tree), or NULL when there is none. */
const char *hwt_devsim_path(void);
/* Why the hw tests cannot run here (NULL: they can). */
const char *hwt_skip_reason(void);
/* Start a devsim with faults (NULL-terminated "name=value" list, or NULL). */
void hwt_start(struct hwt_env *e, const char *const *faults);
/* SIGTERM the devsim, wait for it, remove the scratch files. */
void hwt_stop(struct hwt_env *e);
/* Connect the host through the devsim: *host is non-blocking, *target
 * blocking, both TCP_NODELAY. */
void hwt_connect(struct hwt_env *e, int *host, int *target);
/* True when the device is the wire NIC: it keeps no copy of bytes it
 * passed, and it is the wire (its death cuts the path, not the socket). */
bool hwt_wire(void);
/* Wire NIC only: start it again (no faults) after it died; the host's
 * and the target's TCP carry on across it. */
void hwt_wire_restart(struct hwt_env *e);

#endif
