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

void dh_init(void)
{
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
    if (!h->mem) {
        vmem_region_desc rd = {.gpa = 0, .size = DH_MEM, .user_addr = DH_UVA_BASE};
        if (vmem_region_new_memfd(&rd, fuzz_log(), &h->mem) || vmem_map_new(&h->mem, 1, NULL, fuzz_log(), &h->map))
            fuzz_fail("cannot make guest memory");
        h->fds_before = fuzz_count_fds();
    }
    memset(vmem_region_hva(h->mem), 0, DH_MEM);
    if (vub_daemon_new(cfg, &h->d) < 0)
        fuzz_fail("vub_daemon_new");
    if (vub_daemon_listen(h->d, sock_path) < 0)
        fuzz_fail("vub_daemon_listen");
    if (pthread_create(&h->th, NULL, run, h->d) != 0)
        fuzz_fail("pthread_create");
    h->features = 0;
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
            fuzz_fail("the daemon sent a message without the REPLY flag (request %u) on the main socket", r.hdr.request);
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
            fuzz_fail("the connection stays open after a framing error (request %u flags 0x%x size %u)",
                      m->hdr.request, m->hdr.flags, m->hdr.size);
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
    vhu_validate_ctx ctx = {.log = fuzz_log(), .protocol_features = vub_daemon_protocol_features(h->d),
                            .num_queues = h->num_queues};
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
    bool resync = ambiguous || h->first || req == VHU_REQ_SET_PROTOCOL_FEATURES || req == VHU_REQ_RESET_OWNER || req == VHU_REQ_RESET_DEVICE ||
                  req == VHU_REQ_SET_MEM_TABLE || req == VHU_REQ_ADD_MEM_REG;
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
    fuzz_fds_close(&h->fds);
    int now = fuzz_count_fds();
    if (now != h->fds_before) {
        fuzz_dump_fds();
        fuzz_fail("fd leak: %d fds open before the input, %d after the daemon was freed", h->fds_before, now);
    }
}
