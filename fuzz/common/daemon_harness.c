/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* daemon_harness.c - see daemon_harness.h. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon_harness.h"

static char sock_path[108];

static void cleanup_dir(void)
{
    unlink(sock_path);
    char dir[108];
    snprintf(dir, sizeof(dir), "%s", sock_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        rmdir(dir);
    }
}

void dh_init(dh *h)
{
    vmem_region_desc rd = {.gpa = 0, .size = DH_MEM, .user_addr = DH_UVA_BASE};
    if (vmem_region_new_memfd(&rd, fuzz_log(), &h->mem) || vmem_map_new(&h->mem, 1, NULL, fuzz_log(), &h->map))
        fuzz_fail("cannot make guest memory");
    signal(SIGPIPE, SIG_IGN);
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/cvmm-fuzz.XXXXXX");
    if (!mkdtemp(dir))
        fuzz_fail("mkdtemp: %s", strerror(errno));
    snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
    atexit(cleanup_dir);
}

static void *run(void *arg)
{
    (void)vub_daemon_run(arg);
    return NULL;
}

static void connect_once(dh *h)
{
    int fd = -1;
    vhu_conn_free(h->conn);
    h->conn = NULL;
    for (int i = 0; i < 500; i++) { /* the daemon accepts on its thread: retry a refused connect */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
        usleep(2000);
    }
    if (fd < 0)
        fuzz_fail("cannot connect to the daemon");
    struct timeval tv = {DH_TIMEOUT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    vhu_conn_config cc = {.log = fuzz_log(), .name = "fuzz-fe", .timeout_ms = DH_TIMEOUT_MS};
    if (vhu_conn_new(&cc, fd, &h->conn) < 0)
        fuzz_fail("vhu_conn_new");
    h->first = true;
    h->maybe = UINT32_MAX;
}

void dh_start(dh *h, vub_daemon_config *cfg, uint32_t num_queues)
{
    h->fds_before = fuzz_count_fds();
    cfg->log = fuzz_log();
    h->num_queues = num_queues;
    memset(vmem_region_hva(h->mem), 0, DH_MEM);
    if (vub_daemon_new(cfg, &h->d) < 0)
        fuzz_fail("vub_daemon_new");
    if (vub_daemon_listen(h->d, sock_path) < 0)
        fuzz_fail("vub_daemon_listen");
    if (pthread_create(&h->th, NULL, run, h->d) != 0)
        fuzz_fail("pthread_create");
    h->features = 0;
    for (unsigned i = 0; i < DH_RINGS_MAX; i++)
        h->rings[i] = (dh_ring){.mk = NULL, .kick = -1};
    connect_once(h);
}

void dh_reconnect(dh *h) { connect_once(h); }

/* Send header + payload with fds in one sendmsg (the rest of the payload follows without fds). */
static int send_raw(dh *h, const vhu_msg *m)
{
    static uint8_t buf[VHU_HDR_SIZE + VHU_PAYLOAD_MAX];
    size_t plen = m->hdr.size < VHU_PAYLOAD_MAX ? m->hdr.size : VHU_PAYLOAD_MAX;
    memcpy(buf, &m->hdr, VHU_HDR_SIZE);
    memcpy(buf + VHU_HDR_SIZE, m->payload.raw, plen);
    size_t len = VHU_HDR_SIZE + plen, done = 0;
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(sizeof(int) * 16)];
    } ctl;
    while (done < len) {
        struct iovec iov = {buf + done, len - done};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (done == 0 && m->nfds) {
            uint32_t n = m->nfds < 16 ? m->nfds : 16;
            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.b;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
            memcpy(CMSG_DATA(cm), m->fds, sizeof(int) * n);
        }
        ssize_t k = sendmsg(vhu_conn_fd(h->conn), &mh, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            fuzz_fail("the daemon stopped reading its socket: a %s could not be sent in %d ms",
                      vhu_req_name(m->hdr.request), DH_TIMEOUT_MS);
        if (k < 0)
            return -errno;
        done += (size_t)k;
    }
    return 0;
}

