/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* SET_FEATURES while a ring runs may only change what does not touch the rings (LOG_ALL for migration).
 * One that changed VIRTIO_F_RING_PACKED or VIRTIO_F_RING_EVENT_IDX used to be half applied: the running
 * ring kept its layout and the request failed, but the daemon's features and the device (features_acked)
 * had already taken the new set, so the device worked a split ring believing it packed (or the other way
 * round) and every later ring start used features the front-end had been told were refused.  Now such a
 * SET_FEATURES is refused before anything changes. */
#include "vub_test.h"

TestSuite(vub_features_running, .init = vt_init, .fini = vt_fini, .timeout = 120);

#define F_BASE ((1ull << VUB_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES))

Test(vub_features_running, a_ring_feature_change_while_a_ring_runs_changes_nothing)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r;
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    uint64_t before = atomic_load(&vt.dev.acked);
    cr_assert_eq(before, F_BASE);

    int rc = vhu_frontend_set_features(vt.fe, F_BASE | (1ull << VUB_F_RING_PACKED));
    cr_assert_neq(rc, 0, "refused: ring 0 runs split");
    cr_assert_eq(atomic_load(&vt.dev.acked), before, "the device never saw the refused features");
    rc = vhu_frontend_set_features(vt.fe, F_BASE | (1ull << VUB_F_RING_EVENT_IDX));
    cr_assert_neq(rc, 0, "refused: ring 0 runs without event idx");
    cr_assert_eq(atomic_load(&vt.dev.acked), before);
    cr_assert(vt_logged("while ring 0 is started"), "log: %s", vt.logged);

    /* LOG_ALL alone is fine while rings run (migration), and the ring goes on serving. */
    cr_assert_eq(vhu_frontend_set_features(vt.fe, F_BASE | (1ull << VHU_F_LOG_ALL)), 0);
    cr_assert_eq(atomic_load(&vt.dev.acked), F_BASE | (1ull << VHU_F_LOG_ALL));
    uint16_t h = vt_add_chain(&r, 0x80000, 8);
    vt_kick(&r);
    (void)vt_wait_used(&r, h);

    /* Stopped, the ring may change layout. */
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, F_BASE | (1ull << VUB_F_RING_PACKED)), 0);
    cr_assert_eq(atomic_load(&vt.dev.acked), F_BASE | (1ull << VUB_F_RING_PACKED));
    vt_ring_free(&r);
}
