/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The device toolkit's queue server (cvmm/vub/serve.h): a device that only has a request op, driven through
 * the daemon by our front-end and the mock driver.  Requests are read once, answered, published and
 * notified; a disabled ring is left alone until it is enabled; a failing request stops serving. */
#include "cvmm/vq/rw.h"
#include "vub_test.h"

#define TK_FILL 0x5a

static struct {
    atomic_uint requests;
    atomic_uint max_descs; /* most descriptors seen in one snapshot */
    atomic_int fail_at;    /* request number (1-based) that returns -EBADMSG; 0: none */
} tk;

/* One request: fill the writable part with TK_FILL; the length comes from the snapshot only. */
static int tk_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    (void)ctx;
    (void)q;
    unsigned n = atomic_fetch_add(&tk.requests, 1) + 1;
    if (s->ndesc > atomic_load(&tk.max_descs))
        atomic_store(&tk.max_descs, s->ndesc);
    vq_writer w;
    vq_writer_init(&w, s);
    uint8_t buf[256];
    memset(buf, TK_FILL, sizeof(buf));
    uint64_t left = vq_writer_bytes_left(&w);
    while (left > 0) {
        size_t k = left < sizeof(buf) ? (size_t)left : sizeof(buf);
        int rc = vq_writer_write(&w, buf, k);
        if (rc < 0)
            return rc;
        left -= k;
    }
    *used_len = (uint32_t)vq_writer_bytes_written(&w);
    return (int)n == atomic_load(&tk.fail_at) ? -EBADMSG : 0;
}

static const vub_device_ops tk_ops = {.request = tk_request};

static void tk_init(void)
{
    memset(&tk, 0, sizeof(tk));
    vt_setup(&(struct vt_opts){.ops = &tk_ops});
}

TestSuite(toolkit_serve, .init = tk_init, .fini = vt_fini, .timeout = 120);

static void ready(struct vt_ring *r, enum vq_layout layout, bool event_idx)
{
    uint64_t f = (1ull << VUB_F_VERSION_1) | (event_idx ? 1ull << VUB_F_RING_EVENT_IDX : 0) |
                 (layout == VQ_LAYOUT_PACKED ? 1ull << VUB_F_RING_PACKED : 0);
    vt_negotiate(f, VT_PROTO_DEFAULT);
    vt_memory(2, 1 << 20, 0);
    vt_ring_setup(r, 0, layout, 256, event_idx, false);
}

static void check_filled(uint64_t gpa, uint32_t len)
{
    uint8_t b[512];
    cr_assert(len <= sizeof(b));
    cr_assert_eq(vmem_read(vt.map, gpa, b, len), 0);
    for (uint32_t i = 0; i < len; i++)
        cr_assert_eq(b[i], TK_FILL, "byte %u of %#llx", i, (unsigned long long)gpa);
}

static void many_requests_are_answered(enum vq_layout layout)
{
    struct vt_ring r;
    ready(&r, layout, true);
    enum { N = 80 }; /* more than one batch of used entries (VUB_SERVE_BATCH), 240 of 256 descriptors */
    uint16_t heads[N];
    for (unsigned i = 0; i < N; i++)
        heads[i] = vt_add_chain(&r, 0x100000 + i * 0x1000ull, 100 + i);
    vt_kick(&r);
    cr_assert(vt_wait_fd(r.call, VT_WAIT_MS), "the driver was not notified");
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(vt_wait_used(&r, heads[i]), 100 + i);
    for (unsigned i = 0; i < N; i += 37)
        check_filled(0x100000 + i * 0x1000ull + 128, 100 + i);
    cr_assert_eq(atomic_load(&tk.requests), N);
    cr_assert_eq(atomic_load(&tk.max_descs), 3);
    vt_ring_free(&r);
}

Test(toolkit_serve, split_requests_are_served_published_and_notified) { many_requests_are_answered(VQ_LAYOUT_SPLIT); }
Test(toolkit_serve, packed_requests_are_served_published_and_notified) { many_requests_are_answered(VQ_LAYOUT_PACKED); }

