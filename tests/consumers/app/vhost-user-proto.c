/* A consumer of cvmm::vhost-user-proto: encodes a SET_VRING_NUM request, decodes and validates it. */
#include <cvmm/vhu.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    vhu_msg out, in;
    uint8_t wire[256];
    vhu_msg_build_state(&out, VHU_REQ_SET_VRING_NUM, 0, 0, 256);
    int n = vhu_msg_encode(&out, wire, sizeof(wire));
    int rc = n < 0 ? n : vhu_msg_decode(&in, wire, (size_t)n);
    vhu_validate_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.num_queues = 1;
    if (rc >= 0)
        rc = vhu_validate_req(&in, &ctx);
    if (rc < 0 || in.hdr.request != VHU_REQ_SET_VRING_NUM) {
        printf("consumer vhost-user-proto: FAIL rc=%d\n", rc);
        return 1;
    }
    printf("consumer vhost-user-proto: ok (%s, %d bytes)\n", vhu_req_name(in.hdr.request), n);
    return 0;
}
