/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* What the back-end refuses in the migration messages, and what it does with a transfer the front-end
 * left unchecked: inflight areas that are not inside their file or cannot be mapped writable, inflight
 * shapes beyond the device's limits, and a new SET_DEVICE_STATE_FD while the previous one is still open. */
#include <fcntl.h>
#include <sys/mman.h>

#include "vub_test.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

static void init_all(void) { vt_setup(&(struct vt_opts){.extra_proto = PB(INFLIGHT_SHMFD)}); }
TestSuite(migration_refusals, .init = init_all, .fini = vt_fini, .timeout = 120);

/* A valid inflight buffer for 2 queues of 64 entries, from the back-end itself. */
static int inflight(vhu_inflight *inf)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT | PB(INFLIGHT_SHMFD));
    int fd = -1;
    cr_assert_eq(vhu_frontend_get_inflight_fd(vt.fe, 2, 64, inf, &fd), 0);
    cr_assert_geq(fd, 0);
    return fd;
}

static void still_serving(void)
{
    uint8_t st;
    cr_assert_eq(vhu_frontend_get_status(vt.fe, &st), 0, "the connection goes on");
}

Test(migration_refusals, an_inflight_area_past_the_end_of_its_file_is_refused)
{
    vhu_inflight inf;
    int fd = inflight(&inf);
    vhu_inflight bad = inf;
    bad.mmap_offset = 4096; /* the file holds exactly mmap_size bytes */
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &bad, fd), -EREMOTEIO);
    cr_assert(vt_logged("tdev: SET_INFLIGHT_FD area [4096, +"));
    cr_assert(vt_logged("is not inside its file"));
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), 0, "the real area is accepted");
    close(fd);
    still_serving();
}

Test(migration_refusals, an_inflight_fd_open_read_only_is_refused)
{
    vhu_inflight inf;
    int fd = inflight(&inf);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY | O_CLOEXEC); /* the same memfd, but the device could not write to it */
    cr_assert_geq(ro, 0);
    close(fd);
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &inf, ro), -EREMOTEIO);
    /* refused by the fd check (a memory fd must be open read-write), or else when mapping it */
    cr_assert(vt_logged("expected a regular or memfd file open read-write") ||
              vt_logged("tdev: cannot map the inflight buffer: Permission denied"));
    close(ro);
    still_serving();
}

Test(migration_refusals, an_inflight_area_too_small_for_its_queues_is_refused)
{
    vhu_inflight inf;
    int fd = inflight(&inf);
    vhu_inflight bad = inf;
    bad.num_queues = VT_QUEUES + 1; /* more queues than the device has */
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &bad, fd), -EREMOTEIO);
    cr_assert(vt_logged("tdev: SET_INFLIGHT_FD with size"));
    bad = inf;
    bad.queue_size = 256; /* 2 queues of 256 entries do not fit the area made for 64 */
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &bad, fd), -EREMOTEIO);
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), 0, "the real shape is accepted");
    close(fd);
    still_serving();
}

Test(migration_refusals, inflight_shapes_beyond_the_device_are_refused)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT | PB(INFLIGHT_SHMFD));
    vhu_inflight inf;
    int fd = -2;
    int rc = vhu_frontend_get_inflight_fd(vt.fe, 2, 512, &inf, &fd); /* max_queue_size is 256 */
    cr_assert(rc != 0 || (inf.mmap_size == 0 && fd < 0), "rc %d size %llu fd %d", rc, (unsigned long long)inf.mmap_size,
              fd);
    cr_assert(vt_logged("tdev: GET_INFLIGHT_FD for 2 queues of 512 entries refused"));
    fd = -2;
    rc = vhu_frontend_get_inflight_fd(vt.fe, 0, 64, &inf, &fd);
    cr_assert(rc != 0 || (inf.mmap_size == 0 && fd < 0), "rc %d", rc);
    still_serving();
}

Test(migration_refusals, a_new_state_transfer_ends_the_unchecked_previous_one)
{
    vt_negotiate(0, VT_PROTO_DEFAULT | PB(DEVICE_STATE));
    int a[2], b[2], bfd;
    cr_assert_eq(pipe2(a, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(b, O_CLOEXEC), 0);
    vt.dev.state_byte = 0x11;
    cr_assert_eq(vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_SAVE,
                                                  VHU_TRANSFER_STATE_PHASE_STOPPED, a[1], &bfd),
                 0);
    close(a[1]);
    uint8_t buf[4];
    cr_assert_eq(read(a[0], buf, sizeof(buf)), 1, "the first transfer ran");
    cr_assert_eq(buf[0], 0x11);
    /* no CHECK_DEVICE_STATE: the front-end starts over */
    vt.dev.state_byte = 0x22;
    cr_assert_eq(vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_SAVE,
                                                  VHU_TRANSFER_STATE_PHASE_STOPPED, b[1], &bfd),
                 0);
    close(b[1]);
    cr_assert_eq(read(b[0], buf, sizeof(buf)), 1);
    cr_assert_eq(buf[0], 0x22);
    cr_assert_eq(read(b[0], buf, sizeof(buf)), 0, "EOF: the back-end closed its end");
    cr_assert_eq(read(a[0], buf, sizeof(buf)), 0, "the first transfer's pipe is closed too");
    close(a[0]);
    close(b[0]);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), 0, "the check is about the second transfer");
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), -EREMOTEIO, "and there is none left to check");
}
