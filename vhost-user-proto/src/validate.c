/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* validate.c - the table-driven message validator (cvmm/vhu/validate.h). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "cvmm/checked.h"
#include "cvmm/log.h"
#include "cvmm/vhu/validate.h"

#define PF(f) VHU_PROTOCOL_F_##f
#define NONE_ (-1)
/* R(size_min, size_max, fds_min, fds_max, reply kind, gate, reply size min, max, reply fds min, max) */
#define R(smin, smax, fmin, fmax, reply, gate, rsmin, rsmax, rfmin, rfmax)                                             \
    {                                                                                                                  \
        (smin), (smax), (fmin), (fmax), (reply), (gate), (rsmin), (rsmax), (rfmin), (rfmax)                            \
    }
/* A request without an explicit reply: its REPLY_ACK (when owed) is a u64 without fds. */
#define RN(smin, smax, fmin, fmax, gate) R(smin, smax, fmin, fmax, VHU_REPLY_NONE, gate, 8, 8, 0, 0)
#define RA(smin, smax, fmin, fmax, gate, rsmin, rsmax, rfmin, rfmax)                                                   \
    R(smin, smax, fmin, fmax, VHU_REPLY_ALWAYS, gate, rsmin, rsmax, rfmin, rfmax)

#define MEM_TABLE_MAX (8u + VHU_MEM_REGIONS_MAX * (uint32_t)sizeof(vhu_mem_region_xen))

/* Front-end -> back-end requests, indexed by id.  Sizes and replies from the spec's "Front-end message
 * types"; where a widely used implementation sends something else, the row accepts both and the comment in
 * cvmm/vhu/msg.h on that payload says why. */
