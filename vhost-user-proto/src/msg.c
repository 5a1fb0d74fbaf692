/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* msg.c - message names, building, encoding and decoding (cvmm/vhu/msg.h). */
#include <errno.h>
#include <string.h>

#include "cvmm/fd.h"
#include "cvmm/vhu/msg.h"

static const char *const vhu_req_names[VHU_REQ_MAX] = {
    [VHU_REQ_NONE] = "NONE",
    [VHU_REQ_GET_FEATURES] = "GET_FEATURES",
    [VHU_REQ_SET_FEATURES] = "SET_FEATURES",
    [VHU_REQ_SET_OWNER] = "SET_OWNER",
    [VHU_REQ_RESET_OWNER] = "RESET_OWNER",
    [VHU_REQ_SET_MEM_TABLE] = "SET_MEM_TABLE",
    [VHU_REQ_SET_LOG_BASE] = "SET_LOG_BASE",
    [VHU_REQ_SET_LOG_FD] = "SET_LOG_FD",
    [VHU_REQ_SET_VRING_NUM] = "SET_VRING_NUM",
    [VHU_REQ_SET_VRING_ADDR] = "SET_VRING_ADDR",
    [VHU_REQ_SET_VRING_BASE] = "SET_VRING_BASE",
    [VHU_REQ_GET_VRING_BASE] = "GET_VRING_BASE",
    [VHU_REQ_SET_VRING_KICK] = "SET_VRING_KICK",
    [VHU_REQ_SET_VRING_CALL] = "SET_VRING_CALL",
    [VHU_REQ_SET_VRING_ERR] = "SET_VRING_ERR",
    [VHU_REQ_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
    [VHU_REQ_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
    [VHU_REQ_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
    [VHU_REQ_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
    [VHU_REQ_SEND_RARP] = "SEND_RARP",
    [VHU_REQ_NET_SET_MTU] = "NET_SET_MTU",
    [VHU_REQ_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
    [VHU_REQ_IOTLB_MSG] = "IOTLB_MSG",
    [VHU_REQ_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
    [VHU_REQ_GET_CONFIG] = "GET_CONFIG",
    [VHU_REQ_SET_CONFIG] = "SET_CONFIG",
    [VHU_REQ_CREATE_CRYPTO_SESSION] = "CREATE_CRYPTO_SESSION",
    [VHU_REQ_CLOSE_CRYPTO_SESSION] = "CLOSE_CRYPTO_SESSION",
    [VHU_REQ_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
    [VHU_REQ_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
    [VHU_REQ_POSTCOPY_END] = "POSTCOPY_END",
    [VHU_REQ_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
    [VHU_REQ_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
    [VHU_REQ_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
    [VHU_REQ_RESET_DEVICE] = "RESET_DEVICE",
    [VHU_REQ_VRING_KICK] = "VRING_KICK",
    [VHU_REQ_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
    [VHU_REQ_ADD_MEM_REG] = "ADD_MEM_REG",
    [VHU_REQ_REM_MEM_REG] = "REM_MEM_REG",
    [VHU_REQ_SET_STATUS] = "SET_STATUS",
    [VHU_REQ_GET_STATUS] = "GET_STATUS",
    [VHU_REQ_GET_SHARED_OBJECT] = "GET_SHARED_OBJECT",
    [VHU_REQ_SET_DEVICE_STATE_FD] = "SET_DEVICE_STATE_FD",
    [VHU_REQ_CHECK_DEVICE_STATE] = "CHECK_DEVICE_STATE",
    [VHU_REQ_GET_SHMEM_CONFIG] = "GET_SHMEM_CONFIG",
};

static const char *const vhu_backend_req_names[VHU_BACKEND_REQ_MAX] = {
    [VHU_BACKEND_REQ_NONE] = "NONE",
    [VHU_BACKEND_REQ_IOTLB_MSG] = "IOTLB_MSG",
    [VHU_BACKEND_REQ_CONFIG_CHANGE_MSG] = "CONFIG_CHANGE_MSG",
    [VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG] = "VRING_HOST_NOTIFIER_MSG",
    [VHU_BACKEND_REQ_VRING_CALL] = "VRING_CALL",
    [VHU_BACKEND_REQ_VRING_ERR] = "VRING_ERR",
    [VHU_BACKEND_REQ_SHARED_OBJECT_ADD] = "SHARED_OBJECT_ADD",
    [VHU_BACKEND_REQ_SHARED_OBJECT_REMOVE] = "SHARED_OBJECT_REMOVE",
    [VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP] = "SHARED_OBJECT_LOOKUP",
    [VHU_BACKEND_REQ_SHMEM_MAP] = "SHMEM_MAP",
    [VHU_BACKEND_REQ_SHMEM_UNMAP] = "SHMEM_UNMAP",
};

const char *vhu_req_name(uint32_t req) { return req < VHU_REQ_MAX ? vhu_req_names[req] : "UNKNOWN"; }

const char *vhu_backend_req_name(uint32_t req)
{
    return req < VHU_BACKEND_REQ_MAX ? vhu_backend_req_names[req] : "UNKNOWN";
}

void vhu_msg_init(vhu_msg *m, uint32_t req, uint32_t flags)
{
    m->hdr.request = req;
    m->hdr.flags = VHU_VERSION | (flags & ~VHU_VERSION_MASK);
    m->hdr.size = 0;
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        m->fds[i] = -1;
    m->nfds = 0;
}

int vhu_msg_set_payload(vhu_msg *m, const void *p, uint32_t size)
{
    if (size > VHU_PAYLOAD_MAX || (!p && size))
        return -EINVAL;
    if (size)
        memmove(m->payload.raw, p, size);
    m->hdr.size = size;
    return 0;
}

void vhu_msg_set_u64(vhu_msg *m, uint64_t v)
{
    m->payload.u64 = v;
    m->hdr.size = sizeof(uint64_t);
}

int vhu_msg_add_fd(vhu_msg *m, int fd)
{
    if (fd < 0)
        return -EBADF;
    if (m->nfds >= VHU_MAX_FDS)
        return -ENOSPC;
    m->fds[m->nfds++] = fd;
    return 0;
}

void vhu_msg_close_fds(vhu_msg *m)
{
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        if (m->fds[i] >= 0)
            cvmm_close(&m->fds[i]);
    m->nfds = 0;
}

int vhu_msg_take_fd(vhu_msg *m, uint32_t i)
{
    if (i >= VHU_MAX_FDS)
        return -1;
    int fd = m->fds[i];
    m->fds[i] = -1;
    return fd;
}

size_t vhu_msg_wire_size(const vhu_msg *m)
{
    uint32_t size = m->hdr.size > VHU_PAYLOAD_MAX ? VHU_PAYLOAD_MAX : m->hdr.size;
    return VHU_HDR_SIZE + size;
}

int vhu_msg_encode(const vhu_msg *m, void *buf, size_t cap)
{
    if (m->hdr.size > VHU_PAYLOAD_MAX)
        return -EINVAL;
    size_t len = VHU_HDR_SIZE + m->hdr.size;
    if (!buf || cap < len)
        return -ENOSPC;
    memcpy(buf, &m->hdr, VHU_HDR_SIZE);
    memcpy((char *)buf + VHU_HDR_SIZE, m->payload.raw, m->hdr.size);
    return (int)len;
}

int vhu_hdr_check(const vhu_hdr *h)
{
    if ((h->flags & VHU_VERSION_MASK) != VHU_VERSION || (h->flags & ~VHU_FLAGS_KNOWN) != 0 || h->size > VHU_PAYLOAD_MAX)
        return -EBADMSG;
    return 0;
}

int vhu_msg_decode(vhu_msg *m, const void *buf, size_t len)
{
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        m->fds[i] = -1;
    m->nfds = 0;
    if (!buf || len < VHU_HDR_SIZE)
        return -EBADMSG;
    memcpy(&m->hdr, buf, VHU_HDR_SIZE);
    int rc = vhu_hdr_check(&m->hdr);
    if (rc < 0)
        return rc;
    if (len - VHU_HDR_SIZE != m->hdr.size)
        return -EBADMSG;
    memcpy(m->payload.raw, (const char *)buf + VHU_HDR_SIZE, m->hdr.size);
    return 0;
}

void vhu_msg_build_u64(vhu_msg *m, uint32_t req, uint32_t flags, uint64_t v)
{
    vhu_msg_init(m, req, flags);
    vhu_msg_set_u64(m, v);
}

void vhu_msg_build_state(vhu_msg *m, uint32_t req, uint32_t flags, uint32_t index, uint32_t num)
{
    vhu_msg_init(m, req, flags);
    m->payload.state.index = index;
    m->payload.state.num = num;
    m->hdr.size = sizeof(vhu_vring_state);
}

int vhu_msg_build_mem_table(vhu_msg *m, uint32_t flags, const vhu_mem_region *regions, const int *fds, uint32_t n)
{
    if (n > VHU_MEM_REGIONS_MAX || (n && (!regions || !fds)))
        return -EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if (fds[i] < 0)
            return -EINVAL;
    vhu_msg_init(m, VHU_REQ_SET_MEM_TABLE, flags);
    m->payload.mem.nregions = n;
    m->payload.mem.padding = 0;
    if (n)
        memcpy(m->payload.mem.regions, regions, n * sizeof(vhu_mem_region));
    for (uint32_t i = 0; i < n; i++)
        m->fds[i] = fds[i];
    m->nfds = n;
    m->hdr.size = 8 + n * (uint32_t)sizeof(vhu_mem_region);
    return 0;
}
