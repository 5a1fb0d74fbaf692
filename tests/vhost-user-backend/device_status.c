/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* SET_STATUS reaches the device's set_status op with every value, GET_STATUS answers what the device
 * accepted, and RESET_DEVICE / a NULL op behave as cvmm/vub/device.h says. */
#include "vub_test.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

struct status_log {
    pthread_mutex_t mu;
    uint8_t seen[16];
    unsigned n;
    uint8_t refuse_mask; /* the op fails for a value with any of these bits */
};
static struct status_log sl;

static int st_set_status(void *ctx, uint8_t status)
{
    (void)ctx;
    pthread_mutex_lock(&sl.mu);
    if (sl.n < 16)
        sl.seen[sl.n] = status;
    sl.n++;
    bool refuse = (status & sl.refuse_mask) != 0;
    pthread_mutex_unlock(&sl.mu);
    return refuse ? -EINVAL : 0;
}

static const vub_device_ops st_ops = {.queue_kicked = tdev_kicked, .reset = tdev_reset, .set_status = st_set_status};

static void init_status(void)
{
    memset(&sl, 0, sizeof(sl));
    pthread_mutex_init(&sl.mu, NULL);
    vt_setup(&(struct vt_opts){.ops = &st_ops});
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    cr_assert(vhu_frontend_protocol_features(vt.fe) & PB(STATUS));
}
static void fini_status(void)
{
    vt_fini();
    pthread_mutex_destroy(&sl.mu);
}

TestSuite(device_status, .init = init_status, .fini = fini_status, .timeout = 120);

static uint8_t get_status(void)
{
    uint8_t s = 0xee;
    cr_assert_eq(vhu_frontend_get_status(vt.fe, &s), 0);
    return s;
}

Test(device_status, every_set_status_reaches_the_op_with_its_value)
{
    static const uint8_t seq[] = {0x01, 0x03, 0x0b, 0x0f, 0x00, 0x0f};
    for (unsigned i = 0; i < sizeof(seq); i++) {
        cr_assert_eq(vhu_frontend_set_status(vt.fe, seq[i]), 0);
        cr_assert_eq(get_status(), seq[i], "GET_STATUS after SET_STATUS 0x%02x", seq[i]);
    }
    pthread_mutex_lock(&sl.mu);
    cr_assert_eq(sl.n, sizeof(seq), "the op ran %u times for %zu writes", sl.n, sizeof(seq));
    cr_assert_arr_eq(sl.seen, seq, sizeof(seq));
    pthread_mutex_unlock(&sl.mu);
}

Test(device_status, refused_features_ok_is_acked_as_an_error_and_cleared)
{
    cr_assert_eq(vhu_frontend_set_status(vt.fe, 0x03), 0);
    sl.refuse_mask = 0x08; /* the device does not accept the features */
    cr_assert_eq(vhu_frontend_set_status(vt.fe, 0x0b), -EREMOTEIO);
    cr_assert_eq(get_status(), 0x03, "FEATURES_OK must not read back set");
    cr_assert(vt_logged("SET_STATUS 0x0b refused, status is 0x03"));
}

Test(device_status, failure_after_features_ok_reads_back_needs_reset)
{
    cr_assert_eq(vhu_frontend_set_status(vt.fe, 0x0b), 0);
    sl.refuse_mask = 0x04; /* DRIVER_OK fails */
    cr_assert_eq(vhu_frontend_set_status(vt.fe, 0x0f), -EREMOTEIO);
    cr_assert_eq(get_status(), 0x4f, "DEVICE_NEEDS_RESET added");
    sl.refuse_mask = 0;
    cr_assert_eq(vhu_frontend_set_status(vt.fe, 0), 0); /* the driver resets the device */
    cr_assert_eq(get_status(), 0);
}

Test(device_status, reset_device_clears_the_status_without_calling_the_op)
{
    cr_assert_eq(vhu_frontend_set_status(vt.fe, 0x0f), 0);
    unsigned resets = atomic_load(&vt.dev.resets);
    cr_assert_eq(vhu_frontend_reset_device(vt.fe), 0);
    cr_assert_eq(atomic_load(&vt.dev.resets), resets + 1);
    cr_assert_eq(get_status(), 0);
    pthread_mutex_lock(&sl.mu);
    cr_assert_eq(sl.n, 1, "only the SET_STATUS reached the op");
    pthread_mutex_unlock(&sl.mu);
}

/* A device without the op: the value is stored and answered as written. */
Test(device_status, without_the_op_the_value_is_kept)
{
    vt_fini(); /* the suite's device has the op: start over with one that has none */
    vt_init_min();
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    cr_assert_eq(vhu_frontend_set_status(vt.fe, 0x0b), 0);
    cr_assert_eq(get_status(), 0x0b);
    cr_assert_eq(sl.n, 0);
}