static const vhu_msg_rule vhu_req_rules[VHU_REQ_MAX] = {
    [VHU_REQ_GET_FEATURES] = RA(0, 0, 0, 0, NONE_, 8, 8, 0, 0),
    [VHU_REQ_SET_FEATURES] = RN(8, 8, 0, 0, NONE_),
    [VHU_REQ_SET_OWNER] = RN(0, 0, 0, 0, NONE_),
    [VHU_REQ_RESET_OWNER] = RN(0, 0, 0, 0, NONE_),
    /* 8 + n * 32 (n * 40 with XEN_MMAP), n fds; the exact size is checked against nregions below.  The
     * postcopy reply is a table too (the spec: "(postcopy only) multiple memory regions description"). */
    [VHU_REQ_SET_MEM_TABLE] =
        R(8, MEM_TABLE_MAX, 0, VHU_MEM_REGIONS_MAX, VHU_REPLY_POSTCOPY, NONE_, 8, MEM_TABLE_MAX, 0, 0),
    /* u64 without LOG_SHMFD; with it a vhu_log and one fd (as QEMU, DPDK and rust-vmm send), and a reply.
     * QEMU accepts a reply of any size; libvhost-user sends a u64: we accept 0 or 8. */
    [VHU_REQ_SET_LOG_BASE] = R(8, 16, 0, 1, VHU_REPLY_IF_LOG_SHMFD, NONE_, 0, 8, 0, 0),
    [VHU_REQ_SET_LOG_FD] = RN(0, 0, 1, 1, NONE_),
    [VHU_REQ_SET_VRING_NUM] = RN(8, 8, 0, 0, NONE_),
    [VHU_REQ_SET_VRING_ADDR] = RN(40, 40, 0, 0, NONE_),
    [VHU_REQ_SET_VRING_BASE] = RN(8, 8, 0, 0, NONE_),
    [VHU_REQ_GET_VRING_BASE] = RA(8, 8, 0, 0, NONE_, 8, 8, 0, 0),
    [VHU_REQ_SET_VRING_KICK] = RN(8, 8, 0, 1, NONE_),
    [VHU_REQ_SET_VRING_CALL] = RN(8, 8, 0, 1, NONE_),
    [VHU_REQ_SET_VRING_ERR] = RN(8, 8, 0, 1, NONE_),
    [VHU_REQ_GET_PROTOCOL_FEATURES] = RA(0, 0, 0, 0, NONE_, 8, 8, 0, 0),
    [VHU_REQ_SET_PROTOCOL_FEATURES] = RN(8, 8, 0, 0, NONE_),
    [VHU_REQ_GET_QUEUE_NUM] = RA(0, 0, 0, 0, PF(MQ), 8, 8, 0, 0),
    [VHU_REQ_SET_VRING_ENABLE] = RN(8, 8, 0, 0, NONE_),
    [VHU_REQ_SEND_RARP] = RN(8, 8, 0, 0, PF(RARP)),
    [VHU_REQ_NET_SET_MTU] = RN(8, 8, 0, 0, PF(MTU)),
    [VHU_REQ_SET_BACKEND_REQ_FD] = RN(0, 0, 1, 1, PF(BACKEND_REQ)),
    [VHU_REQ_IOTLB_MSG] = RA(VHU_IOTLB_MSG_MIN_SIZE, 32, 0, 0, NONE_, 8, 8, 0, 0),
    [VHU_REQ_SET_VRING_ENDIAN] = RN(8, 8, 0, 0, PF(CROSS_ENDIAN)),
    [VHU_REQ_GET_CONFIG] = RA(VHU_CONFIG_HDR_SIZE + 1, VHU_PAYLOAD_MAX, 0, 0, PF(CONFIG), 0, VHU_PAYLOAD_MAX, 0, 0),
    [VHU_REQ_SET_CONFIG] = RN(VHU_CONFIG_HDR_SIZE + 1, VHU_PAYLOAD_MAX, 0, 0, PF(CONFIG)),
    [VHU_REQ_CREATE_CRYPTO_SESSION] = RA(1, VHU_PAYLOAD_MAX, 0, 0, PF(CRYPTO_SESSION), 1, VHU_PAYLOAD_MAX, 0, 0),
    [VHU_REQ_CLOSE_CRYPTO_SESSION] = RN(8, 8, 0, 0, PF(CRYPTO_SESSION)),
    /* The reply is the userfaultfd with an empty payload (QEMU rejects a non-empty one). */
    [VHU_REQ_POSTCOPY_ADVISE] = RA(0, 0, 0, 0, PF(PAGEFAULT), 0, 0, 1, 1),
    [VHU_REQ_POSTCOPY_LISTEN] = RN(0, 0, 0, 0, PF(PAGEFAULT)),
    [VHU_REQ_POSTCOPY_END] = RA(0, 0, 0, 0, PF(PAGEFAULT), 8, 8, 0, 0),
    /* The spec's table says "reply payload: N/A" but the text (and every implementation) replies with an
     * inflight description and the fd; mmap_size 0 without an fd means "no inflight area". */
    [VHU_REQ_GET_INFLIGHT_FD] =
        RA(VHU_INFLIGHT_MIN_SIZE, 24, 0, 0, PF(INFLIGHT_SHMFD), VHU_INFLIGHT_MIN_SIZE, 24, 0, 1),
    [VHU_REQ_SET_INFLIGHT_FD] = RN(VHU_INFLIGHT_MIN_SIZE, 24, 1, 1, PF(INFLIGHT_SHMFD)),
    [VHU_REQ_GPU_SET_SOCKET] = RN(0, 0, 1, 1, NONE_),
    [VHU_REQ_RESET_DEVICE] = RN(0, 0, 0, 0, PF(RESET_DEVICE)),
    [VHU_REQ_VRING_KICK] = RN(8, 8, 0, 0, PF(INBAND_NOTIFICATIONS)),
    [VHU_REQ_GET_MAX_MEM_SLOTS] = RA(0, 0, 0, 0, PF(CONFIGURE_MEM_SLOTS), 8, 8, 0, 0),
    /* 40 bytes (48 with XEN_MMAP).  The spec's "request payload: N/A" contradicts its own text ("The
     * message payload contains a memory region descriptor"): we follow the text, as everyone does. */
    [VHU_REQ_ADD_MEM_REG] = R(40, 48, 1, 1, VHU_REPLY_POSTCOPY, PF(CONFIGURE_MEM_SLOTS), 40, 48, 0, 0),
    /* "No file descriptors SHOULD be passed ... the back-end MAY accept messages with one file descriptor
     * ... MUST close it": we accept 0 or 1 and vhu_msg_close_fds() closes it. */
    [VHU_REQ_REM_MEM_REG] = RN(40, 48, 0, 1, PF(CONFIGURE_MEM_SLOTS)),
    [VHU_REQ_SET_STATUS] = RN(8, 8, 0, 0, PF(STATUS)),
    [VHU_REQ_GET_STATUS] = RA(0, 0, 0, 0, PF(STATUS), 8, 8, 0, 0),
    /* "Back-end will reply passing the fd when the operation is successful, or no fd otherwise"; the
     * payload is not specified: QEMU accepts any, we take up to 16 bytes. */
    [VHU_REQ_GET_SHARED_OBJECT] = RA(16, 16, 0, 0, PF(SHARED_OBJECT), 0, 16, 0, 1),
    [VHU_REQ_SET_DEVICE_STATE_FD] = RA(8, 8, 1, 1, PF(DEVICE_STATE), 8, 8, 0, 1),
    [VHU_REQ_CHECK_DEVICE_STATE] = RA(0, 0, 0, 0, PF(DEVICE_STATE), 8, 8, 0, 0),
    [VHU_REQ_GET_SHMEM_CONFIG] =
        RA(0, 0, 0, 0, PF(SHMEM), (uint32_t)sizeof(vhu_shmem_config), (uint32_t)sizeof(vhu_shmem_config), 0, 0),
};

/* Back-end -> front-end requests.  Every one may carry NEED_REPLY (REPLY_ACK), answered with a u64.
 * fds: the spec lets a back-end send fds when BACKEND_SEND_FD is negotiated, yet defines HOST_NOTIFIER and
 * SHMEM_MAP (gated by their own features only) as carrying one.  Like QEMU's reader we accept those two
 * fds under their own feature, and the rows refuse fds on every other back-end request. */
