/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* blk-session.c - bench-blk-driver's vhost-user session (blk-driver.h): connect to any vhost-user-blk
 * back-end, negotiate the way QEMU 7.2's vhost-user-blk does, map memfd guest memory, start split rings.
 *
 * QEMU's order: SET_OWNER, GET_FEATURES, GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_CONFIG; at start
 * GET/SET_INFLIGHT_FD, SET_FEATURES, SET_MEM_TABLE, per ring NUM, BASE, ADDR, KICK, CALL; then
 * SET_VRING_ENABLE.  Features acked: the virtio-blk bits QEMU passes through (vhost-user-blk.c's
 * user_feature_bits) that the back-end offers, minus RING_PACKED (split rings here, as
 * qemu-storage-daemon 7.2 has no other).  Protocol features: MQ, REPLY_ACK, CONFIG and INFLIGHT_SHMFD;
 * not BACKEND_REQ (nobody would serve that channel; blk back-ends send nothing on it in a run). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blk-driver.h"

#define UVA_BASE 0x7f0000000000ull /* the "user address" of guest memory we announce */

static int fail(const char *what, int rc)
{
    fprintf(stderr, "bench-blk-driver: %s failed: %s\n", what, strerror(-rc));
    return rc;
}

/* The back-end may still be starting: wait up to 30 s for its socket, then connect. */
static int connect_backend(bd_session *s, const bd_opts *o)
{
    struct stat st;
    for (int i = 0; i < 300 && (stat(o->socket, &st) < 0 || !S_ISSOCK(st.st_mode)); i++)
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    vhu_frontend_config fc = {.log = o->log, .name = "bench-blk-driver", .timeout_ms = 30000};
    int rc = -ECONNREFUSED;
    for (int i = 0; i < 50 && rc == -ECONNREFUSED; i++) {
        rc = vhu_frontend_connect(&fc, o->socket, &s->fe);
        if (rc == -ECONNREFUSED)
            nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    return rc < 0 ? fail(o->socket, rc) : 0;
}

static int negotiate(bd_session *s, const bd_opts *o)
{
    uint64_t f, p = 0, nq = 1,
                want = (1ull << BD_F_VERSION_1) | (1ull << BD_F_RING_INDIRECT_DESC) | (1ull << BD_BLK_F_SIZE_MAX) |
                       (1ull << BD_BLK_F_SEG_MAX) | (1ull << BD_BLK_F_GEOMETRY) | (1ull << BD_BLK_F_RO) |
                       (1ull << BD_BLK_F_BLK_SIZE) | (1ull << BD_BLK_F_FLUSH) | (1ull << BD_BLK_F_TOPOLOGY) |
                       (1ull << BD_BLK_F_CONFIG_WCE) | (1ull << BD_BLK_F_MQ) | (1ull << BD_BLK_F_DISCARD) |
                       (1ull << BD_BLK_F_WRITE_ZEROES) | (1ull << VHU_F_PROTOCOL_FEATURES);
    if (o->event_idx)
        want |= 1ull << BD_F_RING_EVENT_IDX;
    int rc;
    if ((rc = vhu_frontend_set_owner(s->fe)) < 0)
        return fail("SET_OWNER", rc);
    if ((rc = vhu_frontend_get_features(s->fe, &f)) < 0)
        return fail("GET_FEATURES", rc);
    if (!(f & (1ull << BD_F_VERSION_1))) {
        fprintf(stderr, "bench-blk-driver: the back-end does not offer VIRTIO_F_VERSION_1 (features %#llx)\n",
                (unsigned long long)f);
        return -ENOTSUP;
    }
    if (o->write && (f & (1ull << BD_BLK_F_RO))) {
        fprintf(stderr, "bench-blk-driver: the disk is read-only (VIRTIO_BLK_F_RO): no write test\n");
        return -EROFS;
    }
    s->features = f & want;
    if (!(f & (1ull << BD_F_RING_INDIRECT_DESC)) && o->queue_size < 3 * o->qd) {
        fprintf(stderr, "bench-blk-driver: no VIRTIO_F_RING_INDIRECT_DESC: a ring of %u entries holds %u requests\n",
                o->queue_size, o->queue_size / 3);
        return -EINVAL;
    }
    if (f & (1ull << VHU_F_PROTOCOL_FEATURES)) {
        if ((rc = vhu_frontend_get_protocol_features(s->fe, &p)) < 0)
            return fail("GET_PROTOCOL_FEATURES", rc);
        uint64_t wp = VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_MQ) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK) |
                      VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIG);
        if (o->inflight)
            wp |= VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_INFLIGHT_SHMFD);
        s->protocol = p & wp;
        if ((rc = vhu_frontend_set_protocol_features(s->fe, s->protocol)) < 0)
            return fail("SET_PROTOCOL_FEATURES", rc);
    }
    if ((s->protocol & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_MQ)) && (rc = vhu_frontend_get_queue_num(s->fe, &nq)) < 0)
        return fail("GET_QUEUE_NUM", rc);
    if (o->queues > nq || (o->queues > 1 && !(f & (1ull << BD_BLK_F_MQ)))) {
        fprintf(stderr, "bench-blk-driver: %u queues asked, the back-end has %llu%s\n", o->queues,
                (unsigned long long)nq, f & (1ull << BD_BLK_F_MQ) ? "" : " (no VIRTIO_BLK_F_MQ)");
        return -ENOTSUP;
    }
    if (s->protocol & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIG)) {
        uint8_t cfg[8];
        if ((rc = vhu_frontend_get_config(s->fe, 0, cfg, sizeof(cfg), 0)) < 0)
            return fail("GET_CONFIG", rc);
        cvmm_le64 cap;
        memcpy(&cap, cfg, 8);
        s->capacity = cvmm_le64_get(cap);
    }
    s->blocks = o->blocks ? o->blocks : s->capacity / (BD_BLOCK / 512);
    if (s->blocks == 0 || (s->capacity && s->blocks > s->capacity / (BD_BLOCK / 512))) {
        fprintf(stderr, "bench-blk-driver: %llu blocks of 4 KiB asked, the disk has %llu sectors%s\n",
                (unsigned long long)s->blocks, (unsigned long long)s->capacity,
                s->capacity ? "" : " (no config space: give --blocks)");
        return -EINVAL;
    }
    return 0;
}

