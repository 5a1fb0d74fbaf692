/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Back-end requests (cvmm/vub/backend.h) over the vhost-user-proto back-end channel. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvmm/checked.h"
#include "cvmm/fd.h"
#include "cvmm/vhu/backend.h"
#include "fdcheck.h"
#include "internal.h"

int vub__backend_init(vub_daemon *d, struct vub_backend *b)
{
    memset(b, 0, sizeof(*b));
    b->d = d;
    int rc = pthread_mutex_init(&b->mu, NULL);
    return rc ? -rc : 0;
}

void vub__backend_fini(struct vub_backend *b)
{
    if (!b->d)
        return;
    vhu_backend_channel_free(b->ch);
    b->ch = NULL;
    pthread_mutex_destroy(&b->mu);
    b->d = NULL;
}

void vub__backend_set(struct vub_backend *b, int owned_fd, uint64_t proto)
{
    vhu_backend_channel *ch = NULL;
    if (owned_fd >= 0) {
        char name[48];
        snprintf(name, sizeof(name), "%.24s backend-channel", b->d->name);
        vhu_backend_channel_config cc = {
            .log = b->d->log,
            .name = name,
            .protocol_features = proto,
            .num_queues = b->d->nqueues,
            .timeout_ms = b->d->peer_timeout_ms,
        };
        if (vhu_backend_channel_new(&cc, owned_fd, &ch) < 0)
            ch = NULL; /* logged by vhu; the fd is closed */
    }
    pthread_mutex_lock(&b->mu);
    vhu_backend_channel *old = b->ch;
    b->ch = ch;
    b->proto = proto;
    pthread_mutex_unlock(&b->mu);
    vhu_backend_channel_free(old);
}

void vub__backend_set_shmem(struct vub_backend *b, const vhu_shmem_config *c)
{
    pthread_mutex_lock(&b->mu);
    b->shmem_valid = c != NULL;
    if (c)
        b->shmem = *c;
    pthread_mutex_unlock(&b->mu);
}

/* Runs with b->mu held.  -ENOTCONN without a channel, -EPROTO without the feature. */
static int usable(struct vub_backend *b, int feature, const char *what)
{
    if (!b->ch) {
        cvmm_logf(b->d->log, CVMM_LOG_INFO, "%s: %s: no back-end channel", b->d->name, what);
        return -ENOTCONN;
    }
    if (feature >= 0 && !(b->proto & VHU_PROTOCOL_BIT(feature))) {
        cvmm_logf(b->d->log, CVMM_LOG_WARN, "%s: %s: protocol feature %d not negotiated", b->d->name, what, feature);
        return -EPROTO;
    }
    return 0;
}

/* vhu's result -> ours: a non-zero answer is -EIO, a dead channel too (and it is dropped). */
static int result(struct vub_backend *b, int rc)
{
    if (rc == 0 || rc == -EINVAL || rc == -EPROTO)
        return rc;
    if (rc != -EREMOTEIO) {
        vhu_backend_channel_free(b->ch);
        b->ch = NULL;
    }
    return -EIO;
}

/* In-band VRING_CALL / VRING_ERR: only on a channel whose connection negotiated INBAND_NOTIFICATIONS. */
static int inband(struct vub_backend *b, unsigned index, bool err)
{
    pthread_mutex_lock(&b->mu);
    int rc = -ENOTCONN;
    if (b->ch && (b->proto & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_INBAND_NOTIFICATIONS)))
        rc =
            result(b, err ? vhu_backend_channel_vring_err(b->ch, index) : vhu_backend_channel_vring_call(b->ch, index));
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int vub__backend_vring_call(struct vub_backend *b, unsigned index) { return inband(b, index, false); }

int vub__backend_vring_err(struct vub_backend *b, unsigned index)
{
    int rc = inband(b, index, true);
    if (rc < 0)
        cvmm_logf(b->d->log, CVMM_LOG_WARN, "%s: vq%u is broken and in-band VRING_ERR could not tell the front-end: %s",
                  b->d->name, index, rc == -ENOTCONN ? "no back-end channel" : strerror(-rc));
    return rc;
}

/* The notifier page of a host notifier: @size one host page, @offset page-aligned, and a regular file must
 * hold the range (the front-end maps it shared, read-write: QEMU refuses any other size). */
static int notifier_area(struct vub_backend *b, unsigned index, int fd, uint64_t offset, uint64_t size)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    struct stat st;
    if (index >= b->d->nqueues) {
        cvmm_logf(b->d->log, CVMM_LOG_WARN, "%s: VRING_HOST_NOTIFIER_MSG for queue %u of %u", b->d->name, index,
                  b->d->nqueues);
        return -EINVAL;
    }
    if (fd < 0)
        return 0;
    if (size != page || offset % page) {
        cvmm_logf(b->d->log, CVMM_LOG_WARN,
                  "%s: vq%u: host notifier [0x%llx, +0x%llx) is not one page-aligned page of 0x%llx bytes", b->d->name,
                  index, (unsigned long long)offset, (unsigned long long)size, (unsigned long long)page);
        return -EINVAL;
    }
    if (vub__fd_check(b->d, fd, VUB__FD_MAPPABLE, "host notifier") < 0)
        return -EINVAL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && !cvmm_range_in(offset, size, 0, (uint64_t)st.st_size)) {
        cvmm_logf(b->d->log, CVMM_LOG_WARN, "%s: vq%u: host notifier [0x%llx, +0x%llx) is past the end of its file",
                  b->d->name, index, (unsigned long long)offset, (unsigned long long)size);
        return -EINVAL;
    }
    return 0;
}

