/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* fuzz/proto_msg.c - libFuzzer target: the vhost-user message decoder and validators, both directions, with
 * fds of every kind (vhost-user-proto).
 *
 * Input: [mode] [fd count, fd kinds...] [validator context] [rest: message bytes / stream].  Modes:
 *   0 front-end request through vhu_msg_decode(), vhu_validate_req(), vhu_req_owed()
 *   1 a back-end reply through vhu_validate_reply() (the request is built from the input too)
 *   2 a back-end request (back-end channel) through vhu_validate_backend_req()
 *   3 a front-end answer to a back-end request through vhu_validate_backend_reply()
 *   4 a byte stream with fds into a vhu_backend endpoint (vhu_backend_recv(), then an ack or reply)
 *   5 a byte stream with fds into a bare vhu_conn (vhu_conn_recv())
 *   6 a front-end request (vhu_frontend_request()) answered by fuzzed bytes and fds
 *   7 a back-end channel request (vhu_backend_channel_request()) answered by fuzzed bytes and fds
 * Invariants: only documented errnos; an accepted message satisfies its table row (sizes, fd counts, gate,
 * field ranges); encode/decode round-trips; no fd leaks (counted in /proc/self/fd after every input). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvmm/vhu.h"
#include "cvmm_test_vhu_accepted.h"
#include "fuzz_fds.h"

static bool documented(int rc)
{
    return rc == 0 || rc == -EBADMSG || rc == -ENOTSUP || rc == -EPROTO || rc == -EBADF || rc == -EOVERFLOW ||
           rc == -EFAULT;
}

static vhu_validate_ctx ctx_from(fin *in, vhu_shmem_config *shm)
{
    vhu_validate_ctx c = {.log = fuzz_log(), .name = "fuzz", .page_size = 4096};
    c.protocol_features = fin_u64(in) & VHU_PROTOCOL_FEATURES_KNOWN;
    c.num_queues = fin_u8(in) % 5;
    uint8_t f = fin_u8(in);
    c.postcopy_listening = f & 1;
    if (f & 2) {
        memset(shm, 0, sizeof(*shm));
        shm->mem_size[0] = 0x10000;
        shm->mem_size[2] = 0x200000;
        shm->nregions = 2;
        c.shmem = shm;
    }
    return c;
}

/* A message from the input: header, then payload bytes; the size field is kept as given when @raw_size,
 * else it is the payload length (so most inputs reach the validators' field checks). */
static void msg_from(fin *in, vhu_msg *m, const int *fds, int nfds, bool raw_size)
{
    memset(m, 0, sizeof(*m));
    fin_bytes(in, &m->hdr, sizeof(m->hdr));
    uint32_t len = fin_u16(in) % (VHU_PAYLOAD_MAX + 1);
    len = (uint32_t)fin_bytes(in, m->payload.raw, len);
    if (!raw_size)
        m->hdr.size = len;
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        m->fds[i] = (int)i < nfds ? fds[i] : -1;
    m->nfds = (uint32_t)nfds;
}

/* What an accepted request guarantees to its handler (tests/common/cvmm_test_vhu_accepted.h). */
static void accepted_request(const vhu_msg *m, const vhu_validate_ctx *c) { CHECK(!cvmm_test_vhu_accepted(m, c)); }

/* Framing round trip: a header that passes vhu_hdr_check() encodes and decodes to the same bytes. */
static void round_trip(const vhu_msg *m)
{
    static uint8_t buf[VHU_HDR_SIZE + VHU_PAYLOAD_MAX];
    vhu_msg d;
    int n = vhu_msg_encode(m, buf, sizeof(buf));
    if (vhu_hdr_check(&m->hdr) != 0)
        return;
    CHECK(n == (int)(VHU_HDR_SIZE + m->hdr.size));
    CHECK(vhu_msg_decode(&d, buf, (size_t)n) == 0);
    CHECK(memcmp(&d.hdr, &m->hdr, sizeof(d.hdr)) == 0 && memcmp(d.payload.raw, m->payload.raw, m->hdr.size) == 0);
    CHECK(d.nfds == 0);
}

