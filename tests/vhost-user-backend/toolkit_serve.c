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

Test(toolkit_serve, a_chain_longer_than_the_snapshot_limit_is_answered_empty)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    enum { N = VUB_SERVE_DESCS_MAX + 1 };
    static vq_mock_buf b[N];
    for (unsigned i = 0; i < N; i++)
        b[i] = (vq_mock_buf){0x100000 + i * 16ull, 16, true};
    uint16_t h;
    cr_assert_eq(vq_mock_add_indirect(r.mk, 0x180000, b, N, &h), 0);
    uint16_t h2 = vt_add_chain(&r, 0x1c0000, 32);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, h), 0);
    cr_assert_eq(vt_wait_used(&r, h2), 32, "the next request is still served");
    cr_assert(vt_logged("more than 1024 descriptors"));
    cr_assert_eq(atomic_load(&tk.requests), 1);
    vt_ring_free(&r);
}

Test(toolkit_serve, a_failing_request_is_used_logged_and_notified_and_the_rest_is_served_later)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    atomic_store(&tk.fail_at, 2);
    uint16_t h[3];
    for (unsigned i = 0; i < 3; i++)
        h[i] = vt_add_chain(&r, 0x100000 + i * 0x1000ull, 40);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, h[0]), 40);
    cr_assert_eq(vt_wait_used(&r, h[1]), 40, "the failed request keeps what it wrote");
    cr_assert(vt_wait_fd(r.call, VT_WAIT_MS), "the driver is notified after a failure too");
    for (int i = 0; i < VT_WAIT_MS && !vt_logged("op queue_kicked failed"); i++)
        vt_sleep_ms(1);
    cr_assert(vt_logged("op queue_kicked failed"));
    /* Serving stops at the failure; the next kick (or the one SET_VRING_ENABLE scheduled, which may come
     * after the chains were added) serves the rest: nothing is lost either way. */
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, h[2]), 40);
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
    for (int i = 0; i < VT_WAIT_MS && !vt_logged("op queue_kicked failed"); i++)
        vt_sleep_ms(1);
    cr_assert(vt_logged("op queue_kicked failed"));
    cr_assert_eq(atomic_load(&tk.requests), 0);
    vt_ring_free(&r);
}