int vub_backend_vring_host_notifier(vub_backend *b, unsigned index, int fd, uint64_t offset, uint64_t size)
{
    pthread_mutex_lock(&b->mu);
    int rc = usable(b, VHU_PROTOCOL_F_HOST_NOTIFIER, "VRING_HOST_NOTIFIER_MSG");
    if (rc == 0)
        rc = notifier_area(b, index, fd, offset, size);
    if (rc == 0)
        rc = result(b, vhu_backend_channel_vring_host_notifier(b->ch, index, fd < 0 ? 0 : size, fd < 0 ? 0 : offset,
                                                               fd < 0 ? -1 : fd));
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int vub_backend_config_change(vub_backend *b)
{
    pthread_mutex_lock(&b->mu);
    int rc = usable(b, VHU_PROTOCOL_F_CONFIG, "CONFIG_CHANGE_MSG");
    if (rc == 0)
        rc = result(b, vhu_backend_channel_config_change(b->ch));
    pthread_mutex_unlock(&b->mu);
    return rc;
}

/* [off, off+len) must be a non-empty page-aligned range inside shared memory region @shmid. */
static int shmem_range(struct vub_backend *b, uint8_t shmid, uint64_t off, uint64_t len)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t size = b->shmem_valid ? b->shmem.mem_size[shmid] : 0;
    if (size == 0 || len == 0 || len % page || off % page || !cvmm_range_in(off, len, 0, size)) {
        cvmm_logf(b->d->log, CVMM_LOG_WARN, "%s: shmem request [0x%llx, +0x%llx) outside region %u (0x%llx bytes)",
                  b->d->name, (unsigned long long)off, (unsigned long long)len, shmid, (unsigned long long)size);
        return -EINVAL;
    }
    return 0;
}

int vub_backend_shmem_map(vub_backend *b, uint8_t shmid, int fd, uint64_t fd_offset, uint64_t shm_offset, uint64_t len,
                          uint64_t flags)
{
    pthread_mutex_lock(&b->mu);
    int rc = usable(b, VHU_PROTOCOL_F_SHMEM, "SHMEM_MAP");
    if (rc == 0 && (fd < 0 || (flags & ~(uint64_t)VUB_SHMEM_MAP_RW) || !cvmm_range_ok(fd_offset, len)))
        rc = -EINVAL;
    if (rc == 0)
        rc = shmem_range(b, shmid, shm_offset, len);
    if (rc == 0) {
        vhu_mmap mm = {.shmid = shmid, .fd_offset = fd_offset, .shm_offset = shm_offset, .len = len, .flags = flags};
        rc = result(b, vhu_backend_channel_shmem_map(b->ch, &mm, fd));
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int vub_backend_shmem_unmap(vub_backend *b, uint8_t shmid, uint64_t shm_offset, uint64_t len)
{
    pthread_mutex_lock(&b->mu);
    int rc = usable(b, VHU_PROTOCOL_F_SHMEM, "SHMEM_UNMAP");
    if (rc == 0)
        rc = shmem_range(b, shmid, shm_offset, len);
    if (rc == 0) {
        vhu_mmap mm = {.shmid = shmid, .shm_offset = shm_offset, .len = len};
        rc = result(b, vhu_backend_channel_shmem_unmap(b->ch, &mm));
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static int shared_object(vub_backend *b, const uint8_t uuid[16], bool add)
{
    pthread_mutex_lock(&b->mu);
    int rc = usable(b, VHU_PROTOCOL_F_SHARED_OBJECT, add ? "SHARED_OBJECT_ADD" : "SHARED_OBJECT_REMOVE");
    if (rc == 0) {
        vhu_shared_object o;
        memcpy(o.uuid, uuid, 16);
        rc = result(b, add ? vhu_backend_channel_shared_object_add(b->ch, &o)
                           : vhu_backend_channel_shared_object_remove(b->ch, &o));
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int vub_backend_shared_object_add(vub_backend *b, const uint8_t uuid[16]) { return shared_object(b, uuid, true); }
int vub_backend_shared_object_remove(vub_backend *b, const uint8_t uuid[16]) { return shared_object(b, uuid, false); }

int vub_backend_shared_object_lookup(vub_backend *b, const uint8_t uuid[16], int *owned_fd_out)
{
    *owned_fd_out = -1;
    pthread_mutex_lock(&b->mu);
    int rc = usable(b, VHU_PROTOCOL_F_SHARED_OBJECT, "SHARED_OBJECT_LOOKUP");
    if (rc == 0) {
        vhu_shared_object o;
        memcpy(o.uuid, uuid, 16);
        int fd = -1;
        rc = vhu_backend_channel_shared_object_lookup(b->ch, &o, &fd);
        if (rc == -EREMOTEIO || (rc == 0 && fd < 0))
            rc = -ENOENT;
        else
            rc = result(b, rc);
        if (rc == 0 && vub__fd_check(b->d, fd, VUB__FD_ANY, "SHARED_OBJECT_LOOKUP reply") < 0) {
            cvmm_close(&fd); /* handed on unexamined otherwise (backend.h): only an fd nothing can use is refused */
            rc = -EBADF;
        }
        if (rc == 0)
            *owned_fd_out = fd;
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}
