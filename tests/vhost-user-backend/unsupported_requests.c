/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Requests a generic device does not implement but that the protocol lets through: each gets the failure
 * answer its message has (a u64 status of 1, or an error ack), a log line, and any fd it carried is closed;
 * the connection goes on. */
#include <sys/socket.h>

#include "vub_test.h"

TestSuite(unsupported_requests, .init = vt_init, .fini = vt_fini, .timeout = 120);

static void still_serving(void)
{
    uint64_t n = 0;
    cr_assert_eq(vhu_frontend_get_queue_num(vt.fe, &n), 0, "the connection goes on");
    cr_assert_eq(n, VT_QUEUES);
}

Test(unsupported_requests, an_iotlb_update_without_an_iommu_fails_with_status_1)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vhu_iotlb_msg m = {
        .iova = 0x1000, .size = 0x1000, .uaddr = VT_UVA_BASE, .perm = VHU_ACCESS_RW, .type = VHU_IOTLB_UPDATE};
    uint64_t status = 0;
    cr_assert_eq(vhu_frontend_iotlb_msg(vt.fe, &m, &status), 0);
    cr_assert_eq(status, 1, "a non-zero status: the update was not applied");
    cr_assert(vt_logged("tdev: IOTLB_MSG without an IOMMU"));
    still_serving();
}

Test(unsupported_requests, gpu_set_socket_is_refused_and_its_fd_closed)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    cr_assert_eq(vhu_frontend_gpu_set_socket(vt.fe, sp[0]), -EREMOTEIO, "an error ack (REPLY_ACK)");
    close(sp[0]);
    cr_assert(vt_logged("tdev: GPU_SET_SOCKET not supported"));
    struct pollfd p = {.fd = sp[1], .events = POLLIN};
    cr_assert_eq(poll(&p, 1, VT_WAIT_MS), 1, "the back-end closed its copy of the fd");
    char b;
    cr_assert_eq(read(sp[1], &b, 1), 0);
    close(sp[1]);
    still_serving();
}