static int map_memory(bd_session *s, const bd_opts *o)
{
    uint64_t stride = (BD_Q_DATA + (uint64_t)o->qd * BD_BLOCK + 0xffffu) & ~0xffffull;
    s->mem_size = ((uint64_t)o->queues * stride + (2u << 20) - 1) & ~((2ull << 20) - 1);
    vmem_region_desc rd = {.gpa = 0, .size = s->mem_size, .user_addr = UVA_BASE};
    int rc = vmem_region_new_memfd(&rd, o->log, &s->reg);
    if (rc == 0)
        rc = vmem_map_new(&s->reg, 1, NULL, o->log, &s->map);
    if (rc < 0)
        return fail("guest memory", rc);
    s->hva = vmem_region_hva(s->reg);
    for (unsigned i = 0; i < o->queues; i++) {
        s->q[i].gpa = i * stride;
        s->q[i].hva = s->hva + i * stride;
    }
    if (s->protocol & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_INFLIGHT_SHMFD)) {
        vhu_inflight inf;
        if ((rc = vhu_frontend_get_inflight_fd(s->fe, (uint16_t)o->queues, (uint16_t)o->queue_size, &inf,
                                               &s->inflight_fd)) < 0)
            return fail("GET_INFLIGHT_FD", rc);
        if ((rc = vhu_frontend_set_inflight_fd(s->fe, &inf, s->inflight_fd)) < 0)
            return fail("SET_INFLIGHT_FD", rc);
    }
    if ((rc = vhu_frontend_set_features(s->fe, s->features)) < 0)
        return fail("SET_FEATURES", rc);
    vhu_mem_region wr = {.guest_addr = 0, .size = s->mem_size, .user_addr = UVA_BASE};
    int mfd = vmem_region_fd(s->reg);
    if ((rc = vhu_frontend_set_mem_table(s->fe, &wr, &mfd, 1)) < 0)
        return fail("SET_MEM_TABLE", rc);
    return 0;
}

