/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The device vtable: one dev_op_*() wrapper per op with its NULL default, its log line on failure and the
 * checks on what it returns (STYLE §10). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "cvmm/vub/serve.h"

static int op_failed(vub_daemon *d, const char *op, int rc)
{
    if (rc > 0) /* an op returns 0 or -errno; a positive value is a device bug */
        rc = -EIO;
    if (rc < 0)
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: op %s failed: %s", d->name, op, strerror(-rc));
    return rc;
}

int vub__dev_features_acked(vub_daemon *d, uint64_t features)
{
    if (!d->ops->features_acked)
        return 0;
    return op_failed(d, "features_acked", d->ops->features_acked(d->ctx, features));
}

bool vub__dev_has_config(const vub_daemon *d) { return d->ops->get_config != NULL; }
bool vub__dev_has_shmem(const vub_daemon *d) { return d->ops->get_shmem_config != NULL; }
bool vub__dev_has_state(const vub_daemon *d) { return d->ops->state_save || d->ops->state_load; }

/* off + len must lie inside the device's config space (cannot wrap: both are 32-bit, summed in 64). */
static int config_range(vub_daemon *d, const char *op, uint32_t off, uint32_t len)
{
    if ((uint64_t)off + len > d->info->config_size || len == 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: %s [%u, +%u) outside config space of %u bytes", d->name, op, off, len,
                  d->info->config_size);
        return -EINVAL;
    }
    return 0;
}

int vub__dev_get_config(vub_daemon *d, uint32_t off, void *buf, uint32_t len)
{
    if (!d->ops->get_config) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: GET_CONFIG but the device has no config space", d->name);
        return -ENOTSUP;
    }
    int rc = config_range(d, "GET_CONFIG", off, len);
    if (rc < 0)
        return rc;
    return op_failed(d, "get_config", d->ops->get_config(d->ctx, off, buf, len));
}

int vub__dev_set_config(vub_daemon *d, uint32_t off, const void *buf, uint32_t len, uint32_t flags)
{
    if (!d->ops->set_config) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_CONFIG on a read-only config space", d->name);
        return -ENOTSUP;
    }
    int rc = config_range(d, "SET_CONFIG", off, len);
    if (rc < 0)
        return rc;
    return op_failed(d, "set_config", d->ops->set_config(d->ctx, off, buf, len, flags));
}

int vub__dev_mem_changed(vub_daemon *d, const vmem_map *map)
{
    if (!d->ops->mem_changed)
        return 0;
    return op_failed(d, "mem_changed", d->ops->mem_changed(d->ctx, map));
}

int vub__dev_queue_started(vub_daemon *d, vub_queue *q)
{
    if (!d->ops->queue_started)
        return 0;
    return op_failed(d, "queue_started", d->ops->queue_started(d->ctx, q));
}

int vub__dev_queue_stopped(vub_daemon *d, vub_queue *q)
{
    if (!d->ops->queue_stopped)
        return 0;
    return op_failed(d, "queue_stopped", d->ops->queue_stopped(d->ctx, q));
}

int vub__dev_queue_enabled(vub_daemon *d, vub_queue *q, bool enabled)
{
    if (!d->ops->queue_enabled)
        return d->ops->queue_kicked ? 0 : vub_queue_enabled_kick(d->ctx, q, enabled);
    return op_failed(d, "queue_enabled", d->ops->queue_enabled(d->ctx, q, enabled));
}

int vub__dev_queue_kicked(vub_daemon *d, vub_queue *q)
{
    int rc;
    if (d->ops->queue_kicked) {
        rc = d->ops->queue_kicked(d->ctx, q);
        if (rc > 0)
            rc = -EIO;
    } else {
        rc = vub_queue_serve(q, d->ops->request, d->ctx);
        if (rc > 0)
            rc = 0; /* requests served */
    }
    /* Logged once per start of the queue, so a guest cannot flood the log through a failing device. */
    if (rc < 0 && !q->kick_failed_logged) {
        q->kick_failed_logged = true;
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: vq%u: op queue_kicked failed: %s", d->name, q->index, strerror(-rc));
    }
    return rc;
}

void vub__dev_reset(vub_daemon *d)
{
    if (d->ops->reset)
        d->ops->reset(d->ctx);
}

int vub__shmem_config_check(const vhu_shmem_config *c, uint64_t page)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < VHU_SHMEM_REGIONS_MAX; i++) {
        if (c->mem_size[i] == 0)
            continue;
        if (c->mem_size[i] % page != 0)
            return -EINVAL;
        n++;
    }
    return n == c->nregions ? 0 : -EINVAL;
}

int vub__dev_get_shmem_config(vub_daemon *d, vhu_shmem_config *out)
{
    memset(out, 0, sizeof(*out));
    if (!d->ops->get_shmem_config)
        return -ENOTSUP;
    int rc = op_failed(d, "get_shmem_config", d->ops->get_shmem_config(d->ctx, out));
    if (rc == 0 && vub__shmem_config_check(out, (uint64_t)sysconf(_SC_PAGESIZE)) < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN,
                  "%s: op get_shmem_config returned an invalid config (nregions %u must count the non-zero sizes, "
                  "each a multiple of the page size)",
                  d->name, out->nregions);
        rc = -EINVAL;
    }
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

int vub__dev_state_transfer(vub_daemon *d, enum vub_state_dir dir, int fd)
{
    int (*op)(void *, int) = dir == VUB_STATE_SAVE ? d->ops->state_save : d->ops->state_load;
    const char *name = dir == VUB_STATE_SAVE ? "state_save" : "state_load";
    if (!op) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: device state %s not supported", d->name,
                  dir == VUB_STATE_SAVE ? "save" : "load");
        return -ENOTSUP;
    }
    return op_failed(d, name, op(d->ctx, fd));
}

/* virtio device status bits (virtio 1.2, 2.1) */
#define STATUS_FEATURES_OK 0x08u
#define STATUS_NEEDS_RESET 0x40u

int vub__dev_set_status(vub_daemon *d, uint8_t old, uint8_t status, uint8_t *accepted)
{
    *accepted = status;
    if (!d->ops->set_status)
        return 0;
    int rc = op_failed(d, "set_status", d->ops->set_status(d->ctx, status));
    if (rc < 0) {
        bool features_ok_now = (status & STATUS_FEATURES_OK) && !(old & STATUS_FEATURES_OK);
        *accepted = features_ok_now ? (uint8_t)(status & ~STATUS_FEATURES_OK) : (uint8_t)(status | STATUS_NEEDS_RESET);
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_STATUS 0x%02x refused, status is 0x%02x", d->name, status, *accepted);
    }
    return rc;
}