static const vhu_msg_rule vhu_backend_req_rules[VHU_BACKEND_REQ_MAX] = {
    [VHU_BACKEND_REQ_IOTLB_MSG] = RN(VHU_IOTLB_MSG_MIN_SIZE, 32, 0, 0, NONE_),
    [VHU_BACKEND_REQ_CONFIG_CHANGE_MSG] = RN(0, 0, 0, 0, PF(CONFIG)),
    [VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG] = RN(24, 24, 0, 1, PF(HOST_NOTIFIER)),
    [VHU_BACKEND_REQ_VRING_CALL] = RN(8, 8, 0, 0, PF(INBAND_NOTIFICATIONS)),
    [VHU_BACKEND_REQ_VRING_ERR] = RN(8, 8, 0, 0, PF(INBAND_NOTIFICATIONS)),
    [VHU_BACKEND_REQ_SHARED_OBJECT_ADD] = RN(16, 16, 0, 0, PF(SHARED_OBJECT)),
    [VHU_BACKEND_REQ_SHARED_OBJECT_REMOVE] = RN(16, 16, 0, 0, PF(SHARED_OBJECT)),
    /* "Frontend will reply passing the fd and a zero when the operation is successful, or non-zero
     * otherwise ... no fd is sent" */
    [VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP] = RA(16, 16, 0, 0, PF(SHARED_OBJECT), 8, 8, 0, 1),
    [VHU_BACKEND_REQ_SHMEM_MAP] = RN(40, 40, 1, 1, PF(SHMEM)),
    [VHU_BACKEND_REQ_SHMEM_UNMAP] = RN(40, 40, 0, 0, PF(SHMEM)),
};

/* Rows with size_max == 0 and size_min == 0 and reply NONE are legitimate (SET_OWNER); an id without a
 * row is recognised by its all-zero rule AND a NULL name slot: we keep an explicit "known" test. */
static bool req_known(uint32_t req) { return req > VHU_REQ_NONE && req < VHU_REQ_MAX; }
static bool backend_req_known(uint32_t req) { return req > VHU_BACKEND_REQ_NONE && req < VHU_BACKEND_REQ_MAX; }

const vhu_msg_rule *vhu_req_rule(uint32_t req) { return req_known(req) ? &vhu_req_rules[req] : NULL; }

const vhu_msg_rule *vhu_backend_req_rule(uint32_t req)
{
    return backend_req_known(req) ? &vhu_backend_req_rules[req] : NULL;
}

/* ------------------------------------------------------------------------------------------------------ */

enum chan { CHAN_MAIN, CHAN_BACKEND };

typedef struct vcheck {
    const vhu_validate_ctx *ctx;
    const vhu_msg *m; /* NULL when only a payload is checked (vhu_validate_shmem_config) */
    const vhu_hdr *hdr;
    enum chan chan;
    const char *what; /* "request" / "reply" */
} vcheck;

static const char *msg_name(const vcheck *v)
{
    return v->chan == CHAN_MAIN ? vhu_req_name(v->hdr->request) : vhu_backend_req_name(v->hdr->request);
}