static int start_ring(bd_session *s, const bd_opts *o, bd_queue *q)
{
    uint64_t desc = q->gpa, drv = desc + BD_Q_AVAIL, dev = desc + BD_Q_USED;
    vq_mock_config mc = {.layout = VQ_LAYOUT_SPLIT,
                         .size = o->queue_size,
                         .event_idx = (s->features >> BD_F_RING_EVENT_IDX) & 1,
                         .desc_gpa = desc,
                         .driver_gpa = drv,
                         .device_gpa = dev};
    int rc = vq_mock_new(s->map, &mc, &q->mk);
    if (rc < 0)
        return fail("ring set-up", rc);
    q->kick = eventfd(0, EFD_CLOEXEC);
    q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->kick < 0 || q->call < 0)
        return fail("eventfd", -errno);
    vhu_vring_addr a = {.index = q->index, .desc = desc + UVA_BASE, .avail = drv + UVA_BASE, .used = dev + UVA_BASE};
    const char *what = "SET_VRING_NUM";
    if ((rc = vhu_frontend_set_vring_num(s->fe, q->index, o->queue_size)) == 0 &&
        (what = "SET_VRING_BASE", rc = vhu_frontend_set_vring_base(s->fe, q->index, 0)) == 0 &&
        (what = "SET_VRING_ADDR", rc = vhu_frontend_set_vring_addr(s->fe, &a)) == 0 &&
        (what = "SET_VRING_KICK", rc = vhu_frontend_set_vring_kick(s->fe, q->index, q->kick)) == 0)
        what = "SET_VRING_CALL", rc = vhu_frontend_set_vring_call(s->fe, q->index, q->call);
    return rc < 0 ? fail(what, rc) : 0;
}

int bd_session_open(bd_session *s, const bd_opts *o)
{
    s->inflight_fd = -1;
    s->nq = o->queues;
    for (unsigned i = 0; i < BD_MAX_QUEUES; i++)
        s->q[i] = (bd_queue){.index = i, .o = o, .s = s, .kick = -1, .call = -1};
    int rc = connect_backend(s, o);
    if (rc == 0)
        rc = negotiate(s, o);
    if (rc == 0)
        rc = map_memory(s, o);
    for (unsigned i = 0; rc == 0 && i < o->queues; i++)
        rc = start_ring(s, o, &s->q[i]);
    /* With VHOST_USER_F_PROTOCOL_FEATURES rings start disabled (spec "Ring states"). */
    for (unsigned i = 0; rc == 0 && i < o->queues && (s->features >> VHU_F_PROTOCOL_FEATURES & 1); i++)
        if ((rc = vhu_frontend_set_vring_enable(s->fe, i, true)) < 0)
            (void)fail("SET_VRING_ENABLE", rc);
    if (rc < 0)
        bd_session_close(s);
    return rc;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void bd_session_close(bd_session *s)
{
    for (unsigned i = 0; i < s->nq; i++) {
        bd_queue *q = &s->q[i];
        uint32_t base;
        if (s->fe && q->mk && !atomic_load(&s->abort))
            (void)vhu_frontend_get_vring_base(s->fe, i, &base); /* QEMU stops each ring before it goes */
        vq_mock_free(q->mk);
        q->mk = NULL;
        close_fd(&q->kick);
        close_fd(&q->call);
    }
    vhu_frontend_free(s->fe);
    s->fe = NULL;
    vmem_map_free(s->map);
    s->map = NULL;
    vmem_region_unref(s->reg);
    s->reg = NULL;
    close_fd(&s->inflight_fd);
}