Test(toolkit_serve, a_disabled_ring_is_left_alone_until_it_is_enabled)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 0, false), 0);
    uint16_t h = vt_add_chain(&r, 0x100000, 64);
    vt_kick(&r);
    vt_sleep_ms(300); /* time for a wrong answer to show: the test passes on a slow machine too */
    uint16_t uh;
    uint32_t ul;
    cr_assert_eq(vq_mock_used(r.mk, &uh, &ul), 0, "a disabled ring was served");
    cr_assert_eq(atomic_load(&tk.requests), 0);
    /* Enabling serves what came meanwhile, without another kick (no request op needs a queue_enabled op). */
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 0, true), 0);
    cr_assert_eq(vt_wait_used(&r, h), 64);
    vt_ring_free(&r);
}

/* Chains are added while the ring is disabled and served when it is enabled: they are all there when the
 * worker first looks, so they are taken in groups (VUB_SERVE_GROUP), whatever the machine's timing. */
static void hold(void) { cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 0, false), 0); }
static void release(void) { cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 0, true), 0); }

/* The used ring holds nothing more than what the test took from it. */
static void no_more_used(struct vt_ring *r, const char *why)
{
    uint16_t uh;
    uint32_t ul;
    cr_assert_eq(vq_mock_used(r->mk, &uh, &ul), 0, "%s", why);
}

/* An indirect chain of @n writable 16-byte buffers at @data (table at @table); its head. */
static uint16_t add_indirect(struct vt_ring *r, uint64_t table, uint64_t data, unsigned n)
{
    static vq_mock_buf b[VUB_SERVE_DESCS_MAX + 1];
    cr_assert(n <= VUB_SERVE_DESCS_MAX + 1);
    for (unsigned i = 0; i < n; i++)
        b[i] = (vq_mock_buf){data + i * 16ull, 16, true};
    uint16_t h;
    cr_assert_eq(vq_mock_add_indirect(r->mk, table, b, n, &h), 0);
    return h;
}

/* Long chains among short ones, all popped in one pass (the group before a long one is served first): each
 * long one is answered empty in its place in the ring (a device may offer IN_ORDER), the short ones around
 * it are served, and a guest that sends many gets one log line per queue start, not one per chain. */
Test(toolkit_serve, chains_longer_than_the_snapshot_limit_are_answered_empty_in_ring_order)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    hold();
    uint16_t a = vt_add_chain(&r, 0x100000, 32);
    uint16_t l1 = add_indirect(&r, 0x180000, 0x100000, VUB_SERVE_DESCS_MAX + 1);
    uint16_t b = vt_add_chain(&r, 0x1c0000, 24);
    uint16_t l2 = add_indirect(&r, 0x188000, 0x100000, VUB_SERVE_DESCS_MAX + 1);
    uint16_t c = vt_add_chain(&r, 0x1c1000, 16);
    release();
    cr_assert_eq(vt_wait_used(&r, a), 32);
    cr_assert_eq(vt_wait_used(&r, l1), 0);
    cr_assert_eq(vt_wait_used(&r, b), 24, "the next request is still served");
    cr_assert_eq(vt_wait_used(&r, l2), 0);
    cr_assert_eq(vt_wait_used(&r, c), 16);
    cr_assert_eq(vt_log_count("more than 1024 descriptors"), 1, "one line per queue start");
    cr_assert_eq(atomic_load(&tk.requests), 3);
    vt_ring_free(&r);
}

/* A group's chains share 1024 descriptors of storage: a chain that does not fit beside the ones taken
 * before it is taken again, with all of it, after they were served, and nothing is reordered or cut. */
