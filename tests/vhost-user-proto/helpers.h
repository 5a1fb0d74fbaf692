/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** tests/vhost-user-proto/helpers.h - fixtures shared by the vhost-user-proto tests (no Criterion here, so
 *  the plain TSan program can use them too): fd counting, memfds, a capturing logger, valid sample
 *  messages for every id. */
#ifndef CVMM_TESTS_VHU_HELPERS_H
#define CVMM_TESTS_VHU_HELPERS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvmm/vhu.h"
#include "cvmm_test_fds.h"

/* ---- fds ---------------------------------------------------------------------------------------------- */

static inline bool fd_is_open(int fd) { return fd >= 0 && fcntl(fd, F_GETFD) >= 0; }

/* A memfd of @size bytes whose first byte is @tag (and "SHM!" at offset 1 for shmem checks). */
static inline int make_memfd(size_t size, uint8_t tag)
{
    int fd = memfd_create("vhu-test", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)size) < 0) {
        close(fd);
        return -1;
    }
    uint8_t b[5] = {tag, 'S', 'H', 'M', '!'};
    if (pwrite(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* First byte of @fd's mapping at @off, or -1. */
static inline int first_byte(int fd, uint64_t off, uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, (off_t)off);
    if (p == MAP_FAILED)
        return -1;
    int v = *(volatile uint8_t *)p;
    munmap(p, size);
    return v;
}

static inline int sockpair(int sv[2], bool nonblock)
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0, sv);
}

/* ---- a capturing logger (thread-safe) --------------------------------------------------------------- */
struct cap_log {
    pthread_mutex_t lock;
    int lines;
    char last[CVMM_LOG_LINE_MAX];
};

static inline void cap_log_fn(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    struct cap_log *c = opaque;
    (void)lvl;
    pthread_mutex_lock(&c->lock);
    c->lines++;
    snprintf(c->last, sizeof(c->last), "%s", line);
    pthread_mutex_unlock(&c->lock);
}

#define CAP_LOG_INIT(c)                                                                                                \
    {                                                                                                                  \
        .fn = cap_log_fn, .opaque = (c), .level = CVMM_LOG_DEBUG                                                       \
    }

/* ---- sample messages ----------------------------------------------------------------------------------- */
/* Protocol features the samples assume: everything but XEN_MMAP and GPA_ADDRESSES (tested apart). */
#define ALL_PF                                                                                                         \
    (VHU_PROTOCOL_FEATURES_KNOWN & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_XEN_MMAP) &                                        \
     ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_GPA_ADDRESSES))

