/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* inflight_crash_internal.c - inflight I/O tracking survives a SIGKILL at every recording step.
 *
 * The parent plays the driver (vq_mock) over shared guest memory (memfd) and holds the shared inflight
 * region (MAP_SHARED).  Each round it makes requests available, then starts a new back-end: a fresh
 * vq_queue with a stale vring base (split: used->idx, as QEMU 7.2 rewinds it; packed: the initial
 * position, as QEMU 7.2 sends it), the region attached, started (recovery).  A forked child runs the
 * device: it pops everything (resubmitted chains come first), completes in order or out of order, one
 * at a time or in batches, and is killed with SIGKILL at the K-th numbered step of recording (the
 * library's test-only probe, src/internal.h), K varying from round to round.  Each request carries a tag
 * in its first buffer; the device answers with used len = tag.  The driver collects the used entries
 * after each round: no tag may be used twice, and after a last round without a crash every tag has been
 * used exactly once.  Every step of the layout must have been a crash point at least once. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvmm/vmem.h"
#include "cvmm/vq.h"
#include "cvmm/vq/mock.h"
#include "cvmm_test_exit.h"
#include "internal.h"

#define QSIZE 8u
#define MEM (4u * 1024u * 1024u)
#define DESC_GPA 0x10000ull
#define DRIVER_GPA 0x11000ull
#define DEVICE_GPA 0x12000ull
#define BUF_GPA 0x100000ull
#define SLOTS 1024u
#define TAGS 6000u
#define ROUNDS 120u

static vmem_region *reg;
static vmem_map *map;
static vq_mock *mk;
static uint8_t *ifl;
static size_t ifl_bytes;
static unsigned char used_count[TAGS];
static unsigned next_tag, nused;

/* Shared with the children: what the probe saw. */
struct shared {
    unsigned crashed_at; /* step of the last crash */
};
static struct shared *sh;
static unsigned long steps_hit;

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static void setup(enum vq_layout layout)
{
    vmem_region_desc d = {.gpa = 0, .size = MEM};
    cr_assert_eq(vmem_region_new_memfd(&d, NULL, &reg), 0);
    cr_assert_eq(vmem_map_new(&reg, 1, NULL, NULL, &map), 0);
    vq_mock_config mc = {
        .layout = layout, .size = QSIZE, .desc_gpa = DESC_GPA, .driver_gpa = DRIVER_GPA, .device_gpa = DEVICE_GPA};
    cr_assert_eq(vq_mock_new(map, &mc, &mk), 0);
    ifl_bytes = 4096;
    ifl = mmap(NULL, ifl_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(ifl != MAP_FAILED && sh != MAP_FAILED);
    cr_assert_eq(vq_inflight_format(ifl, ifl_bytes, layout, QSIZE), 0);
    memset(used_count, 0, sizeof(used_count));
    next_tag = nused = 0;
    steps_hit = 0;
}

static void teardown(void)
{
    vq_mock_free(mk);
    vmem_map_free(map);
    vmem_region_unref(reg);
    munmap(ifl, ifl_bytes);
    munmap(sh, 4096);
}

/* The driver makes up to @n requests available: 1 to 3 descriptors, the tag in the first (readable). */
static void add_requests(unsigned n)
{
    for (unsigned i = 0; i < n && next_tag < TAGS; i++) {
        unsigned nd = 1 + rnd() % 3;
        if (vq_mock_free_descs(mk) < nd)
            return;
        uint32_t tag = next_tag;
        uint64_t base = BUF_GPA + 64ull * (tag % SLOTS);
        cr_assert_eq(vmem_write(map, base, &tag, sizeof(tag)), 0);
        vq_mock_buf b[3] = {{base, 8, false}, {base + 8, 8, false}, {base + 32, 16, true}};
        if (nd == 2)
            b[1] = b[2];
        cr_assert_eq(vq_mock_add(mk, b, nd, NULL), 0);
        next_tag++;
    }
}

/* The driver takes every used entry: each tag once. */
static void collect(void)
{
    uint16_t head;
    uint32_t len;
    int rc;
    while ((rc = vq_mock_used(mk, &head, &len)) == 1) {
        cr_assert_lt(len, next_tag, "used len %u is no tag given out (%u)", len, next_tag);
        cr_assert_eq(used_count[len], 0, "tag %u used twice", len);
        used_count[len] = 1;
        nused++;
    }
    cr_assert_eq(rc, 0, "the driver read a used entry it never made available");
}

/* A new back-end's queue, as a restarted process configures it. */
static vq_queue *new_backend(enum vq_layout layout)
{
    vq_queue *q;
    cr_assert_eq(vq_queue_new(&(vq_queue_config){.max_size = QSIZE, .layout = layout, .index = 3}, &q), 0);
    cr_assert_eq(vq_queue_set_size(q, QSIZE), 0);
    cr_assert_eq(vq_queue_set_addrs(q, DESC_GPA, DRIVER_GPA, DEVICE_GPA), 0);
    cr_assert_eq(vq_queue_set_map(q, map), 0);
    uint32_t base = 0;
    if (layout == VQ_LAYOUT_SPLIT) {
        uint16_t used = 0;
        cr_assert_eq(vmem_load_le16(map, DEVICE_GPA + VQ_SPLIT_USED_IDX, &used), 0);
        base = used;
    } else {
        base = 1u << 15 | 1u << 31; /* position 0, wrap counters 1: stale after the first round */
    }
    cr_assert_eq(vq_queue_set_vring_base(q, base), 0);
    cr_assert_eq(vq_inflight_attach(q, ifl, ifl_bytes), 0);
    cr_assert_eq(vq_queue_set_ready(q, true), 0);
    return q;
}

/* ---- the child: the device ---- */

static unsigned crash_k, events;

static void probe(void *arg, unsigned step)
{
    (void)arg;
    if (crash_k && ++events == crash_k) {
        sh->crashed_at = step;
        raise(SIGKILL);
    }
}

struct inflight_req {
    uint16_t head;
    uint32_t tag;
};

static void device(vq_queue *q, bool ooo, bool batch)
{
    struct inflight_req fl[QSIZE];
    unsigned n = 0;
    for (;;) {
        vq_chain c;
        vq_snapshot_buf sb;
        int rc;
        while ((rc = vq_pop(q, &c)) == 1) {
            if (n == QSIZE || vq_snapshot_take_buf(q, &c, &sb) != 0 || sb.snap.ndesc == 0 || sb.snap.desc[0].len < 4)
                cvmm_test_exit(10);
            memcpy(&fl[n].tag, sb.snap.desc[0].hva, 4);
            fl[n++].head = c.head;
        }
        if (rc < 0)
            cvmm_test_exit(11);
        if (n == 0)
            cvmm_test_exit(0);
        unsigned k = batch ? 1 + rnd() % (n < 3 ? n : 3) : 1;
        vq_used_elem e[3];
        for (unsigned i = 0; i < k; i++) {
            unsigned pick = ooo ? rnd() % n : 0;
            e[i] = (vq_used_elem){.head = fl[pick].head, .len = fl[pick].tag};
            memmove(&fl[pick], &fl[pick + 1], (n - pick - 1) * sizeof(fl[0]));
            n--;
        }
        rc = k == 1 && !batch ? vq_add_used(q, e[0].head, e[0].len) : vq_add_used_batch(q, e, k);
        if (rc != 0)
            cvmm_test_exit(12);
    }
}

static void scenario(enum vq_layout layout, bool ooo, bool batch, uint64_t seed)
{
    setup(layout);
    rng_state = seed;
    for (unsigned r = 0; r <= ROUNDS; r++) {
        bool last = r == ROUNDS;
        add_requests(last ? 0 : 1 + rnd() % QSIZE);
        vq_queue *q = new_backend(layout);
        crash_k = last || r % 7 == 6 ? 0 : 1 + rnd() % 48;
        events = 0;
        sh->crashed_at = 0;
        uint64_t child_seed = rnd();
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            rng_state = child_seed;
            q->ifl_probe = probe;
            device(q, ooo, batch);
        }
        cr_assert_gt(pid, 0);
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert((WIFEXITED(st) && WEXITSTATUS(st) == 0) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL),
                  "round %u: device child ended with status 0x%x", r, st);
        if (WIFSIGNALED(st))
            steps_hit |= 1ul << sh->crashed_at;
        vq_queue_free(q);
        collect();
    }
    cr_assert_eq(nused, next_tag, "%u of %u requests completed", nused, next_tag);
    for (unsigned t = 0; t < next_tag; t++)
        cr_assert_eq(used_count[t], 1, "tag %u", t);
    unsigned first = layout == VQ_LAYOUT_SPLIT ? VQ__IFL_SPLIT_POPPED : VQ__IFL_PACKED_POPPED;
    unsigned end = layout == VQ_LAYOUT_SPLIT ? VQ__IFL_PACKED_POPPED : VQ__IFL_STEPS;
    for (unsigned s = first; s < end; s++)
        cr_assert(steps_hit & (1ul << s), "no crash at step %u", s);
    teardown();
}

TestSuite(inflight_crash_internal, .timeout = 240);

Test(inflight_crash_internal, split_in_order_one_by_one) { scenario(VQ_LAYOUT_SPLIT, false, false, 1); }
Test(inflight_crash_internal, split_out_of_order_batches) { scenario(VQ_LAYOUT_SPLIT, true, true, 2); }
Test(inflight_crash_internal, split_out_of_order_one_by_one) { scenario(VQ_LAYOUT_SPLIT, true, false, 3); }
Test(inflight_crash_internal, packed_in_order_one_by_one) { scenario(VQ_LAYOUT_PACKED, false, false, 4); }
Test(inflight_crash_internal, packed_out_of_order_batches) { scenario(VQ_LAYOUT_PACKED, true, true, 5); }
Test(inflight_crash_internal, packed_out_of_order_one_by_one) { scenario(VQ_LAYOUT_PACKED, true, false, 6); }
Test(inflight_crash_internal, packed_in_order_batches) { scenario(VQ_LAYOUT_PACKED, false, true, 7); }