static CVMM_PRINTF(3, 4) int reject(const vcheck *v, int err, const char *fmt, ...)
{
    const struct cvmm_log *log = v->ctx ? v->ctx->log : NULL;
    if (cvmm_log_enabled(log, CVMM_LOG_WARN)) {
        char why[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        cvmm_logf(log, CVMM_LOG_WARN, "%s: %s%s %s (id %u, size %u, %u fds) rejected: %s",
                  v->ctx && v->ctx->name ? v->ctx->name : "vhu", v->chan == CHAN_BACKEND ? "backend " : "", msg_name(v),
                  v->what, v->hdr->request, v->hdr->size, v->m ? v->m->nfds : 0, why);
    }
    return err;
}

static bool has_pf(const vhu_validate_ctx *ctx, int f)
{
    return ctx && (ctx->protocol_features & VHU_PROTOCOL_BIT(f)) != 0;
}

static uint64_t page_size(const vhu_validate_ctx *ctx)
{
    if (ctx && ctx->page_size)
        return ctx->page_size;
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (uint64_t)p : 4096u;
}

static int check_index(const vcheck *v, uint64_t index)
{
    if (v->ctx && v->ctx->num_queues && index >= v->ctx->num_queues)
        return reject(v, -EBADMSG, "vring index %llu >= %u queues", (unsigned long long)index, v->ctx->num_queues);
    return 0;
}

static int check_size(const vcheck *v, uint32_t min, uint32_t max)
{
    uint32_t size = v->m->hdr.size;
    if (size < min || size > max) {
        if (min == max)
            return reject(v, -EBADMSG, "payload is %u bytes, expected %u", size, min);
        return reject(v, -EBADMSG, "payload is %u bytes, expected %u..%u", size, min, max);
    }
    return 0;
}

static int check_fds(const vcheck *v, uint32_t min, uint32_t max)
{
    uint32_t n = v->m->nfds;
    if (n < min || n > max)
        return reject(v, -EBADF, "%u fds, expected %u..%u", n, min, max);
    return 0;
}

static int check_region(const vcheck *v, const vhu_mem_region *r, bool xen, uint32_t xen_flags, bool rem)
{
    uint64_t end;
    if (r->size == 0)
        return reject(v, -EBADMSG, "region at gpa 0x%llx has size 0", (unsigned long long)r->guest_addr);
    if (!cvmm_add_u64(r->guest_addr, r->size - 1, &end) || !cvmm_add_u64(r->user_addr, r->size - 1, &end) ||
        (!rem && !cvmm_add_u64(r->mmap_offset, r->size - 1, &end)))
        return reject(v, -EOVERFLOW, "region gpa 0x%llx uva 0x%llx offset 0x%llx + size 0x%llx wraps",
                      (unsigned long long)r->guest_addr, (unsigned long long)r->user_addr,
                      (unsigned long long)r->mmap_offset, (unsigned long long)r->size);
    /* Spec: with GPA_ADDRESSES the user address "must duplicate guest address".  This is also what stops
     * a peer that means the old rust-vmm SHMEM bit 21 (see msg.h): it sends host virtual addresses. */
    if (has_pf(v->ctx, VHU_PROTOCOL_F_GPA_ADDRESSES) && r->user_addr != r->guest_addr)
        return reject(v, -EBADMSG, "GPA_ADDRESSES negotiated but user address 0x%llx != guest address 0x%llx",
                      (unsigned long long)r->user_addr, (unsigned long long)r->guest_addr);
    if (xen && (xen_flags & ~VHU_XEN_MMAP_KNOWN))
        return reject(v, -EBADMSG, "unknown xen mmap flags 0x%x", xen_flags);
    return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    /* Both ranges are known not to wrap (last byte a + alen - 1 fits). */
    return a <= b + (blen - 1) && b <= a + (alen - 1);
}

static int check_mem_table(const vcheck *v, bool reply)
{
    const vhu_msg *m = v->m;
    bool xen = has_pf(v->ctx, VHU_PROTOCOL_F_XEN_MMAP);
    uint32_t rsize = xen ? (uint32_t)sizeof(vhu_mem_region_xen) : (uint32_t)sizeof(vhu_mem_region);
    uint32_t n = m->payload.mem.nregions;
    if (n > VHU_MEM_REGIONS_MAX)
        return reject(v, -EBADMSG, "%u regions, at most %u", n, VHU_MEM_REGIONS_MAX);
    if (m->hdr.size != 8 + n * rsize)
        return reject(v, -EBADMSG, "payload is %u bytes, %u regions need %u", m->hdr.size, n, 8 + n * rsize);
    if (reply)
        return 0; /* postcopy reply: the back-end's bases, no fds (checked by the row) */
    if (m->nfds != n)
        return reject(v, -EBADF, "%u fds for %u regions", m->nfds, n);
    vhu_mem_region r[VHU_MEM_REGIONS_MAX];
    for (uint32_t i = 0; i < n; i++) {
        uint32_t xflags = 0;
        if (xen) {
            r[i] = m->payload.mem_xen.regions[i].r;
            xflags = m->payload.mem_xen.regions[i].xen_mmap_flags;
        } else {
            r[i] = m->payload.mem.regions[i];
        }
        int rc = check_region(v, &r[i], xen, xflags, false);
        if (rc < 0)
            return rc;
    }
    /* Spec: guest ranges never overlap, user ranges never overlap ("a bug in the front-end"). */
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = i + 1; j < n; j++)
            if (ranges_overlap(r[i].guest_addr, r[i].size, r[j].guest_addr, r[j].size) ||
                ranges_overlap(r[i].user_addr, r[i].size, r[j].user_addr, r[j].size))
                return reject(v, -EBADMSG, "regions %u and %u overlap", i, j);
    return 0;
}

static int check_mem_reg(const vcheck *v, bool rem)
{
    bool xen = has_pf(v->ctx, VHU_PROTOCOL_F_XEN_MMAP);
    uint32_t want = xen ? (uint32_t)sizeof(vhu_mem_reg_xen) : (uint32_t)sizeof(vhu_mem_reg);
    if (v->m->hdr.size != want)
        return reject(v, -EBADMSG, "payload is %u bytes, expected %u%s", v->m->hdr.size, want,
                      xen ? " (XEN_MMAP)" : "");
    if (xen)
        return check_region(v, &v->m->payload.mem_reg_xen.region.r, true,
                            v->m->payload.mem_reg_xen.region.xen_mmap_flags, rem);
    return check_region(v, &v->m->payload.mem_reg.region, false, 0, rem);
}

static int check_vring_fd_u64(const vcheck *v)
{
    uint64_t u = v->m->payload.u64;
    if (u & ~(VHU_VRING_IDX_MASK | VHU_VRING_NOFD_MASK))
        return reject(v, -EBADMSG, "reserved bits set in 0x%llx", (unsigned long long)u);
    int rc = check_index(v, u & VHU_VRING_IDX_MASK);
    if (rc < 0)
        return rc;
    uint32_t want = (u & VHU_VRING_NOFD_MASK) ? 0 : 1;
    if (v->m->nfds != want)
        return reject(v, -EBADF, "%u fds but the no-fd bit says %u", v->m->nfds, want);
    return 0;
}

static int check_config(const vcheck *v)
{
    const vhu_config *c = &v->m->payload.config;
    uint32_t end;
    if (c->size == 0)
        return reject(v, -EBADMSG, "config size 0");
    if (v->m->hdr.size != VHU_CONFIG_HDR_SIZE + (uint64_t)c->size)
        return reject(v, -EBADMSG, "payload is %u bytes for %u config bytes", v->m->hdr.size, c->size);
    if (!cvmm_add_u32(c->offset, c->size, &end))
        return reject(v, -EOVERFLOW, "config offset %u + size %u wraps", c->offset, c->size);
    if (end > VHU_CONFIG_SPACE_MAX)
        return reject(v, -EBADMSG, "config [%u, %u) beyond %u", c->offset, end, VHU_CONFIG_SPACE_MAX);
    if (c->flags != VHU_CONFIG_FLAG_WRITABLE && c->flags != VHU_CONFIG_FLAG_MIGRATION)
        return reject(v, -EBADMSG, "config flags %u", c->flags);
    return 0;
}