/* Fill @m with a valid front-end request @id; fds are @fd repeated (borrowed).  Returns 0, -1 unknown. */
static inline int sample_req(uint32_t id, vhu_msg *m, int fd)
{
    vhu_msg_init(m, id, 0);
    memset(&m->payload, 0, 512);
    vhu_payload *p = &m->payload;
    switch (id) {
    case VHU_REQ_GET_FEATURES:
    case VHU_REQ_SET_OWNER:
    case VHU_REQ_RESET_OWNER:
    case VHU_REQ_GET_PROTOCOL_FEATURES:
    case VHU_REQ_GET_QUEUE_NUM:
    case VHU_REQ_POSTCOPY_ADVISE:
    case VHU_REQ_POSTCOPY_LISTEN:
    case VHU_REQ_POSTCOPY_END:
    case VHU_REQ_RESET_DEVICE:
    case VHU_REQ_GET_MAX_MEM_SLOTS:
    case VHU_REQ_GET_STATUS:
    case VHU_REQ_CHECK_DEVICE_STATE:
    case VHU_REQ_GET_SHMEM_CONFIG: return 0;
    case VHU_REQ_SET_LOG_FD:
    case VHU_REQ_SET_BACKEND_REQ_FD:
    case VHU_REQ_GPU_SET_SOCKET: vhu_msg_add_fd(m, fd); return 0;
    case VHU_REQ_SET_FEATURES: vhu_msg_set_u64(m, (1ull << 32) | (1ull << 30)); return 0;
    case VHU_REQ_SET_PROTOCOL_FEATURES: vhu_msg_set_u64(m, ALL_PF); return 0;
    case VHU_REQ_SEND_RARP: vhu_msg_set_u64(m, 0x0000563412005452ull); return 0;
    case VHU_REQ_NET_SET_MTU: vhu_msg_set_u64(m, 1500); return 0;
    case VHU_REQ_CLOSE_CRYPTO_SESSION: vhu_msg_set_u64(m, 7); return 0;
    case VHU_REQ_SET_STATUS: vhu_msg_set_u64(m, 0x0f); return 0;
    case VHU_REQ_SET_MEM_TABLE: {
        vhu_mem_region r[2] = {{0, 0x10000, 0x7f0000000000ull, 0}, {0x100000, 0x20000, 0x7f0000100000ull, 0x1000}};
        int fds[2] = {fd, fd};
        return vhu_msg_build_mem_table(m, 0, r, fds, 2);
    }
    case VHU_REQ_SET_LOG_BASE:
        p->log.size = 0x1000;
        p->log.offset = 0;
        m->hdr.size = 16;
        vhu_msg_add_fd(m, fd);
        return 0;
    case VHU_REQ_SET_VRING_NUM: vhu_msg_build_state(m, id, 0, 1, 256); return 0;
    case VHU_REQ_SET_VRING_BASE: vhu_msg_build_state(m, id, 0, 1, 17); return 0;
    case VHU_REQ_GET_VRING_BASE:
    case VHU_REQ_VRING_KICK: vhu_msg_build_state(m, id, 0, 1, 0); return 0;
    case VHU_REQ_SET_VRING_ENABLE:
    case VHU_REQ_SET_VRING_ENDIAN: vhu_msg_build_state(m, id, 0, 0, 1); return 0;
    case VHU_REQ_SET_VRING_ADDR:
        p->addr = (vhu_vring_addr){1, VHU_VRING_F_LOG, 0x1000, 0x3000, 0x2000, 0x3000};
        m->hdr.size = 40;
        return 0;
    case VHU_REQ_SET_VRING_KICK:
    case VHU_REQ_SET_VRING_CALL:
    case VHU_REQ_SET_VRING_ERR:
        vhu_msg_set_u64(m, 1);
        vhu_msg_add_fd(m, fd);
        return 0;
    case VHU_REQ_IOTLB_MSG:
        p->iotlb = (vhu_iotlb_msg){
            .iova = 0x1000, .size = 0x1000, .uaddr = 0x7f00000000ull, .perm = VHU_ACCESS_RW, .type = VHU_IOTLB_UPDATE};
        m->hdr.size = 32;
        return 0;
    case VHU_REQ_GET_CONFIG:
    case VHU_REQ_SET_CONFIG:
        p->config.offset = 4;
        p->config.size = 8;
        p->config.flags = VHU_CONFIG_FLAG_WRITABLE;
        memcpy(p->config.data, "cfgbytes", 8);
        m->hdr.size = VHU_CONFIG_HDR_SIZE + 8;
        return 0;
    case VHU_REQ_CREATE_CRYPTO_SESSION:
        memset(p->raw, 0x5a, 100);
        m->hdr.size = 100;
        return 0;
    case VHU_REQ_GET_INFLIGHT_FD:
        p->inflight = (vhu_inflight){.num_queues = 2, .queue_size = 256};
        m->hdr.size = 24;
        return 0;
    case VHU_REQ_SET_INFLIGHT_FD:
        p->inflight = (vhu_inflight){.mmap_size = 0x2000, .mmap_offset = 0, .num_queues = 2, .queue_size = 256};
        m->hdr.size = 24;
        vhu_msg_add_fd(m, fd);
        return 0;
    case VHU_REQ_ADD_MEM_REG:
    case VHU_REQ_REM_MEM_REG:
        p->mem_reg = (vhu_mem_reg){0, {0x200000, 0x10000, 0x7f0000200000ull, 0}};
        m->hdr.size = 40;
        if (id == VHU_REQ_ADD_MEM_REG)
            vhu_msg_add_fd(m, fd);
        return 0;
    case VHU_REQ_GET_SHARED_OBJECT:
        for (int i = 0; i < 16; i++)
            p->object.uuid[i] = (uint8_t)i;
        m->hdr.size = 16;
        return 0;
    case VHU_REQ_SET_DEVICE_STATE_FD:
        p->transfer_state = (vhu_device_state){VHU_TRANSFER_STATE_DIRECTION_SAVE, VHU_TRANSFER_STATE_PHASE_STOPPED};
        m->hdr.size = 8;
        vhu_msg_add_fd(m, fd);
        return 0;
    default: return -1;
    }
}

