/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* queue.c - vq_queue configuration, ring-area translation, broken state and the layout dispatch. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "cvmm/vmem/region.h"
#include "cvmm/vq/inflight.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vq/packed.h"
#include "cvmm/vq/split.h"

static void update_run(vq_queue *q)
{
    if (q->ready && q->mapped && !q->broken)
        q->run = q->layout == VQ_LAYOUT_SPLIT ? VQ__RUN_SPLIT : VQ__RUN_PACKED;
    else
        q->run = VQ__RUN_NONE;
}

static void forget_pointers(vq_queue *q)
{
    q->gen++;
    q->desc = q->driver = q->device = NULL;
    q->mapped = false;
    memset(q->rc, 0, sizeof(q->rc));
}

static void reset_position(vq_queue *q)
{
    q->next_avail = q->shadow_avail = q->next_used = 0;
    q->avail_wrap = q->used_wrap = true;
    vq__packed_sync_wrap(q);
    q->signalled_used = 0;
    q->signalled_valid = false;
    if (q->inflight)
        memset(q->inflight, 0, sizeof(q->inflight[0]) * q->max_size);
}

int vq__fail(vq_queue *q, const char *fmt, ...)
{
    if (!q->broken) {
        char msg[CVMM_LOG_LINE_MAX - 32];
        size_t i;
        if (q->map && vmem_map_check(q->map, &i) < 0) /* the ring read zeros: name the real cause */
            snprintf(msg, sizeof(msg),
                     i == vmem_map_count(q->map) ? "the dirty log's file shrank under us"
                                                 : "guest memory region %zu shrank under us",
                     i);
        else {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(msg, sizeof(msg), fmt, ap);
            va_end(ap);
        }
        cvmm_logf(q->log, CVMM_LOG_ERROR, "vq%u: %s; queue broken until reset", q->index, msg);
        q->broken = true;
    }
    q->run = VQ__RUN_NONE;
    return -EIO;
}

int vq__not_running(const vq_queue *q, uint8_t layout_run)
{
    if (q->broken)
        return -EIO;
    if (layout_run != VQ__RUN_NONE && q->ready && q->mapped)
        return -EINVAL; /* running, as the other layout */
    return -EPROTO;
}

int vq__translate_slow(vq_queue *q, uint64_t gpa, uint64_t len, bool write, uint8_t **hva)
{
    const vmem_region *r;
    if (!q->map || vmem_map_find(q->map, gpa, &r) != 0)
        return -EFAULT;
    uint64_t start = vmem_region_gpa(r), size = vmem_region_size(r);
    if (!cvmm_range_in(gpa, len, start, size))
        return -EFAULT;
    bool ro = vmem_region_read_only(r);
    if (write && ro)
        return -EPERM;
    q->rc[1] = q->rc[0];
    q->rc[0].gpa = start;
    q->rc[0].size = size;
    q->rc[0].hva = vmem_region_hva(r);
    q->rc[0].ro = ro;
    *hva = q->rc[0].hva + (gpa - start);
    return 0;
}

int vq_queue_new(const vq_queue_config *cfg, vq_queue **out)
{
    if (!cfg || !out)
        return -EINVAL;
    uint32_t max = cfg->max_size ? cfg->max_size : VQ_DEFAULT_SIZE;
    if (max > VQ_MAX_SIZE || (cfg->layout != VQ_LAYOUT_SPLIT && cfg->layout != VQ_LAYOUT_PACKED) ||
        (cfg->layout == VQ_LAYOUT_SPLIT && !cvmm_is_pow2(max))) {
        cvmm_logf(cfg->log, CVMM_LOG_ERROR, "vq%u: bad config (max size %u, layout %d)", cfg->index, max,
                  (int)cfg->layout);
        return -EINVAL;
    }
    vq_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->inflight = calloc(max, sizeof(q->inflight[0]));
    if (!q->inflight) {
        free(q);
        return -ENOMEM;
    }
    q->cfg = *cfg;
    q->max_size = max;
    q->log = cfg->log;
    q->index = cfg->index;
    vq_queue_reset(q);
    *out = q;
    return 0;
}