static int check_inflight(const vcheck *v, bool want_area)
{
    const vhu_inflight *in = &v->m->payload.inflight;
    uint64_t end;
    if (in->num_queues == 0 || in->queue_size == 0)
        return reject(v, -EBADMSG, "inflight %u queues of size %u", in->num_queues, in->queue_size);
    if (want_area && in->mmap_size == 0)
        return reject(v, -EBADMSG, "inflight mmap size 0");
    if (!cvmm_add_u64(in->mmap_offset, in->mmap_size, &end))
        return reject(v, -EOVERFLOW, "inflight offset 0x%llx + size 0x%llx wraps", (unsigned long long)in->mmap_offset,
                      (unsigned long long)in->mmap_size);
    return 0;
}

static int check_iotlb(const vcheck *v, bool from_backend)
{
    const vhu_iotlb_msg *t = &v->m->payload.iotlb;
    uint64_t end;
    if (t->perm > VHU_ACCESS_RW)
        return reject(v, -EBADMSG, "iotlb perm %u", t->perm);
    if (from_backend ? (t->type != VHU_IOTLB_MISS && t->type != VHU_IOTLB_ACCESS_FAIL)
                     : (t->type != VHU_IOTLB_UPDATE && t->type != VHU_IOTLB_INVALIDATE))
        return reject(v, -EBADMSG, "iotlb type %u not allowed in this direction", t->type);
    if (!from_backend && !cvmm_add_u64(t->iova, t->size, &end))
        return reject(v, -EOVERFLOW, "iotlb iova 0x%llx + size 0x%llx wraps", (unsigned long long)t->iova,
                      (unsigned long long)t->size);
    if (!from_backend && t->type == VHU_IOTLB_UPDATE && (t->size == 0 || !cvmm_range_ok(t->uaddr, t->size)))
        return reject(v, t->size == 0 ? -EBADMSG : -EOVERFLOW, "iotlb update uaddr 0x%llx size 0x%llx",
                      (unsigned long long)t->uaddr, (unsigned long long)t->size);
    return 0;
}

static int check_state_zero_num(const vcheck *v)
{
    if (v->m->payload.state.num != 0)
        return reject(v, -EBADMSG, "reserved num %u must be 0", v->m->payload.state.num);
    return check_index(v, v->m->payload.state.index);
}

static int check_mmap(const vcheck *v, bool map)
{
    const vhu_mmap *mm = &v->m->payload.mmap;
    uint64_t ps = page_size(v->ctx), end;
    if (mm->len == 0)
        return reject(v, -EBADMSG, "shmid %u: length 0", mm->shmid);
    if (map && (mm->flags & ~VHU_MMAP_F_KNOWN))
        return reject(v, -EBADMSG, "shmid %u: unknown flags 0x%llx", mm->shmid, (unsigned long long)mm->flags);
    /* The spec does not spell out alignment, but the front-end mmap()s these with MAP_FIXED, which needs
     * page-aligned offsets and length; refuse early instead of failing half way. */
    if (mm->shm_offset % ps || mm->len % ps || (map && mm->fd_offset % ps))
        return reject(v, -EBADMSG, "shmid %u: offsets/length not aligned to %llu", mm->shmid, (unsigned long long)ps);
    if (!cvmm_add_u64(mm->shm_offset, mm->len, &end) || (map && !cvmm_add_u64(mm->fd_offset, mm->len, &end)))
        return reject(v, -EOVERFLOW, "shmid %u: offset + length 0x%llx wraps", mm->shmid, (unsigned long long)mm->len);
    if (v->ctx && v->ctx->shmem) {
        uint64_t size = v->ctx->shmem->mem_size[mm->shmid];
        if (size == 0 || !cvmm_range_in(mm->shm_offset, mm->len, 0, size))
            return reject(v, -EFAULT, "shmid %u: [0x%llx, +0x%llx) outside its region of 0x%llx bytes", mm->shmid,
                          (unsigned long long)mm->shm_offset, (unsigned long long)mm->len, (unsigned long long)size);
    }
    return 0;
}

