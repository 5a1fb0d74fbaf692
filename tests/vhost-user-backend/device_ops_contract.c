/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The device ops contract seen from the front-end: an op a device leaves out (a read-only config space, a
 * device that can save its state but not load it) gets an error reply and a log line, an op that breaks
 * the contract (a positive return value) is an I/O error, and a queue's private pointer lives from
 * queue_started to queue_kicked. */
#include <fcntl.h>

#include "vub_test.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

static int positive_features(void *ctx, uint64_t f)
{
    (void)ctx;
    (void)f;
    return 1; /* not 0, not -errno */
}

static int priv_started(void *ctx, vub_queue *q)
{
    struct tdev *t = ctx;
    vub_queue_set_priv(q, &t->config[vub_queue_index(q)]);
    return tdev_started(ctx, q);
}
static int priv_kicked(void *ctx, vub_queue *q)
{
    struct tdev *t = ctx;
    if (vub_queue_priv(q) != &t->config[vub_queue_index(q)])
        return -EINVAL; /* the test sees a kick that is never served */
    return tdev_kicked(ctx, q);
}

static const vub_device_ops ops_partial = {
    .features_acked = positive_features,
    .get_config = tdev_get_config, /* no set_config: read-only config space */
    .queue_started = priv_started,
    .queue_kicked = priv_kicked,
    .state_save = tdev_save, /* no state_load */
};

static void init_partial(void) { vt_setup(&(struct vt_opts){.ops = &ops_partial}); }
TestSuite(device_ops_contract, .init = init_partial, .fini = vt_fini, .timeout = 120);

/* The protocol features of @proto the device offers; no SET_FEATURES (features_acked always fails here). */
static void negotiate_protocol(uint64_t proto)
{
    uint64_t f, p;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    cr_assert_eq(vhu_frontend_set_owner(vt.fe), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &p), 0);
    cr_assert_eq(p & proto & PB(DEVICE_STATE), proto & PB(DEVICE_STATE), "a device with one state op offers it");
    cr_assert_eq(vhu_frontend_set_protocol_features(vt.fe, p & proto), 0);
}

Test(device_ops_contract, set_config_on_a_read_only_config_space_is_refused)
{
    negotiate_protocol(VT_PROTO_DEFAULT);
    uint8_t in[4] = {1, 2, 3, 4}, out[4];
    cr_assert_eq(vhu_frontend_set_config(vt.fe, 8, in, 4, 0), -EREMOTEIO);
    cr_assert(vt_logged("tdev: SET_CONFIG on a read-only config space"));
    cr_assert_eq(vhu_frontend_get_config(vt.fe, 8, out, 4, 0), 0);
    cr_assert_eq(out[0], 0x18, "the config space is unchanged");
    cr_assert_eq(out[3], 0x1b);
}

Test(device_ops_contract, a_positive_op_result_is_an_io_error)
{
    negotiate_protocol(VT_PROTO_DEFAULT);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, (1ull << VUB_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES)),
                 -EREMOTEIO);
    cr_assert(vt_logged("tdev: op features_acked failed: Input/output error"));
    uint8_t st;
    cr_assert_eq(vhu_frontend_get_status(vt.fe, &st), 0, "the connection goes on");
}

Test(device_ops_contract, a_device_that_cannot_load_refuses_a_load_and_still_saves)
{
    negotiate_protocol(VT_PROTO_DEFAULT | PB(DEVICE_STATE));
    int pp[2], bfd = -2;
    cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
    int rc = vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_LOAD,
                                              VHU_TRANSFER_STATE_PHASE_STOPPED, pp[0], &bfd);
    cr_assert_eq(rc, -EREMOTEIO);
    cr_assert(vt_logged("tdev: device state load not supported"));
    cr_assert(vt_logged("tdev: SET_DEVICE_STATE_FD refused: Operation not supported"));
    close(pp[0]);
    close(pp[1]);

    vt.dev.state_byte = 0x42;
    cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
    cr_assert_eq(vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_SAVE,
                                                  VHU_TRANSFER_STATE_PHASE_STOPPED, pp[1], &bfd),
                 0);
    close(pp[1]);
    uint8_t b[4];
    cr_assert_eq(read(pp[0], b, sizeof(b)), 1);
    cr_assert_eq(b[0], 0x42);
    close(pp[0]);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), 0);
}

Test(device_ops_contract, a_transfer_direction_beyond_load_is_refused)
{
    negotiate_protocol(VT_PROTO_DEFAULT | PB(DEVICE_STATE));
    int pp[2], bfd;
    cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
    int rc = vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_LOAD + 1,
                                              VHU_TRANSFER_STATE_PHASE_STOPPED, pp[1], &bfd);
    cr_assert(rc == -EREMOTEIO || rc == -EINVAL, "rc %d", rc);
    if (rc == -EREMOTEIO) /* the front-end let it through: the back-end refused it */
        cr_assert(vt_logged("tdev: SET_DEVICE_STATE_FD refused: Invalid argument"));
    close(pp[0]);
    close(pp[1]);
    uint8_t st;
    cr_assert_eq(vhu_frontend_get_status(vt.fe, &st), 0, "the connection goes on");
}

Test(device_ops_contract, a_queues_private_pointer_set_at_start_is_seen_by_kicks)
{
    negotiate_protocol(VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r;
    vt_ring_setup(&r, 1, VQ_LAYOUT_SPLIT, 64, false, false);
    uint16_t head = vt_add_chain(&r, 0x80000, 256);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, head), 256, "queue_kicked found the pointer queue_started set");
    cr_assert_eq(atomic_load(&vt.dev.started[1]), 1);
    vt_ring_free(&r);
}