void vq_queue_free(vq_queue *q)
{
    if (!q)
        return;
    vq__ifl_free(q);
    free(q->inflight);
    free(q);
}

void vq_queue_reset(vq_queue *q)
{
    forget_pointers(q);
    q->map = NULL;
    q->dlog = NULL;
    q->layout = (uint8_t)q->cfg.layout;
    q->event_idx = q->cfg.event_idx;
    q->size = q->max_size;
    q->mask = (uint16_t)(q->size - 1);
    q->desc_gpa = q->driver_gpa = q->device_gpa = q->log_gpa = 0;
    q->addrs_set = q->ready = q->enabled = q->broken = false;
    (void)vq_inflight_attach(q, NULL, 0);
    reset_position(q);
    update_run(q);
}

/* Alignment of the descriptor, driver and device areas, by layout (virtio 1.x 2.7 and 2.8). */
static const uint64_t area_align[2][3] = {
    [VQ_LAYOUT_SPLIT] = {VQ_SPLIT_DESC_ALIGN, VQ_SPLIT_AVAIL_ALIGN, VQ_SPLIT_USED_ALIGN},
    [VQ_LAYOUT_PACKED] = {VQ_PACKED_DESC_ALIGN, VQ_PACKED_EVENT_ALIGN, VQ_PACKED_EVENT_ALIGN},
};

/* Translate the three areas for the current addresses, size and layout with q->map into @out[3]: each
 * inside one region, the ones the device writes (packed descriptors, both device areas) writable.
 * Return: 0; the vm-memory errno after logging one line that starts with @prefix. */
static int translate_into(const vq_queue *q, const char *prefix, uint8_t *out[3])
{
    static const char *const name[3] = {"descriptor", "driver", "device"};
    bool split = q->layout == VQ_LAYOUT_SPLIT;
    uint64_t gpa[3] = {q->desc_gpa, q->driver_gpa, q->device_gpa};
    uint64_t len[3] = {split ? vq_split_desc_bytes(q->size) : vq_packed_desc_bytes(q->size),
                       split ? vq_split_avail_bytes(q->size) : sizeof(struct vq_packed_event),
                       split ? vq_split_used_bytes(q->size) : sizeof(struct vq_packed_event)};
    bool write[3] = {!split, false, true};
    for (int a = 0; a < 3; a++) {
        void *p;
        int rc = write[a] ? vmem_map_translate_mut(q->map, gpa[a], len[a], &p)
                          : vmem_map_translate(q->map, gpa[a], len[a], &p);
        if (rc != 0) {
            cvmm_logf(q->log, CVMM_LOG_ERROR, "vq%u: %s%s area 0x%llx+%llu is not usable guest memory%s: %s", q->index,
                      prefix, name[a], (unsigned long long)gpa[a], (unsigned long long)len[a],
                      rc == -EPERM ? " (read-only, the device writes it)" : "", strerror(-rc));
            return rc;
        }
        out[a] = p;
    }
    return 0;
}

static void use_areas(vq_queue *q, uint8_t *const a[3])
{
    q->desc = a[0];
    q->driver = a[1];
    q->device = a[2];
    q->mapped = true;
}

/* The setters' early translation (before the ring starts): a convenience that reports bad addresses at
 * the message that set them; ring_check() translates again when the ring starts. */
static int translate_areas(vq_queue *q)
{
    forget_pointers(q);
    if (!q->map || !q->addrs_set)
        return 0;
    uint8_t *a[3];
    int rc = translate_into(q, "", a);
    if (rc == 0)
        use_areas(q, a);
    return rc;
}