/* Read the answer to @req: skip one allowed "maybe" reply.  Return: 1 got it (in *out), -1 connection closed. */
static int wait_reply(dh *h, uint32_t req, const char *what, vhu_msg *out)
{
    for (;;) {
        vhu_msg r;
        int rc = vhu_conn_recv_wait(h->conn, &r, DH_TIMEOUT_MS);
        if (rc == -ECONNRESET || rc == -EIO || rc == -EPIPE) {
            vhu_conn_free(h->conn);
            h->conn = NULL;
            return -1;
        }
        if (rc == -ETIMEDOUT)
            fuzz_fail("no answer to %s %s within %d ms, and the connection is still open", vhu_req_name(req), what,
                      DH_TIMEOUT_MS);
        if (rc < 0)
            fuzz_fail("the daemon sent a malformed frame after %s: %d", vhu_req_name(req), rc);
        vhu_msg_close_fds(&r);
        if (!vhu_msg_is_reply(&r))
            fuzz_fail("the daemon sent a message without the REPLY flag (request %u) on the main socket",
                      r.hdr.request);
        if (r.hdr.request == h->maybe && h->maybe != req) {
            h->maybe = UINT32_MAX;
            continue;
        }
        if (r.hdr.request != req)
            fuzz_fail("a reply to %s (%u) arrived while waiting for %s: a reply nobody asked for",
                      vhu_req_name(r.hdr.request), r.hdr.request, vhu_req_name(req));
        if (h->maybe == req)
            h->maybe = UINT32_MAX;
        if (out)
            *out = r;
        return 1;
    }
}

/* A GET_FEATURES round trip: the daemon answers, and everything before it has been handled. */
static int sync_daemon(dh *h)
{
    vhu_msg m;
    vhu_msg_build_u64(&m, VHU_REQ_GET_FEATURES, 0, 0);
    m.hdr.size = 0;
    if (send_raw(h, &m) < 0) {
        vhu_conn_free(h->conn);
        h->conn = NULL;
        return -1;
    }
    h->first = false;
    int rc = wait_reply(h, VHU_REQ_GET_FEATURES, "(sync)", NULL);
    h->maybe = UINT32_MAX;
    return rc;
}

/* Wait for the daemon to close the connection after a framing error (any allowed reply is read first). */
static void expect_close(dh *h, const vhu_msg *m)
{
    for (;;) {
        vhu_msg r;
        int rc = vhu_conn_recv_wait(h->conn, &r, DH_TIMEOUT_MS);
        if (rc == 0) {
            vhu_msg_close_fds(&r);
            if (r.hdr.request == h->maybe) {
                h->maybe = UINT32_MAX;
                continue;
            }
            fuzz_fail("a reply to %u arrived after a framing error (request %u flags 0x%x size %u)", r.hdr.request,
                      m->hdr.request, m->hdr.flags, m->hdr.size);
        }
        if (rc == -ETIMEDOUT)
            fuzz_fail("the connection stays open after a framing error (request %u flags 0x%x size %u)", m->hdr.request,
                      m->hdr.flags, m->hdr.size);
        vhu_conn_free(h->conn);
        h->conn = NULL;
        return;
    }
}

int dh_request(dh *h, vhu_msg *m, vhu_msg *reply)
{
    if (!h->conn)
        connect_once(h);
    bool framing_ok = vhu_hdr_check(&m->hdr) == 0;
    vhu_validate_ctx ctx = {
        .log = fuzz_log(), .protocol_features = vub_daemon_protocol_features(h->d), .num_queues = h->num_queues};
    enum vhu_owed owed = framing_ok ? vhu_req_owed(m, &ctx) : VHU_OWED_NOTHING;
    uint32_t req = m->hdr.request;
    /* Where the protocol features in force are unknown here (the first message of a connection may run
     * with features carried over; SET_PROTOCOL_FEATURES changes them), the answer is only certain when it
     * is the same without any feature and with all of them. */
    vhu_validate_ctx none = ctx, all = ctx;
    none.protocol_features = 0;
    all.protocol_features = VHU_PROTOCOL_FEATURES_KNOWN;
    bool ambiguous = req == VHU_REQ_POSTCOPY_ADVISE || req == VHU_REQ_POSTCOPY_LISTEN || req == VHU_REQ_POSTCOPY_END;
    if ((h->first || req == VHU_REQ_SET_PROTOCOL_FEATURES) && framing_ok) {
        if (vhu_req_owed(m, &none) != vhu_req_owed(m, &all))
            ambiguous = true;
        else
            owed = vhu_req_owed(m, &all);
    }
    bool resync = ambiguous || h->first || req == VHU_REQ_SET_PROTOCOL_FEATURES || req == VHU_REQ_RESET_OWNER ||
                  req == VHU_REQ_RESET_DEVICE || req == VHU_REQ_SET_MEM_TABLE || req == VHU_REQ_ADD_MEM_REG;
    if (req == VHU_REQ_SET_FEATURES && m->hdr.size == 8)
        h->features = m->payload.u64;
    if (send_raw(h, m) < 0) {
        vhu_conn_free(h->conn);
        h->conn = NULL;
        return -1;
    }
    h->first = false;
    if (!framing_ok) {
        expect_close(h, m);
        return -1;
    }
    int rc = 0;
    if (ambiguous) {
        h->maybe = req;
    } else if (owed != VHU_OWED_NOTHING) {
        rc = wait_reply(h, req, owed == VHU_OWED_ACK ? "(REPLY_ACK owed)" : "(reply owed)", reply);
        if (rc < 0)
            return -1;
    }
    /* SET_MEM_TABLE / ADD_MEM_REG: after POSTCOPY_LISTEN the daemon replies, which the harness does not
     * track; the round trip absorbs it. */
    if (resync) {
        if (req == VHU_REQ_SET_MEM_TABLE || req == VHU_REQ_ADD_MEM_REG)
            if (h->maybe == UINT32_MAX && owed == VHU_OWED_NOTHING)
                h->maybe = req;
        if (sync_daemon(h) < 0)
            return -1;
    }
    return rc;
}