/* Header checks common to all directions.  Returns the rule or NULL with *rc set. */
static const vhu_msg_rule *check_head(const vcheck *v, bool reply, int *rc)
{
    const vhu_msg *m = v->m;
    *rc = 0;
    if ((m->hdr.flags & VHU_VERSION_MASK) != VHU_VERSION) {
        *rc = reject(v, -EBADMSG, "version %u", m->hdr.flags & VHU_VERSION_MASK);
        return NULL;
    }
    if (m->hdr.flags & ~VHU_FLAGS_KNOWN) {
        *rc = reject(v, -EBADMSG, "unknown flags 0x%x", m->hdr.flags);
        return NULL;
    }
    if (m->hdr.size > VHU_PAYLOAD_MAX) {
        *rc = reject(v, -EBADMSG, "payload larger than %u", VHU_PAYLOAD_MAX);
        return NULL;
    }
    if (!!(m->hdr.flags & VHU_FLAG_REPLY) != reply) {
        *rc = reject(v, -EBADMSG, reply ? "REPLY flag missing" : "REPLY flag set on a request");
        return NULL;
    }
    if (m->nfds > VHU_MAX_FDS) {
        *rc = reject(v, -EBADF, "more than %u fds", VHU_MAX_FDS);
        return NULL;
    }
    const vhu_msg_rule *r = v->chan == CHAN_MAIN ? vhu_req_rule(m->hdr.request) : vhu_backend_req_rule(m->hdr.request);
    if (!r) {
        *rc = reject(v, -ENOTSUP, "unknown id");
        return NULL;
    }
    if (r->gate >= 0 && !has_pf(v->ctx, r->gate)) {
        *rc = reject(v, -EPROTO, "protocol feature bit %d not negotiated", r->gate);
        return NULL;
    }
    return r;
}

/* The table checks every request shares: header, then the rule's payload size and fd counts. */
static int check_request_rule(const vcheck *v)
{
    int rc;
    const vhu_msg_rule *r = check_head(v, false, &rc);
    if (!r)
        return rc;
    if ((rc = check_size(v, r->size_min, r->size_max)) < 0 || (rc = check_fds(v, r->fds_min, r->fds_max)) < 0)
        return rc;
    return 0;
}

int vhu_validate_req(const vhu_msg *m, const vhu_validate_ctx *ctx)
{
    vcheck v = {ctx, m, &m->hdr, CHAN_MAIN, "request"};
    int rc = check_request_rule(&v);
    if (rc < 0)
        return rc;
    const vhu_payload *p = &m->payload;
    switch ((enum vhu_req)m->hdr.request) {
    case VHU_REQ_SET_MEM_TABLE: return check_mem_table(&v, false);
    case VHU_REQ_SET_LOG_BASE: {
        bool shm = has_pf(ctx, VHU_PROTOCOL_F_LOG_SHMFD);
        if ((rc = check_size(&v, shm ? 16 : 8, shm ? 16 : 8)) < 0 || (rc = check_fds(&v, shm, shm)) < 0)
            return rc;
        uint64_t end;
        if (shm && !cvmm_add_u64(p->log.offset, p->log.size, &end))
            return reject(&v, -EOVERFLOW, "log offset 0x%llx + size 0x%llx wraps", (unsigned long long)p->log.offset,
                          (unsigned long long)p->log.size);
        if (shm && p->log.size == 0)
            return reject(&v, -EBADMSG, "log size 0");
        return 0;
    }
    case VHU_REQ_SET_VRING_NUM:
        if (p->state.num == 0 || p->state.num > VHU_VRING_SIZE_MAX)
            return reject(&v, -EBADMSG, "vring %u size %u not in 1..%u", p->state.index, p->state.num,
                          VHU_VRING_SIZE_MAX);
        return check_index(&v, p->state.index);
    case VHU_REQ_SET_VRING_ADDR:
        if (p->addr.flags & ~VHU_VRING_F_LOG)
            return reject(&v, -EBADMSG, "vring %u unknown flags 0x%x", p->addr.index, p->addr.flags);
        return check_index(&v, p->addr.index);
    /* GET_VRING_BASE: the spec says "The request payload's num field is currently reserved and must be set
     * to 0".  DPDK 22.11's virtio-user sends whatever its stack variable holds (the previous ring's base), so
     * num is treated as reserved: ignored, never refused (VUB_QUIRK_DPDK_GET_VRING_BASE_NUM, cvmm/vub/quirks.h). */
    case VHU_REQ_SET_VRING_BASE:
    case VHU_REQ_GET_VRING_BASE: return check_index(&v, p->state.index);
    case VHU_REQ_VRING_KICK: return check_state_zero_num(&v);
    case VHU_REQ_SET_VRING_KICK:
    case VHU_REQ_SET_VRING_CALL:
    case VHU_REQ_SET_VRING_ERR: return check_vring_fd_u64(&v);
    case VHU_REQ_SET_VRING_ENABLE:
    case VHU_REQ_SET_VRING_ENDIAN:
        if (p->state.num > 1)
            return reject(&v, -EBADMSG, "vring %u value %u is not 0 or 1", p->state.index, p->state.num);
        return check_index(&v, p->state.index);
    case VHU_REQ_IOTLB_MSG: return check_iotlb(&v, false);
    case VHU_REQ_GET_CONFIG:
    case VHU_REQ_SET_CONFIG: return check_config(&v);
    case VHU_REQ_GET_INFLIGHT_FD: return check_inflight(&v, false);
    case VHU_REQ_SET_INFLIGHT_FD: return check_inflight(&v, true);
    case VHU_REQ_ADD_MEM_REG: return check_mem_reg(&v, false);
    case VHU_REQ_REM_MEM_REG: return check_mem_reg(&v, true);
    case VHU_REQ_SET_STATUS:
        if (p->u64 > 0xff)
            return reject(&v, -EBADMSG, "device status 0x%llx is wider than 8 bits", (unsigned long long)p->u64);
        return 0;
    case VHU_REQ_SET_DEVICE_STATE_FD:
        if (p->transfer_state.direction > VHU_TRANSFER_STATE_DIRECTION_LOAD ||
            p->transfer_state.phase != VHU_TRANSFER_STATE_PHASE_STOPPED)
            return reject(&v, -EBADMSG, "transfer direction %u phase %u", p->transfer_state.direction,
                          p->transfer_state.phase);
        return 0;
    default: return 0;
    }
}