Test(toolkit_serve, a_chain_that_does_not_fit_beside_its_group_is_served_after_it)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_PACKED, false);
    hold();
    uint16_t a = add_indirect(&r, 0x180000, 0x100000, 1000);
    uint16_t b = add_indirect(&r, 0x188000, 0x110000, 100);
    uint16_t c = vt_add_chain(&r, 0x1c0000, 8);
    uint16_t d = add_indirect(&r, 0x190000, 0x120000, VUB_SERVE_DESCS_MAX);
    release();
    cr_assert_eq(vt_wait_used(&r, a), 16000);
    cr_assert_eq(vt_wait_used(&r, b), 1600);
    cr_assert_eq(vt_wait_used(&r, c), 8);
    cr_assert_eq(vt_wait_used(&r, d), 16 * VUB_SERVE_DESCS_MAX, "a chain of exactly the limit is served");
    cr_assert_eq(atomic_load(&tk.requests), 4);
    cr_assert_eq(atomic_load(&tk.max_descs), VUB_SERVE_DESCS_MAX);
    check_filled(0x110000 + 1584, 16);
    vt_ring_free(&r);
}

/* A request that fails stops serving, but not in the middle of its group: the chains popped with it are
 * still given to the device and used, in order.  The rest of the ring is served too, without another kick
 * from the driver (it will not send one: kicks were off while it added them).  Nothing is lost and nothing
 * is answered twice. */
Test(toolkit_serve, a_failing_request_is_used_logged_and_notified_and_the_rest_is_served_later)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    atomic_store(&tk.fail_at, 2);
    enum { N = VUB_SERVE_GROUP + 2 };
    uint16_t h[N];
    hold();
    for (unsigned i = 0; i < N; i++)
        h[i] = vt_add_chain(&r, 0x100000 + i * 0x1000ull, 40);
    release();
    cr_assert_eq(vt_wait_used(&r, h[0]), 40);
    cr_assert_eq(vt_wait_used(&r, h[1]), 40, "the failed request keeps what it wrote");
    for (unsigned i = 2; i < VUB_SERVE_GROUP; i++)
        cr_assert_eq(vt_wait_used(&r, h[i]), 40, "chain %u of the failed one's group", i);
    cr_assert(vt_wait_fd(r.call, VT_WAIT_MS), "the driver is notified after a failure too");
    cr_assert(vt_wait_logged("op queue_kicked failed"));
    for (unsigned i = VUB_SERVE_GROUP; i < N; i++) /* no vt_kick(): the device comes back by itself */
        cr_assert_eq(vt_wait_used(&r, h[i]), 40);
    vt_sync_worker();
    cr_assert_eq(atomic_load(&tk.requests), N, "each chain reached the device once");
    no_more_used(&r, "no chain is used twice");
    /* The queue still works: a new chain is served (by the busy-poll or after the kick). */
    uint16_t last = vt_add_chain(&r, 0x1c0000, 12);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, last), 12);
    vt_ring_free(&r);
}

/* The failure comes while the group is served early to make room for a long chain: that chain, popped
 * already, is still served (after the failed one) before serving stops, and the rest of the ring after it,
 * without another kick. */
Test(toolkit_serve, a_failure_while_making_room_still_serves_the_chain_that_needed_it)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    atomic_store(&tk.fail_at, 1);
    hold();
    uint16_t a = add_indirect(&r, 0x180000, 0x100000, 1000);
    uint16_t b = add_indirect(&r, 0x188000, 0x110000, 100);
    uint16_t c = vt_add_chain(&r, 0x1c0000, 8);
    release();
    cr_assert_eq(vt_wait_used(&r, a), 16000);
    cr_assert_eq(vt_wait_used(&r, b), 1600);
    cr_assert_eq(vt_wait_used(&r, c), 8);
    cr_assert(vt_wait_logged("op queue_kicked failed"));
    vt_sync_worker();
    cr_assert_eq(atomic_load(&tk.requests), 3);
    no_more_used(&r, "no chain is used twice");
    vt_ring_free(&r);
}

/* vub_queue_serve_budget() from a queue_kicked op: at most the budget per call, the rest on the worker's
 * next turns without a kick from the driver. */