uint32_t dh_flags(fin *in) { return fin_u8(in) & 1 ? VHU_FLAG_NEED_REPLY : 0; }

int dh_fd(dh *h, fin *in) { return fuzz_fds_make(&h->fds, (enum fuzz_fd_kind)(fin_u8(in) % FUZZ_FD_KINDS)); }

uint64_t dh_ring_gpa(unsigned i) { return 0x10000ull * (i + 1); }

void dh_negotiate(dh *h, fin *in)
{
    vhu_msg m, r;
    uint64_t f = 0, p = 0;
    vhu_msg_init(&m, VHU_REQ_GET_FEATURES, 0);
    if (dh_request(h, &m, &r) == 1 && r.hdr.size == 8)
        f = r.payload.u64;
    vhu_msg_init(&m, VHU_REQ_SET_OWNER, dh_flags(in));
    dh_request(h, &m, NULL);
    vhu_msg_init(&m, VHU_REQ_GET_PROTOCOL_FEATURES, 0);
    if (dh_request(h, &m, &r) == 1 && r.hdr.size == 8)
        p = r.payload.u64;
    vhu_msg_build_u64(&m, VHU_REQ_SET_PROTOCOL_FEATURES, 0, p & (fin_u8(in) & 1 ? fin_u64(in) : ~0ull));
    dh_request(h, &m, NULL);
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, dh_flags(in), f & (fin_u8(in) & 1 ? fin_u64(in) : ~0ull));
    dh_request(h, &m, NULL);
}

void dh_mem_table(dh *h, fin *in, bool add)
{
    vhu_msg m;
    uint8_t how = fin_u8(in);
    vhu_mem_region r = {.guest_addr = 0, .size = DH_MEM, .user_addr = DH_UVA_BASE, .mmap_offset = 0};
    if (how & 1)
        r.guest_addr = fin_u64(in) & (how & 2 ? ~0ull : 0xfffff000ull);
    if (how & 4)
        r.size = fin_u64(in) & (how & 8 ? ~0ull : 0x1ff000ull);
    if (how & 16)
        r.mmap_offset = fin_u64(in) & (how & 32 ? ~0ull : 0xff000ull);
    if (how & 64)
        r.user_addr = fin_u64(in);
    int fd = how & 128 ? dh_fd(h, in) : vmem_region_fd(h->mem);
    if (fd < 0)
        fd = vmem_region_fd(h->mem);
    if (add) {
        vhu_mem_reg reg = {.region = r};
        vhu_msg_init(&m, VHU_REQ_ADD_MEM_REG, dh_flags(in));
        vhu_msg_set_payload(&m, &reg, sizeof(reg));
        vhu_msg_add_fd(&m, fd);
    } else {
        vhu_mem_region rs[2] = {r, r};
        int fds[2] = {fd, fd};
        uint32_t n = 1 + (fin_u8(in) & 1);
        rs[1].guest_addr = fin_u64(in);
        vhu_msg_build_mem_table(&m, dh_flags(in), rs, fds, n);
    }
    dh_request(h, &m, NULL);
}