/* Send the rest of the input over @sock in pieces (lengths from the input), the fds with the first piece.
 * Return: bytes sent. */
static size_t send_stream(int sock, fin *in, const int *fds, int nfds)
{
    size_t total = 0;
    bool first = true;
    while (!fin_empty(in)) {
        uint8_t buf[512];
        size_t len = fin_bytes(in, buf, fin_u16(in) % sizeof(buf) + 1);
        if (!len)
            break;
        struct iovec iov = {buf, len};
        union {
            struct cmsghdr align;
            char b[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS * 2)];
        } ctl;
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (first && nfds) {
            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.b;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
        }
        if (sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            break;
        total += len;
        first = false;
    }
    return total;
}

static void drain(int sock)
{
    char buf[4096];
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(sizeof(int) * 16)];
    } ctl;
    for (;;) {
        struct iovec iov = {buf, sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl)};
        if (recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
            return;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
                    close(((int *)CMSG_DATA(cm))[i]);
    }
}

static void stream_into_endpoint(fin *in, const int *fds, int nfds, bool endpoint)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return;
    vhu_backend *b = NULL;
    vhu_conn *c = NULL;
    uint64_t pf = fin_u64(in) & VHU_PROTOCOL_FEATURES_KNOWN;
    if (endpoint) {
        vhu_backend_config bc = {
            .log = fuzz_log(), .protocol_features = pf, .num_queues = fin_u8(in) % 4, .timeout_ms = 1};
        CHECK(vhu_backend_new(&bc, sv[1], &b) == 0);
    } else {
        vhu_conn_config cc = {.log = fuzz_log(), .timeout_ms = 1};
        CHECK(vhu_conn_new(&cc, sv[1], &c) == 0);
    }
    send_stream(sv[0], in, fds, nfds);
    if (fin_u8(in) & 1) /* the peer goes away, perhaps mid-message */
        shutdown(sv[0], SHUT_WR);
    for (int k = 0; k < 64; k++) {
        vhu_msg m;
        int rc = endpoint ? vhu_backend_recv(b, &m) : vhu_conn_recv(c, &m);
        if (rc == 0) {
            CHECK(m.nfds <= VHU_MAX_FDS);
            if (endpoint) {
                accepted_request(&m, vhu_backend_ctx(b));
                if (vhu_req_owed(&m, vhu_backend_ctx(b)) == VHU_OWED_REPLY) {
                    uint8_t p[64] = {0};
                    (void)vhu_backend_reply(b, &m, p, m.hdr.size < sizeof(p) ? m.hdr.size : 8, NULL, 0);
                } else {
                    (void)vhu_backend_ack(b, &m, k & 1 ? 0 : -EINVAL);
                }
            }
            vhu_msg_close_fds(&m);
            drain(sv[0]);
            continue;
        }
        CHECK(rc == -EAGAIN || rc == -EIO || rc == -ECONNRESET || documented(rc));
        if (rc == -EAGAIN || rc == -EIO || rc == -ECONNRESET)
            break;
        drain(sv[0]);
    }
    vhu_backend_free(b);
    vhu_conn_free(c);
    drain(sv[0]);
    close(sv[0]);
}