int vhu_validate_shmem_config(const vhu_shmem_config *c, const vhu_validate_ctx *ctx)
{
    vhu_hdr h = {VHU_REQ_GET_SHMEM_CONFIG, VHU_VERSION | VHU_FLAG_REPLY, sizeof(*c)};
    vcheck v = {ctx, NULL, &h, CHAN_MAIN, "reply"};
    uint64_t ps = page_size(ctx);
    uint32_t used = 0;
    if (c->nregions > VHU_SHMEM_REGIONS_MAX)
        return reject(&v, -EBADMSG, "nregions %u > %u", c->nregions, VHU_SHMEM_REGIONS_MAX);
    for (uint32_t i = 0; i < VHU_SHMEM_REGIONS_MAX; i++) {
        if (c->mem_size[i] % ps)
            return reject(&v, -EBADMSG, "shmid %u size 0x%llx is not a multiple of the page size %llu", i,
                          (unsigned long long)c->mem_size[i], (unsigned long long)ps);
        used += c->mem_size[i] != 0;
    }
    /* Spec: "num regions specifies the number of valid regions (non-zero size). The array index
     * corresponds to the shared memory ID".  Sparse ids (0 and 2) give nregions 2 with mem_size[2] set.
     * (QEMU's front-end at the time of the seed loops over the first nregions entries and would miss
     * shmid 2; we follow the spec and read all 256.) */
    if (used != c->nregions)
        return reject(&v, -EBADMSG, "nregions %u but %u non-zero sizes", c->nregions, used);
    return 0;
}

int vhu_validate_reply(const vhu_msg *reply, const vhu_msg *req, const vhu_validate_ctx *ctx)
{
    vcheck v = {ctx, reply, &reply->hdr, CHAN_MAIN, "reply"};
    int rc;
    const vhu_msg_rule *r = check_head(&v, true, &rc);
    if (!r)
        return rc;
    if (reply->hdr.request != req->hdr.request)
        return reject(&v, -EPROTO, "answers %s, we asked %s", vhu_req_name(reply->hdr.request),
                      vhu_req_name(req->hdr.request));
    enum vhu_owed owed = vhu_req_owed(req, ctx);
    if (owed != VHU_OWED_REPLY) {
        if ((rc = check_size(&v, 8, 8)) < 0 || (rc = check_fds(&v, 0, 0)) < 0)
            return rc;
        return 0;
    }
    if ((rc = check_size(&v, r->reply_size_min, r->reply_size_max)) < 0 ||
        (rc = check_fds(&v, r->reply_fds_min, r->reply_fds_max)) < 0)
        return rc;
    const vhu_payload *p = &reply->payload;
    switch ((enum vhu_req)reply->hdr.request) {
    case VHU_REQ_SET_MEM_TABLE:
        if ((rc = check_mem_table(&v, true)) < 0)
            return rc;
        if (p->mem.nregions != req->payload.mem.nregions)
            return reject(&v, -EBADMSG, "%u regions, we sent %u", p->mem.nregions, req->payload.mem.nregions);
        return 0;
    case VHU_REQ_ADD_MEM_REG: {
        uint32_t want = has_pf(ctx, VHU_PROTOCOL_F_XEN_MMAP) ? 48 : 40;
        return check_size(&v, want, want);
    }
    case VHU_REQ_GET_VRING_BASE:
        if (p->state.index != req->payload.state.index)
            return reject(&v, -EBADMSG, "vring %u, we asked %u", p->state.index, req->payload.state.index);
        return 0;
    case VHU_REQ_GET_CONFIG:
        if (reply->hdr.size == 0)
            return 0; /* spec: "zero length of payload to indicate an error" */
        if (reply->hdr.size != req->hdr.size || p->config.offset != req->payload.config.offset ||
            p->config.size != req->payload.config.size || p->config.flags != req->payload.config.flags)
            return reject(&v, -EBADMSG, "config reply does not match the request (offset %u size %u)", p->config.offset,
                          p->config.size);
        return 0;
    case VHU_REQ_GET_INFLIGHT_FD: {
        uint32_t want = p->inflight.mmap_size ? 1 : 0;
        if (reply->nfds != want)
            return reject(&v, -EBADF, "%u fds for mmap size 0x%llx", reply->nfds,
                          (unsigned long long)p->inflight.mmap_size);
        uint64_t end;
        if (!cvmm_add_u64(p->inflight.mmap_offset, p->inflight.mmap_size, &end))
            return reject(&v, -EOVERFLOW, "inflight offset + size wraps");
        return 0;
    }
    case VHU_REQ_SET_DEVICE_STATE_FD: {
        uint64_t u = p->u64;
        if (u & ~(VHU_DEVICE_STATE_STATUS_MASK | VHU_DEVICE_STATE_NOFD_MASK))
            return reject(&v, -EBADMSG, "reserved bits in 0x%llx", (unsigned long long)u);
        uint32_t want = (u & VHU_DEVICE_STATE_NOFD_MASK) ? 0 : 1;
        if (reply->nfds != want)
            return reject(&v, -EBADF, "%u fds but the no-fd bit says %u", reply->nfds, want);
        if ((u & VHU_DEVICE_STATE_STATUS_MASK) && want)
            return reject(&v, -EBADF, "an error status with an fd"); /* "must not both" */
        return 0;
    }
    case VHU_REQ_GET_SHMEM_CONFIG: return vhu_validate_shmem_config(&p->shmem, ctx);
    default: return 0;
    }
}