static int refuse(const vq_queue *q, const char *prefix, int rc, const char *fmt, ...) CVMM_PRINTF(4, 5);
static int refuse(const vq_queue *q, const char *prefix, int rc, const char *fmt, ...)
{
    char msg[CVMM_LOG_LINE_MAX - 48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cvmm_logf(q->log, CVMM_LOG_ERROR, "vq%u: %s%s", q->index, prefix, msg);
    return rc;
}

/* Packed: the in-flight table (buffer id -> descriptor count) must fit the current size and the
 * positions: ids < size, each list <= size descriptors, all lists together no more than are outstanding. */
static int check_inflight(const vq_queue *q, const char *prefix, uint32_t outstanding)
{
    uint32_t total = 0;
    for (uint32_t id = 0; id < q->max_size; id++) {
        uint16_t v = q->inflight[id];
        if (v == 0)
            continue;
        uint32_t n = (v & 0x7fffu) + 1u;
        if (id >= q->size || !(v & VQ__INFLIGHT) || n > q->size)
            return refuse(q, prefix, -EPROTO, "in-flight buffer id %u (%u descriptors) does not fit size %u", id, n,
                          q->size);
        total += n;
    }
    if (total > outstanding)
        return refuse(q, prefix, -EPROTO, "in-flight buffers hold %u descriptors, only %u are outstanding", total,
                      outstanding);
    return 0;
}

/* ring_check() - every invariant a ring needs to run, in one place: called when the ring starts and when
 * the map or the addresses of a ready ring change, whatever order the setters came in (their own early
 * checks are conveniences; nothing relies on them).  Size <= max (split: a power of two), packed
 * positions < size and at most one ring apart, the in-flight table sized right, all three addresses set
 * and aligned for the layout, a map, and each area translated for the CURRENT size and layout inside one
 * region (device-written areas writable).  On success the area pointers are fresh and the derived fields
 * (mask, packed flag patterns, dirty log) recomputed.  On failure one line "vq<n>: <prefix><invariant>"
 * is logged and the queue has no area pointers (it cannot run).
 * Return: 0; -EINVAL no addresses; -EFAULT/-EPERM/-EOVERFLOW an area; -EPROTO any other invariant. */
static int ring_check(vq_queue *q, const char *prefix)
{
    forget_pointers(q);
    bool split = q->layout == VQ_LAYOUT_SPLIT;
    if (!q->addrs_set)
        return refuse(q, prefix, -EINVAL, "no ring addresses");
    if (!split && q->layout != VQ_LAYOUT_PACKED)
        return refuse(q, prefix, -EPROTO, "unknown layout %u", q->layout);
    if (q->size == 0 || q->size > q->max_size || q->max_size > VQ_MAX_SIZE)
        return refuse(q, prefix, -EPROTO, "size %u outside 1..%u", q->size, q->max_size);
    if (split && !cvmm_is_pow2(q->size))
        return refuse(q, prefix, -EPROTO, "split ring size %u is not a power of two", q->size);
    if (!split) {
        if (q->next_avail >= q->size || q->next_used >= q->size)
            return refuse(q, prefix, -EPROTO, "packed position avail %u / used %u outside size %u", q->next_avail,
                          q->next_used, q->size);
        uint32_t out = vq__packed_outstanding(q);
        if (out > q->size)
            return refuse(q, prefix, -EPROTO,
                          "packed wrap counters: used %u/%d is more than one ring behind avail %u/%d (size %u)",
                          q->next_used, q->used_wrap, q->next_avail, q->avail_wrap, q->size);
        int rc = check_inflight(q, prefix, out);
        if (rc < 0)
            return rc;
    }
    const uint64_t *al = area_align[q->layout], gpa[3] = {q->desc_gpa, q->driver_gpa, q->device_gpa};
    for (int a = 0; a < 3; a++)
        if (gpa[a] & (al[a] - 1))
            return refuse(q, prefix, -EPROTO, "%s area 0x%llx is not %llu-aligned for a %s ring",
                          a == 0   ? "descriptor"
                          : a == 1 ? "driver"
                                   : "device",
                          (unsigned long long)gpa[a], (unsigned long long)al[a], split ? "split" : "packed");
    if (!q->map)
        return refuse(q, prefix, -EPROTO, "no memory map");
    uint8_t *areas[3];
    int rc = translate_into(q, prefix, areas);
    if (rc != 0)
        return rc;
    q->mask = (uint16_t)(q->size - 1);
    vq__packed_sync_wrap(q);
    q->dlog = vmem_map_dirty_log(q->map);
    use_areas(q, areas);
    return 0;
}

/* After the map or the addresses changed: a ready ring must pass the whole check again to go on running;
 * a stopped one only gets the early translation. */
static int retranslate(vq_queue *q)
{
    int rc = q->ready && q->map ? ring_check(q, "ring stops: ") : translate_areas(q);
    update_run(q);
    return rc;
}

int vq_queue_set_features(vq_queue *q, enum vq_layout layout, bool event_idx)
{
    if (q->ready)
        return -EBUSY;
    if ((layout != VQ_LAYOUT_SPLIT && layout != VQ_LAYOUT_PACKED) ||
        (layout == VQ_LAYOUT_SPLIT && !cvmm_is_pow2(q->size))) {
        cvmm_logf(q->log, CVMM_LOG_ERROR, "vq%u: layout %d not possible with size %u", q->index, (int)layout, q->size);
        return -EINVAL;
    }
    q->event_idx = event_idx;
    if (q->layout != (uint8_t)layout) {
        q->layout = (uint8_t)layout;
        reset_position(q);
        int rc = translate_areas(q);
        update_run(q);
        return rc;
    }
    return 0;
}

int vq_queue_set_size(vq_queue *q, uint32_t size)
{
    if (q->ready)
        return -EBUSY;
    if (size == 0 || size > q->max_size || (q->layout == VQ_LAYOUT_SPLIT && !cvmm_is_pow2(size))) {
        cvmm_logf(q->log, CVMM_LOG_ERROR, "vq%u: bad size %u (max %u, %s)", q->index, size, q->max_size,
                  q->layout == VQ_LAYOUT_SPLIT ? "split" : "packed");
        return -EINVAL;
    }
    if (size != q->size) /* lists in flight were counted in the old ring: forget them */
        memset(q->inflight, 0, sizeof(q->inflight[0]) * q->max_size);
    q->size = size;
    q->mask = (uint16_t)(size - 1);
    int rc = translate_areas(q);
    update_run(q);
    return rc;
}

int vq_queue_set_addrs(vq_queue *q, uint64_t desc, uint64_t driver, uint64_t device)
{
    const uint64_t *al = area_align[q->layout];
    if ((desc & (al[0] - 1)) || (driver & (al[1] - 1)) || (device & (al[2] - 1))) {
        cvmm_logf(q->log, CVMM_LOG_ERROR, "vq%u: misaligned ring addresses 0x%llx 0x%llx 0x%llx", q->index,
                  (unsigned long long)desc, (unsigned long long)driver, (unsigned long long)device);
        return -EINVAL;
    }
    q->desc_gpa = desc;
    q->driver_gpa = driver;
    q->device_gpa = device;
    q->log_gpa = device;
    q->addrs_set = true;
    return retranslate(q);
}

void vq_queue_set_log_addr(vq_queue *q, uint64_t log_gpa) { q->log_gpa = log_gpa; }

int vq_queue_set_map(vq_queue *q, const vmem_map *m)
{
    q->map = m;
    q->dlog = m ? vmem_map_dirty_log(m) : NULL;
    return retranslate(q);
}

int vq_queue_set_ready(vq_queue *q, bool ready)
{
    if (!ready) {
        q->ready = false;
        q->ifl_on = false;
        update_run(q);
        return 0;
    }
    int rc = ring_check(q, "cannot start: ");
    if (rc < 0) {
        q->ready = false;
        update_run(q);
        return rc == -EINVAL ? -EINVAL : -EPROTO;
    }
    if (q->layout == VQ_LAYOUT_SPLIT) {
        /* The used index lives in guest memory (vhost-user SET_VRING_BASE).  Acquire pairs with nothing
         * the driver does; it only keeps this read from moving after our first ring access. */
        q->next_used = vmem_hva_load_acquire_le16(q->device + VQ_SPLIT_USED_IDX);
        q->shadow_avail = q->next_avail;
    }
    rc = vq__ifl_start(q); /* an inflight region: validated, and it may move the ring position */
    if (rc < 0) {
        q->ready = false;
        forget_pointers(q);
        update_run(q);
        return rc;
    }
    q->signalled_valid = false;
    q->ready = true;
    update_run(q);
    return 0;
}

void vq_queue_set_enabled(vq_queue *q, bool enabled) { q->enabled = enabled; }
bool vq_queue_ready(const vq_queue *q) { return q->ready; }
bool vq_queue_enabled(const vq_queue *q) { return q->enabled; }
bool vq_queue_broken(const vq_queue *q) { return q->broken; }

int vq_queue_check_memory(vq_queue *q)
{
    if (CVMM_LIKELY(!q->map || vmem_map_check(q->map, NULL) == 0))
        return q->broken ? -EIO : 0;
    return vq__fail(q, "guest memory shrank under us"); /* vq__fail() names the region */
}
uint32_t vq_queue_size(const vq_queue *q) { return q->size; }
enum vq_layout vq_queue_layout(const vq_queue *q) { return (enum vq_layout)q->layout; }
bool vq_queue_event_idx(const vq_queue *q) { return q->event_idx; }
unsigned vq_queue_index(const vq_queue *q) { return q->index; }

/* ---- layout dispatch: a switch on q->run, then a tail call into split.c / packed.c ---- */

int vq_pop(vq_queue *q, vq_chain *c)
{
    switch (q->run) {
    case VQ__RUN_SPLIT: return vq__split_pop(q, c);
    case VQ__RUN_PACKED: return vq__packed_pop(q, c);
    default: return vq__not_running(q, VQ__RUN_NONE);
    }
}

int vq_add_used(vq_queue *q, uint16_t head, uint32_t len)
{
    switch (q->run) {
    case VQ__RUN_SPLIT: return vq__split_add_used(q, head, len);
    case VQ__RUN_PACKED: return vq__packed_add_used(q, head, len);
    default: return vq__not_running(q, VQ__RUN_NONE);
    }
}

int vq_add_used_batch(vq_queue *q, const vq_used_elem *elems, unsigned n)
{
    switch (q->run) {
    case VQ__RUN_SPLIT: return vq__split_add_used_batch(q, elems, n);
    case VQ__RUN_PACKED: return vq__packed_add_used_batch(q, elems, n);
    default: return vq__not_running(q, VQ__RUN_NONE);
    }
}

bool vq_needs_notify(vq_queue *q)
{
    switch (q->run) {
    case VQ__RUN_SPLIT: return vq__split_needs_notify(q);
    case VQ__RUN_PACKED: return vq__packed_needs_notify(q);
    default: return false;
    }
}

int vq_enable_notification(vq_queue *q)
{
    int rc;
    switch (q->run) {
    case VQ__RUN_SPLIT: rc = vq__split_enable_notification(q); break;
    case VQ__RUN_PACKED: rc = vq__packed_enable_notification(q); break;
    default: return vq__not_running(q, VQ__RUN_NONE);
    }
    /* recovered chains are work too (inflight.c gives them out before the ring's) */
    return rc == 0 && CVMM_UNLIKELY(q->ifl_next_resub < q->ifl_nresub) ? 1 : rc;
}

int vq_disable_notification(vq_queue *q)
{
    switch (q->run) {
    case VQ__RUN_SPLIT: vq__split_disable_notification(q); return 0;
    case VQ__RUN_PACKED: vq__packed_disable_notification(q); return 0;
    default: return vq__not_running(q, VQ__RUN_NONE);
    }
}

bool vq_avail_ready(vq_queue *q)
{
    switch (q->run) {
    case VQ__RUN_SPLIT: {
        if (q->shadow_avail != q->next_avail)
            return true;
        /* Acquire pairs with the driver's barrier before its avail->idx store, as in the pop.  A jump past
         * the ring's size is reported by the pop this answer leads to. */
        uint16_t idx = vmem_hva_load_acquire_le16(q->driver + VQ_SPLIT_AVAIL_IDX);
        return idx != q->next_avail || CVMM_UNLIKELY(q->ifl_next_resub < q->ifl_nresub);
    }
    case VQ__RUN_PACKED: {
        uint16_t f = vmem_hva_load_acquire_le16(q->desc + 16u * q->next_avail + VQ_PACKED_DESC_FLAGS);
        return vq__packed_is_avail(q, f) || CVMM_UNLIKELY(q->ifl_next_resub < q->ifl_nresub);
    }
    default: return false;
    }
}