/* The peer's answer is already in the socket (and the peer's side shut for writing) when the request goes. */
static void request_answered(fin *in, const int *fds, int nfds, bool channel)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    uint64_t pf = fin_u64(in) & VHU_PROTOCOL_FEATURES_KNOWN;
    vhu_msg req, reply;
    uint32_t id = fin_u8(in);
    vhu_msg_build_state(&req, id, 0, fin_u8(in) % 4, fin_u32(in));
    if (fin_u8(in) & 1) /* a u64 payload instead */
        vhu_msg_build_u64(&req, id, 0, fin_u64(in));
    send_stream(sv[0], in, fds, nfds);
    shutdown(sv[0], SHUT_WR);
    if (channel) {
        vhu_backend_channel_config cc = {.log = fuzz_log(), .protocol_features = pf, .num_queues = 4, .timeout_ms = 1};
        vhu_backend_channel *ch;
        CHECK(vhu_backend_channel_new(&cc, sv[1], &ch) == 0);
        int rc = vhu_backend_channel_request(ch, &req, &reply);
        if (rc == 0)
            vhu_msg_close_fds(&reply);
        vhu_backend_channel_free(ch);
    } else {
        vhu_frontend_config fc = {.log = fuzz_log(), .timeout_ms = 1};
        vhu_frontend *fe;
        CHECK(vhu_frontend_new(&fc, sv[1], &fe) == 0);
        req.hdr.request %= VHU_REQ_MAX;
        int rc = vhu_frontend_request(fe, &req, &reply);
        if (rc == 0)
            vhu_msg_close_fds(&reply);
        vhu_frontend_free(fe);
    }
    drain(sv[0]);
    close(sv[0]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fin in = {data, size};
    int fds_before = fuzz_count_fds();
    uint8_t mode = fin_u8(&in);
    fuzz_fds set = {.n = 0};
    int fds[VHU_MAX_FDS + 1];
    int nfds = fuzz_fds_pick(&set, &in, (mode & 7) >= 4 ? (int)VHU_MAX_FDS + 1 : (int)VHU_MAX_FDS, fds);
    vhu_shmem_config shm;
    vhu_validate_ctx ctx = ctx_from(&in, &shm);
    bool raw_size = mode & 0x80;
    vhu_msg m, q;
    int rc;
    switch (mode & 7) {
    case 0:
        msg_from(&in, &m, fds, nfds, raw_size);
        round_trip(&m);
        rc = vhu_validate_req(&m, &ctx);
        CHECK(documented(rc));
        if (rc == 0)
            accepted_request(&m, &ctx);
        break;
    case 1:
        msg_from(&in, &q, NULL, 0, false);
        q.hdr.flags = VHU_VERSION | (q.hdr.flags & VHU_FLAG_NEED_REPLY);
        msg_from(&in, &m, fds, nfds, raw_size);
        rc = vhu_validate_reply(&m, &q, &ctx);
        CHECK(documented(rc));
        if (rc == 0) {
            CHECK(m.hdr.request == q.hdr.request && vhu_msg_is_reply(&m));
            if (q.hdr.request == VHU_REQ_GET_SHMEM_CONFIG && vhu_req_owed(&q, &ctx) == VHU_OWED_REPLY)
                CHECK(vhu_validate_shmem_config(&m.payload.shmem, &ctx) == 0);
        }
        break;
    case 2:
        msg_from(&in, &m, fds, nfds, raw_size);
        rc = vhu_validate_backend_req(&m, &ctx);
        CHECK(documented(rc));
        if (rc == 0) {
            CHECK(vhu_backend_req_rule(m.hdr.request) != NULL);
            if (m.hdr.request == VHU_BACKEND_REQ_SHMEM_MAP && ctx.shmem) {
                uint64_t sz = ctx.shmem->mem_size[m.payload.mmap.shmid];
                CHECK(sz && m.payload.mmap.len <= sz && m.payload.mmap.shm_offset <= sz - m.payload.mmap.len);
            }
            (void)vhu_backend_req_owed(&m, &ctx);
        }
        break;
    case 3:
        msg_from(&in, &q, NULL, 0, false);
        q.hdr.flags = VHU_VERSION | (q.hdr.flags & VHU_FLAG_NEED_REPLY);
        msg_from(&in, &m, fds, nfds, raw_size);
        rc = vhu_validate_backend_reply(&m, &q, &ctx);
        CHECK(documented(rc));
        break;
    case 4:
    case 5: stream_into_endpoint(&in, fds, nfds, (mode & 7) == 4); break;
    default: request_answered(&in, fds, nfds, (mode & 7) == 7); break;
    }
    fuzz_fds_close(&set);
    int fds_after = fuzz_count_fds();
    if (fds_after != fds_before)
        fuzz_fail("fd leak: %d open before, %d after", fds_before, fds_after);
    return 0;
}