int vhu_validate_backend_req(const vhu_msg *m, const vhu_validate_ctx *ctx)
{
    vcheck v = {ctx, m, &m->hdr, CHAN_BACKEND, "request"};
    int rc = check_request_rule(&v);
    if (rc < 0)
        return rc;
    const vhu_payload *p = &m->payload;
    switch ((enum vhu_backend_req)m->hdr.request) {
    case VHU_BACKEND_REQ_IOTLB_MSG: return check_iotlb(&v, true);
    case VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG: {
        uint64_t u = p->area.u64, end;
        if (u & ~(VHU_VRING_IDX_MASK | VHU_VRING_NOFD_MASK))
            return reject(&v, -EBADMSG, "reserved bits set in 0x%llx", (unsigned long long)u);
        if ((rc = check_index(&v, u & VHU_VRING_IDX_MASK)) < 0)
            return rc;
        uint32_t want = (u & VHU_VRING_NOFD_MASK) ? 0 : 1;
        if (m->nfds != want)
            return reject(&v, -EBADF, "%u fds but the no-fd bit says %u", m->nfds, want);
        if (want && p->area.size == 0)
            return reject(&v, -EBADMSG, "host notifier size 0");
        if (!cvmm_add_u64(p->area.offset, p->area.size, &end))
            return reject(&v, -EOVERFLOW, "host notifier offset + size wraps");
        return 0;
    }
    case VHU_BACKEND_REQ_VRING_CALL:
    case VHU_BACKEND_REQ_VRING_ERR: return check_state_zero_num(&v);
    case VHU_BACKEND_REQ_SHMEM_MAP: return check_mmap(&v, true);
    case VHU_BACKEND_REQ_SHMEM_UNMAP: return check_mmap(&v, false);
    default: return 0;
    }
}

int vhu_validate_backend_reply(const vhu_msg *reply, const vhu_msg *req, const vhu_validate_ctx *ctx)
{
    vcheck v = {ctx, reply, &reply->hdr, CHAN_BACKEND, "reply"};
    int rc;
    const vhu_msg_rule *r = check_head(&v, true, &rc);
    if (!r)
        return rc;
    if (reply->hdr.request != req->hdr.request)
        return reject(&v, -EPROTO, "answers %s, we asked %s", vhu_backend_req_name(reply->hdr.request),
                      vhu_backend_req_name(req->hdr.request));
    if (vhu_backend_req_owed(req, ctx) != VHU_OWED_REPLY)
        return (rc = check_size(&v, 8, 8)) < 0 ? rc : check_fds(&v, 0, 0);
    if ((rc = check_size(&v, r->reply_size_min, r->reply_size_max)) < 0 ||
        (rc = check_fds(&v, r->reply_fds_min, r->reply_fds_max)) < 0)
        return rc;
    if (reply->hdr.request == VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP) {
        uint32_t want = reply->payload.u64 == 0 ? 1 : 0;
        if (reply->nfds != want)
            return reject(&v, -EBADF, "%u fds with status %llu", reply->nfds, (unsigned long long)reply->payload.u64);
    }
    return 0;
}

static enum vhu_owed ack_or_nothing(const vhu_msg *m, const vhu_validate_ctx *ctx)
{
    return (m->hdr.flags & VHU_FLAG_NEED_REPLY) && has_pf(ctx, VHU_PROTOCOL_F_REPLY_ACK) ? VHU_OWED_ACK
                                                                                         : VHU_OWED_NOTHING;
}

enum vhu_owed vhu_req_owed(const vhu_msg *m, const vhu_validate_ctx *ctx)
{
    const vhu_msg_rule *r = vhu_req_rule(m->hdr.request);
    if (r) {
        switch ((enum vhu_reply_kind)r->reply) {
        case VHU_REPLY_ALWAYS: return VHU_OWED_REPLY;
        case VHU_REPLY_IF_LOG_SHMFD:
            if (has_pf(ctx, VHU_PROTOCOL_F_LOG_SHMFD))
                return VHU_OWED_REPLY;
            break;
        case VHU_REPLY_POSTCOPY:
            if (ctx && ctx->postcopy_listening)
                return VHU_OWED_REPLY;
            break;
        case VHU_REPLY_NONE: break;
        }
    }
    return ack_or_nothing(m, ctx);
}

enum vhu_owed vhu_backend_req_owed(const vhu_msg *m, const vhu_validate_ctx *ctx)
{
    const vhu_msg_rule *r = vhu_backend_req_rule(m->hdr.request);
    if (r && r->reply == VHU_REPLY_ALWAYS)
        return VHU_OWED_REPLY;
    return ack_or_nothing(m, ctx);
}
