/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vhost-user-proto/fuzz.c - deterministic mutation fuzzing of the parsers: mutated valid messages
 * through every validator, random byte streams (with fds) through the receiver and the back-end endpoint.
 * Properties: no crash (ASan/UBSan builds make that strict), only documented errnos, accepted messages
 * satisfy the invariants handlers rely on, no fd leaks. */
#include <criterion/criterion.h>

#include "cvmm_test_vhu_accepted.h"
#include "helpers.h"

static int fds_at_start;
static int memfd = -1;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void setup(void)
{
    fds_at_start = cvmm_test_count_fds();
    memfd = make_memfd(4096, 1);
}
static void teardown(void)
{
    close(memfd);
    cr_assert_eq(cvmm_test_count_fds(), fds_at_start, "fd leaked");
}

TestSuite(fuzz, .init = setup, .fini = teardown, .timeout = 120);

/* ctest runs Criterion with --full-stats, which reports every passing assertion to the runner: in loops
 * of tens of thousands of iterations only failures may be reported. */
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            cr_assert_fail("%s", #cond);                                                                               \
    } while (0)

static bool documented(int rc)
{
    return rc == 0 || rc == -EBADMSG || rc == -ENOTSUP || rc == -EPROTO || rc == -EBADF || rc == -EOVERFLOW ||
           rc == -EFAULT;
}

static void mutate(vhu_msg *m)
{
    int n = 1 + (int)(next() % 4);
    for (int i = 0; i < n; i++) {
        switch (next() % 8) {
        case 0: m->hdr.size = (uint32_t)(next() % (VHU_PAYLOAD_MAX + 16)); break;
        case 1: m->hdr.flags ^= 1u << (next() % 6); break;
        case 2: m->hdr.request = (uint32_t)(next() % 50); break;
        case 3: m->nfds = (uint32_t)(next() % (VHU_MAX_FDS + 1)); break;
        case 4: { /* a boundary value into a random aligned u64 */
            static const uint64_t v[] = {0, 1, 0xff, 0x100, 0xfff, 0x1000, UINT32_MAX, UINT64_MAX, UINT64_MAX - 0xfff};
            uint64_t x = v[next() % (sizeof(v) / sizeof(v[0]))];
            memcpy(m->payload.raw + 8 * (next() % 40), &x, 8);
            break;
        }
        default: m->payload.raw[next() % 320] ^= (uint8_t)(1u << (next() % 8)); break;
        }
    }
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        m->fds[i] = i < m->nfds ? memfd : -1;
}

static const struct cvmm_log quiet_log = {.level = CVMM_LOG_ERROR};

static vhu_validate_ctx random_ctx(vhu_shmem_config *shm)
{
    vhu_validate_ctx c = {.protocol_features = next() & VHU_PROTOCOL_FEATURES_KNOWN,
                          .num_queues = (uint32_t)(next() % 4),
                          .postcopy_listening = next() % 4 == 0,
                          .page_size = 4096,
                          .log = &quiet_log};
    if (next() % 2) {
        memset(shm, 0, sizeof(*shm));
        shm->mem_size[0] = 0x10000;
        shm->mem_size[2] = 0x200000;
        shm->nregions = 2;
        c.shmem = shm;
    }
    if (next() % 2)
        c.protocol_features |= ALL_PF;
    return c;
}

Test(fuzz, mutated_frontend_requests)
{
    int accepted = 0;
    for (int it = 0; it < 60000; it++) {
        vhu_msg m;
        vhu_shmem_config shm;
        uint32_t id = 1 + (uint32_t)(next() % (VHU_REQ_MAX - 1));
        sample_req(id, &m, memfd);
        mutate(&m);
        vhu_validate_ctx c = random_ctx(&shm);
        int rc = vhu_validate_req(&m, &c);
        CHECK(documented(rc), "id %u: rc %d", m.hdr.request, rc);
        const char *broken = rc == 0 ? cvmm_test_vhu_accepted(&m, &c) : NULL;
        CHECK(!broken, "id %u accepted, but not %s", m.hdr.request, broken);
        accepted += rc == 0;
    }
    cr_assert_gt(accepted, 100, "the mutations are not all rejected (%d)", accepted);
}

