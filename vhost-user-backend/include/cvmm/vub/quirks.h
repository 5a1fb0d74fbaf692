/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/quirks.h - every workaround for a particular peer (a QEMU or DPDK version) in one named place.
 *
 *  The spec says what a front-end sends; some front-ends in the field send something else, and cvmm answers
 *  a few of them on purpose.  Each such answer is one entry of a static table: which peer, what it does,
 *  what we do, where the code is, and the test that proves it.  The code site names the entry's id
 *  (VUB_QUIRK_...) in a comment, so `grep -rn VUB_QUIRK_` finds every workaround and the table says why.
 *  tests/lint/quirks.sh (ctest lint-quirks) checks that every entry's test exists, that every code site
 *  names its id, and that every VUB_QUIRK_ id mentioned in the tree is in the table.
 *
 *  Adding one: a new id at the end of the enum, an entry in src/quirks.c, the id in a comment at the code
 *  site, and a test that fails without the workaround.
 *  Threads: any; the table is constant. */
#ifndef CVMM_VUB_QUIRKS_H
#define CVMM_VUB_QUIRKS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Quirk ids: stable, never reused. */
enum vub_quirk_id {
    VUB_QUIRK_PACKED_BASE_AVAIL_ONLY = 1,    /* packed SET_VRING_BASE with bits 16-31 zero */
    VUB_QUIRK_QEMU72_RNG_PROTO_CARRY = 2,    /* protocol features carried over a reconnect */
    VUB_QUIRK_QEMU72_NET_MQ_DUP_MEM_REG = 3, /* identical ADD_MEM_REG once per queue pair */
    VUB_QUIRK_SHMEM_CONFIG_NO_F_SHMEM = 4,   /* GET_SHMEM_CONFIG without F_SHMEM gets a zeroed reply */
    VUB_QUIRK_QEMU72_RNG_MEM_SLOTS = 5,      /* cvmm-rng withholds CONFIGURE_MEM_SLOTS */
    VUB_QUIRK_QEMU72_TCG_NET_MSIX = 6,       /* the test harness gives a vhost-user NIC vectors=0 under TCG */
    VUB_QUIRK_DPDK_GET_VRING_BASE_NUM = 7,   /* GET_VRING_BASE's reserved num is ignored, not refused */
};

/** vub_quirk - one workaround (transparent, constant). */
typedef struct vub_quirk {
    enum vub_quirk_id id;  /* VUB_QUIRK_* */
    const char *name;      /* the id's spelling: "VUB_QUIRK_QEMU72_RNG_MEM_SLOTS" */
    const char *peer;      /* the peer and its version: "QEMU 7.2 vhost-user-rng" */
    const char *behaviour; /* what that peer does that the spec does not say */
    const char *answer;    /* what cvmm does about it */
    const char *where;     /* the file (from the repository's root) whose code site names the id */
    const char *ctest;     /* the ctest test that proves the answer */
    const char *test;      /* the Criterion test in it, "suite::name"; NULL: the ctest test as a whole */
} vub_quirk;

/** vub_quirks() - the table, ordered by id.  @n (may be NULL) gets the number of entries.
 *  Return: the first entry (static storage).  Threads: any. */
const vub_quirk *vub_quirks(size_t *n);

/** vub_quirk_find() - the entry of @id.  Return: it; NULL for an id not in the table.  Threads: any. */
const vub_quirk *vub_quirk_find(enum vub_quirk_id id);

#ifdef __cplusplus
}
#endif
#endif