static atomic_uint tk_calls, tk_most;
static int tk_kicked_budget3(void *ctx, vub_queue *q)
{
    int rc = vub_queue_serve_budget(q, tk_request, ctx, 3);
    atomic_fetch_add(&tk_calls, 1);
    if (rc > 0 && (unsigned)rc > atomic_load(&tk_most))
        atomic_store(&tk_most, (unsigned)rc);
    return rc < 0 ? rc : 0;
}
static const vub_device_ops tk_budget_ops = {.queue_kicked = tk_kicked_budget3,
                                             .queue_enabled = vub_queue_enabled_kick};
/* The suite's fixture (tk_init) replaced by one with tk_budget_ops; the suite's fini ends it.  (In the body,
 * not as the test's .init: Criterion runs a test's init after its suite's, the TSan runner instead.) */
static void use_budget_ops(void)
{
    vt_fini();
    memset(&tk, 0, sizeof(tk));
    atomic_store(&tk_calls, 0);
    atomic_store(&tk_most, 0);
    vt_setup(&(struct vt_opts){.ops = &tk_budget_ops});
}

Test(toolkit_serve, a_budget_of_three_serves_the_whole_ring_three_chains_per_call)
{
    use_budget_ops();
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_PACKED, true);
    enum { N = 10 };
    uint16_t h[N];
    hold();
    for (unsigned i = 0; i < N; i++)
        h[i] = vt_add_chain(&r, 0x100000 + i * 0x1000ull, 20 + i);
    release();
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(vt_wait_used(&r, h[i]), 20 + i);
    vt_sync_worker();
    cr_assert_eq(atomic_load(&tk.requests), N);
    cr_assert_eq(atomic_load(&tk_most), 3, "no call served more than its budget");
    cr_assert_geq(atomic_load(&tk_calls), 4, "ten chains at three per call");
    cr_assert_eq(vub_queue_serve_budget(NULL, tk_request, NULL, 3), -EINVAL);
    vt_ring_free(&r);
}

Test(toolkit_serve, a_device_with_neither_queue_kicked_nor_request_is_refused)
{
    static const vub_device_ops none = {0};
    vub_device_info info = {.num_queues = 1};
    vub_daemon_config cfg = {.ops = &none, .info = &info};
    vub_daemon *d = NULL;
    cr_assert_eq(vub_daemon_new(&cfg, &d), -EINVAL);
    cr_assert_null(d);
}

/* A chain whose buffer is outside guest memory cannot be snapshotted: serving stops with that error (the
 * device op fails, logged) and the request function never sees the chain.  No queue: -EINVAL. */
Test(toolkit_serve, a_chain_outside_guest_memory_fails_serving_before_the_request)
{
    cr_assert_eq(vub_queue_serve(NULL, tk_request, NULL), -EINVAL);
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    (void)vt_add_chain(&r, 0x40000000, 32); /* 1 GiB: memory ends at 2 MiB */
    vt_kick(&r);
    cr_assert(vt_wait_logged("op queue_kicked failed"));
    cr_assert_eq(atomic_load(&tk.requests), 0);
    vt_ring_free(&r);
}

/* The same chain behind good ones in its group: the ring is broken (virtio-queue logged it, the front-end's
 * err eventfd says so), nothing can be used on it any more, so the chains taken with it do not reach the
 * device either. */
Test(toolkit_serve, a_chain_outside_guest_memory_breaks_the_ring_before_its_group_is_served)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    hold();
    (void)vt_add_chain(&r, 0x100000, 32);
    (void)vt_add_chain(&r, 0x101000, 48);
    (void)vt_add_chain(&r, 0x40000000, 32);
    release();
    cr_assert(vt_wait_fd(r.err, VT_WAIT_MS), "the front-end is told through the err eventfd");
    cr_assert(vt_wait_logged("op queue_kicked failed"));
    vt_sync_worker();
    cr_assert_eq(atomic_load(&tk.requests), 0);
    no_more_used(&r, "nothing is used on a broken ring");
    vt_ring_free(&r);
}