Test(fuzz, mutated_replies_and_backend_messages)
{
    for (int it = 0; it < 60000; it++) {
        vhu_msg q, r;
        vhu_shmem_config shm;
        vhu_validate_ctx c = random_ctx(&shm);
        if (it & 1) {
            uint32_t id = 1 + (uint32_t)(next() % (VHU_REQ_MAX - 1));
            sample_req(id, &q, memfd);
            if (sample_reply(&q, &r, memfd) < 0)
                vhu_msg_build_u64(&r, id, VHU_FLAG_REPLY, 0);
            mutate(&r);
            int rc = vhu_validate_reply(&r, &q, &c);
            CHECK(documented(rc), "reply to %u: rc %d", id, rc);
            if (rc == 0 && id == VHU_REQ_GET_SHMEM_CONFIG && vhu_req_owed(&q, &c) == VHU_OWED_REPLY)
                CHECK(vhu_validate_shmem_config(&r.payload.shmem, &c) == 0);
        } else {
            uint32_t id = 1 + (uint32_t)(next() % (VHU_BACKEND_REQ_MAX - 1));
            sample_backend_req(id, &q, memfd);
            mutate(&q);
            int rc = vhu_validate_backend_req(&q, &c);
            CHECK(documented(rc), "backend %u: rc %d", q.hdr.request, rc);
            if (rc == 0 && q.hdr.request == VHU_BACKEND_REQ_SHMEM_MAP && c.shmem) {
                uint64_t size = c.shmem->mem_size[q.payload.mmap.shmid];
                CHECK(size && q.payload.mmap.len <= size && q.payload.mmap.shm_offset <= size - q.payload.mmap.len);
            }
            vhu_msg_build_u64(&r, q.hdr.request, VHU_FLAG_REPLY, next() % 2);
            mutate(&r);
            rc = vhu_validate_backend_reply(&r, &q, &c);
            CHECK(documented(rc), "backend reply: rc %d", rc);
        }
    }
}

/* Random byte streams, with fds on some writes, into a receiver and into a back-end endpoint. */
static void random_stream(bool endpoint)
{
    for (int round = 0; round < 200; round++) {
        int sv[2];
        cr_assert_eq(sockpair(sv, true), 0);
        vhu_conn *c = NULL;
        vhu_backend *b = NULL;
        const struct cvmm_log quiet = {.level = CVMM_LOG_ERROR};
        if (endpoint) {
            vhu_backend_config bc = {.log = &quiet, .protocol_features = ALL_PF, .num_queues = 2};
            cr_assert_eq(vhu_backend_new(&bc, sv[1], &b), 0);
        } else {
            vhu_conn_config cc = {.log = &quiet};
            cr_assert_eq(vhu_conn_new(&cc, sv[1], &c), 0);
        }
        for (int w = 0; w < 20; w++) {
            uint8_t buf[256];
            size_t len = 1 + next() % sizeof(buf);
            /* mostly plausible headers: version 1, small sizes, known ids */
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)next();
            if (len >= 12 && next() % 4) {
                vhu_hdr h = {(uint32_t)(next() % 46), VHU_VERSION | (next() % 2 ? VHU_FLAG_NEED_REPLY : 0),
                             (uint32_t)(next() % 64)};
                memcpy(buf, &h, sizeof(h));
            }
            int fds[3] = {memfd, memfd, memfd};
            struct iovec iov = {buf, len};
            union {
                struct cmsghdr a;
                char b[CMSG_SPACE(sizeof(fds))];
            } ctl;
            struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
            int nf = (int)(next() % 4);
            if (nf) {
                memset(&ctl, 0, sizeof(ctl));
                mh.msg_control = ctl.b;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nf);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nf);
                memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nf);
            }
            if (sendmsg(sv[0], &mh, MSG_NOSIGNAL) < 0)
                break;
            for (int k = 0; k < 8; k++) {
                vhu_msg m;
                int rc = endpoint ? vhu_backend_recv(b, &m) : vhu_conn_recv(c, &m);
                if (rc == 0)
                    vhu_msg_close_fds(&m);
                else if (rc == -EAGAIN || rc == -EIO)
                    break;
                else
                    CHECK(documented(rc) || rc == -EBADMSG, "rc %d", rc);
            }
        }
        if (next() % 2) { /* the peer goes away, possibly mid-message */
            close(sv[0]);
            sv[0] = -1;
            vhu_msg m;
            int rc = endpoint ? vhu_backend_recv(b, &m) : vhu_conn_recv(c, &m);
            if (rc == 0)
                vhu_msg_close_fds(&m);
        }
        vhu_backend_free(b);
        vhu_conn_free(c);
        if (sv[0] >= 0)
            close(sv[0]);
    }
}

Test(fuzz, random_streams_into_the_receiver) { random_stream(false); }
Test(fuzz, random_streams_into_the_backend_endpoint) { random_stream(true); }