/* Fill @r with a valid explicit reply to @req (which owes one); fds are @fd (borrowed). */
static inline int sample_reply(const vhu_msg *req, vhu_msg *r, int fd)
{
    uint32_t id = req->hdr.request;
    vhu_msg_init(r, id, VHU_FLAG_REPLY);
    memset(&r->payload, 0, sizeof(r->payload));
    switch (id) {
    case VHU_REQ_GET_FEATURES:
    case VHU_REQ_GET_PROTOCOL_FEATURES:
    case VHU_REQ_GET_QUEUE_NUM:
    case VHU_REQ_IOTLB_MSG:
    case VHU_REQ_POSTCOPY_END:
    case VHU_REQ_GET_MAX_MEM_SLOTS:
    case VHU_REQ_GET_STATUS:
    case VHU_REQ_CHECK_DEVICE_STATE:
    case VHU_REQ_SET_LOG_BASE: vhu_msg_set_u64(r, 3); return 0;
    case VHU_REQ_GET_VRING_BASE: vhu_msg_build_state(r, id, VHU_FLAG_REPLY, req->payload.state.index, 99); return 0;
    case VHU_REQ_GET_CONFIG:
        vhu_msg_set_payload(r, &req->payload, req->hdr.size);
        memcpy(r->payload.config.data, "replied!", 8);
        return 0;
    case VHU_REQ_CREATE_CRYPTO_SESSION:
        memset(r->payload.raw, 0x11, 64);
        r->hdr.size = 64;
        return 0;
    case VHU_REQ_POSTCOPY_ADVISE: vhu_msg_add_fd(r, fd); return 0;
    case VHU_REQ_GET_INFLIGHT_FD:
        r->payload.inflight = (vhu_inflight){.mmap_size = 0x2000, .num_queues = 2, .queue_size = 256};
        r->hdr.size = 24;
        vhu_msg_add_fd(r, fd);
        return 0;
    case VHU_REQ_GET_SHARED_OBJECT: vhu_msg_add_fd(r, fd); return 0;
    case VHU_REQ_SET_DEVICE_STATE_FD:
        vhu_msg_set_u64(r, 0);
        vhu_msg_add_fd(r, fd);
        return 0;
    case VHU_REQ_GET_SHMEM_CONFIG:
        r->payload.shmem.nregions = 2;
        r->payload.shmem.mem_size[0] = 0x10000;
        r->payload.shmem.mem_size[2] = 0x200000;
        r->hdr.size = sizeof(vhu_shmem_config);
        return 0;
    default: return -1;
    }
}

/* Fill @m with a valid back-end request @id. */
static inline int sample_backend_req(uint32_t id, vhu_msg *m, int fd)
{
    vhu_msg_init(m, id, 0);
    memset(&m->payload, 0, 512);
    vhu_payload *p = &m->payload;
    switch (id) {
    case VHU_BACKEND_REQ_IOTLB_MSG:
        p->iotlb = (vhu_iotlb_msg){.iova = 0x4000, .perm = VHU_ACCESS_RO, .type = VHU_IOTLB_MISS};
        m->hdr.size = 32;
        return 0;
    case VHU_BACKEND_REQ_CONFIG_CHANGE_MSG: return 0;
    case VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG:
        p->area = (vhu_vring_area){1, 4096, 0};
        m->hdr.size = 24;
        vhu_msg_add_fd(m, fd);
        return 0;
    case VHU_BACKEND_REQ_VRING_CALL:
    case VHU_BACKEND_REQ_VRING_ERR: vhu_msg_build_state(m, id, 0, 1, 0); return 0;
    case VHU_BACKEND_REQ_SHARED_OBJECT_ADD:
    case VHU_BACKEND_REQ_SHARED_OBJECT_REMOVE:
    case VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP:
        for (int i = 0; i < 16; i++)
            p->object.uuid[i] = (uint8_t)(0xf0 + i);
        m->hdr.size = 16;
        return 0;
    case VHU_BACKEND_REQ_SHMEM_MAP:
    case VHU_BACKEND_REQ_SHMEM_UNMAP:
        p->mmap =
            (vhu_mmap){.shmid = 2, .fd_offset = 0, .shm_offset = 0x1000, .len = 0x2000, .flags = VHU_MMAP_F_WRITABLE};
        m->hdr.size = 40;
        if (id == VHU_BACKEND_REQ_SHMEM_MAP)
            vhu_msg_add_fd(m, fd);
        return 0;
    default: return -1;
    }
}

#endif