void dh_ring_setup(dh *h, fin *in, unsigned i)
{
    vhu_msg m;
    uint8_t how = fin_u8(in);
    bool packed = h->features & (1ull << VUB_F_RING_PACKED);
    uint32_t size = how & 1 ? fin_u16(in) : 1u << (1 + fin_u8(in) % 8);
    uint64_t off = how & 2 ? 0 : DH_UVA_BASE; /* gpa addresses only work with GPA_ADDRESSES */
    dh_ring *r = &h->rings[i % DH_RINGS_MAX];
    vq_mock_free(r->mk);
    r->mk = NULL;
    vq_mock_config mc = {.layout = packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT,
                         .size = size,
                         .event_idx = h->features & (1ull << VUB_F_RING_EVENT_IDX),
                         .desc_gpa = dh_ring_gpa(i),
                         .driver_gpa = dh_ring_gpa(i) + 0x4000,
                         .device_gpa = dh_ring_gpa(i) + 0x8000};
    (void)vq_mock_new(h->map, &mc, &r->mk);
    vhu_msg_build_state(&m, VHU_REQ_SET_VRING_NUM, dh_flags(in), i, size);
    dh_request(h, &m, NULL);
    vhu_vring_addr a = {
        .index = i, .desc = mc.desc_gpa + off, .avail = mc.driver_gpa + off, .used = mc.device_gpa + off};
    if (how & 4)
        a.used = fin_u64(in);
    vhu_msg_init(&m, VHU_REQ_SET_VRING_ADDR, dh_flags(in));
    vhu_msg_set_payload(&m, &a, sizeof(a));
    dh_request(h, &m, NULL);
    vhu_msg_build_state(&m, VHU_REQ_SET_VRING_BASE, dh_flags(in), i, how & 8 ? fin_u32(in) : packed ? 0x80008000u : 0);
    dh_request(h, &m, NULL);
    int call = fuzz_fds_make(&h->fds, how & 16 ? FUZZ_FD_EVENTFD_FULL : FUZZ_FD_EVENTFD);
    vhu_msg_build_u64(&m, VHU_REQ_SET_VRING_CALL, dh_flags(in), i);
    vhu_msg_add_fd(&m, call);
    dh_request(h, &m, NULL);
    r->kick = fuzz_fds_make(&h->fds, how & 32 ? (enum fuzz_fd_kind)(fin_u8(in) % FUZZ_FD_KINDS) : FUZZ_FD_EVENTFD);
    vhu_msg_build_u64(&m, VHU_REQ_SET_VRING_KICK, dh_flags(in), i);
    vhu_msg_add_fd(&m, r->kick);
    dh_request(h, &m, NULL);
    vhu_msg_build_state(&m, VHU_REQ_SET_VRING_ENABLE, dh_flags(in), i, !(how & 64));
    dh_request(h, &m, NULL);
}

void dh_kick(dh *h, unsigned i)
{
    uint64_t one = 1;
    /* The kick fd may be of any kind (a blocking full eventfd, a pipe nobody reads): never block here, and
     * leave its flags alone (the daemon shares the open file description). */
    struct pollfd p = {.fd = h->rings[i % DH_RINGS_MAX].kick, .events = POLLOUT};
    if (p.fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLOUT))
        (void)!write(p.fd, &one, sizeof(one));
}

void dh_add_chain(dh *h, fin *in, unsigned i)
{
    dh_ring *r = &h->rings[i % DH_RINGS_MAX];
    if (!r->mk)
        return;
    vq_mock_buf b[4];
    unsigned n = 1 + fin_u8(in) % 4;
    for (unsigned k = 0; k < n; k++) {
        uint8_t how = fin_u8(in);
        b[k] = (vq_mock_buf){.gpa = how & 0x80 ? fin_u64(in) : 0x80000u + 0x1000u * (how & 0x3fu),
                             .len = fin_u16(in) % 0x2000,
                             .write = how & 0x40};
        if (!b[k].write) { /* what the device reads: the first bytes from the input */
            uint8_t buf[64];
            size_t len = fin_bytes(in, buf, b[k].len < sizeof(buf) ? b[k].len : sizeof(buf));
            (void)vmem_write(h->map, b[k].gpa, buf, len);
        }
    }
    if (fin_u8(in) & 1)
        (void)vq_mock_add_indirect(r->mk, 0x60000 + 0x400 * i, b, n, NULL);
    else
        (void)vq_mock_add(r->mk, b, n, NULL);
    dh_kick(h, i);
}

void dh_stop(dh *h)
{
    /* The daemon must still answer (on this connection, or a new one if it closed this one). */
    if (!h->conn)
        connect_once(h);
    if (sync_daemon(h) < 0) {
        connect_once(h);
        if (sync_daemon(h) < 0)
            fuzz_fail("the daemon does not answer GET_FEATURES on a new connection");
    }
    vhu_conn_free(h->conn);
    h->conn = NULL;
    vub_daemon_stop(h->d);
    pthread_join(h->th, NULL);
    vub_daemon_free(h->d);
    h->d = NULL;
    for (unsigned i = 0; i < DH_RINGS_MAX; i++) {
        vq_mock_free(h->rings[i].mk);
        h->rings[i].mk = NULL;
        h->rings[i].kick = -1;
    }
    fuzz_fds_close(&h->fds);
    int now = fuzz_count_fds();
    if (now != h->fds_before) {
        fuzz_dump_fds();
        fuzz_fail("fd leak: %d fds open before the input, %d after the daemon was freed", h->fds_before, now);
    }
}
