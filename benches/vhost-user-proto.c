/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* benches/vhost-user-proto.c - bench-vhost-user-proto: the vhost-user wire protocol.
 *
 *  proto_encode_set_mem_table_8   build a SET_MEM_TABLE with 8 regions (and 8 fds) and encode its 268 bytes
 *  proto_decode_set_mem_table_8   decode those bytes and run the validator (8 regions, overlap checks)
 *  proto_rtt_get_features         vhu_frontend_get_features(): request, back-end thread replies, reply
 *                                 validated; over a socketpair (two sendmsg, four recvmsg per op)
 *  proto_rtt_get_shmem_config     the same with GET_SHMEM_CONFIG (a 2056-byte reply, validated on both ends)
 * The back-end peer is a vhu_backend in another thread.  Usage: bench-vhost-user-proto [name-filter];
 * CVMM_BENCH_MS / CVMM_BENCH_REPS tune the harness. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvmm/vhu.h"
#include "harness.h"

static vhu_mem_region regions8[8];
static int fds8[8];

static void init_regions(void)
{
    int fd = memfd_create("bench", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 1 << 20) < 0) {
        fprintf(stderr, "bench-vhost-user-proto: memfd\n");
        exit(1);
    }
    for (int i = 0; i < 8; i++) {
        regions8[i] = (vhu_mem_region){.guest_addr = (uint64_t)i << 30,
                                       .size = 1ull << 30,
                                       .user_addr = 0x7f0000000000ull + ((uint64_t)i << 30),
                                       .mmap_offset = 0};
        fds8[i] = fd;
    }
}

static uint64_t encode_case(void *arg, uint64_t iters)
{
    (void)arg;
    static vhu_msg m;
    static uint8_t buf[VHU_HDR_SIZE + VHU_PAYLOAD_MAX];
    uint64_t t0 = bench_now_ns(), acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        regions8[i & 7].mmap_offset = i; /* keep the compiler honest */
        vhu_msg_build_mem_table(&m, 0, regions8, fds8, 8);
        acc += (uint64_t)vhu_msg_encode(&m, buf, sizeof(buf)) + buf[100];
    }
    uint64_t t = bench_now_ns() - t0;
    bench_sink(acc);
    return t;
}

static uint64_t decode_case(void *arg, uint64_t iters)
{
    (void)arg;
    static vhu_msg m, d;
    static uint8_t buf[VHU_HDR_SIZE + VHU_PAYLOAD_MAX];
    vhu_validate_ctx ctx = {.protocol_features = VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK)};
    vhu_msg_build_mem_table(&m, 0, regions8, fds8, 8);
    int len = vhu_msg_encode(&m, buf, sizeof(buf));
    uint64_t t0 = bench_now_ns(), acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        int rc = vhu_msg_decode(&d, buf, (size_t)len);
        d.nfds = 8; /* the fds arrive apart from the bytes */
        rc |= vhu_validate_req(&d, &ctx);
        acc += (uint64_t)rc + d.payload.mem.regions[7].size;
    }
    uint64_t t = bench_now_ns() - t0;
    bench_sink(acc);
    return t;
}

/* ---- round trips ------------------------------------------------------------------------------------ */
static void *peer_main(void *arg)
{
    vhu_backend *b = arg;
    vhu_shmem_config shmem = {.nregions = 2};
    shmem.mem_size[0] = 1 << 20;
    shmem.mem_size[2] = 64 << 20;
    for (;;) {
        vhu_msg m;
        int rc = vhu_backend_recv(b, &m);
        if (rc == -ECONNRESET || rc == -EIO)
            break;
        if (rc < 0)
            continue;
        switch (m.hdr.request) {
        case VHU_REQ_GET_FEATURES: rc = vhu_backend_reply_u64(b, &m, 1ull << VHU_F_PROTOCOL_FEATURES); break;
        case VHU_REQ_GET_PROTOCOL_FEATURES:
            rc = vhu_backend_reply_u64(b, &m, VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_SHMEM));
            break;
        case VHU_REQ_GET_SHMEM_CONFIG: rc = vhu_backend_reply(b, &m, &shmem, sizeof(shmem), NULL, 0); break;
        default: rc = vhu_backend_ack(b, &m, 0); break;
        }
        vhu_msg_close_fds(&m);
        if (rc < 0)
            break;
    }
    return NULL;
}

struct rtt {
    vhu_frontend *f;
    pthread_t peer;
    vhu_backend *b;
};

static void rtt_start(struct rtt *r)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || vhu_frontend_new(NULL, sv[0], &r->f) < 0) {
        fprintf(stderr, "bench-vhost-user-proto: socketpair\n");
        exit(1);
    }
    vhu_backend_config bc = {.protocol_features = VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_SHMEM)};
    if (vhu_backend_new(&bc, sv[1], &r->b) < 0 || pthread_create(&r->peer, NULL, peer_main, r->b) != 0) {
        fprintf(stderr, "bench-vhost-user-proto: peer\n");
        exit(1);
    }
    if (vhu_frontend_set_protocol_features(r->f, VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_SHMEM)) < 0) {
        fprintf(stderr, "bench-vhost-user-proto: negotiation\n");
        exit(1);
    }
}

static void rtt_stop(struct rtt *r)
{
    vhu_frontend_free(r->f);
    pthread_join(r->peer, NULL);
    vhu_backend_free(r->b);
}

static uint64_t rtt_features_case(void *arg, uint64_t iters)
{
    struct rtt *r = arg;
    uint64_t acc = 0, v = 0, t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        if (vhu_frontend_get_features(r->f, &v) < 0)
            exit(1);
        acc += v;
    }
    uint64_t t = bench_now_ns() - t0;
    bench_sink(acc);
    return t;
}

static uint64_t rtt_shmem_case(void *arg, uint64_t iters)
{
    struct rtt *r = arg;
    static vhu_shmem_config c;
    uint64_t acc = 0, t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        if (vhu_frontend_get_shmem_config(r->f, &c) < 0)
            exit(1);
        acc += c.mem_size[2];
    }
    uint64_t t = bench_now_ns() - t0;
    bench_sink(acc);
    return t;
}

int main(int argc, char **argv)
{
    bench_init(argc, argv);
    init_regions();
    bench_run("proto_encode_set_mem_table_8", encode_case, NULL, 0);
    bench_run("proto_decode_set_mem_table_8", decode_case, NULL, 0);
    if (bench_selected("proto_rtt_get_features") || bench_selected("proto_rtt_get_shmem_config")) {
        struct rtt r;
        rtt_start(&r);
        bench_run("proto_rtt_get_features", rtt_features_case, &r, 0);
        bench_run("proto_rtt_get_shmem_config", rtt_shmem_case, &r, 0);
        rtt_stop(&r);
    }
    close(fds8[0]);
    return 0;
}
