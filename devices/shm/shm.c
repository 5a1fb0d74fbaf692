/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-shm's device: region declarations, the ops, and control requests (shm.h, README.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "cvmm/vub/queue.h"
#include "cvmm/vub/serve.h"
#include "shm.h"

void shm_dev_init(shm_dev *s, const struct cvmm_log *log)
{
    memset(s, 0, sizeof(*s));
    s->log = log;
    s->info = (vub_device_info){
        .name = "shm",
        .num_queues = 1,
        .max_queue_size = 256,
        .features = 1ull << VUB_F_VERSION_1,
    };
}

int shm_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno == ERANGE)
        return -EOVERFLOW;
    if (errno || end == s)
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default: return -EINVAL;
    }
    if (*end)
        return -EINVAL;
    if (shift && v > (UINT64_MAX >> shift))
        return -EOVERFLOW;
    *out = (uint64_t)v << shift;
    return 0;
}

int shm_add_region(shm_dev *s, const char *arg)
{
    char *end;
    uint64_t size;
    if (!arg || *arg < '0' || *arg > '9')
        return -EINVAL;
    errno = 0;
    unsigned long id = strtoul(arg, &end, 10);
    if (errno || *end != ':' || id >= VHU_SHMEM_REGIONS_MAX) {
        cvmm_logf(s->log, CVMM_LOG_ERROR, "shm: bad region '%s' (SHMID:SIZE, SHMID 0..255)", arg);
        return -EINVAL;
    }
    int rc = shm_parse_size(end + 1, &size);
    if (rc < 0) {
        cvmm_logf(s->log, CVMM_LOG_ERROR, "shm: bad size in '%s' (e.g. 4096, 64K, 2M)", arg);
        return rc;
    }
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (size == 0 || size % page) {
        cvmm_logf(s->log, CVMM_LOG_ERROR, "shm: region %lu: size %llu is not a non-zero multiple of the page size %llu",
                  id, (unsigned long long)size, (unsigned long long)page);
        return -EINVAL;
    }
    if (s->regions.mem_size[id]) {
        cvmm_logf(s->log, CVMM_LOG_ERROR, "shm: region %lu declared twice", id);
        return -EEXIST;
    }
    s->regions.mem_size[id] = size;
    s->regions.nregions++;
    return 0;
}

static int shm_get_shmem_config(void *ctx, vhu_shmem_config *out)
{
    const shm_dev *s = ctx;
    *out = s->regions;
    return 0;
}

/* Chains on the (unused) queue come back with nothing written.  Served by the library (vub_queue_serve():
 * a budget per kick, so a guest that keeps refilling the ring cannot hold the worker). */
static int shm_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    (void)ctx, (void)q, (void)s;
    *used_len = 0;
    return 0;
}

static const vub_device_ops shm_ops = {
    .get_shmem_config = shm_get_shmem_config,
    .request = shm_request,
};

const vub_device_ops *shm_dev_ops(void) { return &shm_ops; }

/* ---- control requests ---- */

#define CTL_MAX 4096

/* Next space-separated word of *p (advanced).  Return: its length, 0 at the end. */
static size_t word(const char **p, const char **w)
{
    while (**p == ' ')
        (*p)++;
    *w = *p;
    while (**p && **p != ' ')
        (*p)++;
    return (size_t)(*p - *w);
}

static int num(const char **p, uint64_t *v)
{
    const char *w;
    char tmp[32];
    size_t n = word(p, &w);
    if (n == 0 || n >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, w, n);
    tmp[n] = '\0';
    int rc = shm_parse_size(tmp, v);
    return rc == -EOVERFLOW ? -EINVAL : rc;
}

static bool is(const char *w, size_t n, const char *lit) { return n == strlen(lit) && memcmp(w, lit, n) == 0; }

static int answer(char *reply, size_t cap, int rc, const char *what)
{
    if (rc == 0)
        snprintf(reply, cap, "ok %s", what);
    else
        snprintf(reply, cap, "error %d %s: %s", -rc, strerror(-rc), what);
    return rc;
}

int shm_ctl_exec(shm_dev *s, vub_backend *b, const char *req, size_t len, char *reply, size_t cap)
{
    char buf[CTL_MAX + 1];
    const char *p = buf, *w;
    uint64_t shmid, shm_off, maplen, fd_off;
    if (len > CTL_MAX || memchr(req, '\0', len))
        return answer(reply, cap, -EINVAL, "request too long or not text");
    memcpy(buf, req, len);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    size_t n = word(&p, &w);
    if (is(w, n, "config")) {
        char *o = reply;
        size_t left = cap;
        int k = snprintf(o, left, "ok");
        for (unsigned i = 0; i < VHU_SHMEM_REGIONS_MAX && k >= 0 && (size_t)k < left; i++) {
            o += k;
            left -= (size_t)k;
            k = s->regions.mem_size[i] ? snprintf(o, left, " %u:%llu", i, (unsigned long long)s->regions.mem_size[i])
                                       : 0;
        }
        return 0;
    }
    bool map = is(w, n, "map");
    if (!map && !is(w, n, "unmap"))
        return answer(reply, cap, -EINVAL, "unknown request (map, unmap or config)");
    if (num(&p, &shmid) < 0 || shmid >= VHU_SHMEM_REGIONS_MAX || num(&p, &shm_off) < 0 || num(&p, &maplen) < 0)
        return answer(reply, cap, -EINVAL,
                      map ? "usage: map SHMID SHM_OFFSET LEN FD_OFFSET ro|rw PATH"
                          : "usage: unmap SHMID SHM_OFFSET LEN");
    if (!map) {
        if (word(&p, &w) != 0)
            return answer(reply, cap, -EINVAL, "usage: unmap SHMID SHM_OFFSET LEN");
        int rc = vub_backend_shmem_unmap(b, (uint8_t)shmid, shm_off, maplen);
        return answer(reply, cap, rc, "SHMEM_UNMAP");
    }
    if (num(&p, &fd_off) < 0)
        return answer(reply, cap, -EINVAL, "usage: map SHMID SHM_OFFSET LEN FD_OFFSET ro|rw PATH");
    n = word(&p, &w);
    bool rw = is(w, n, "rw");
    if (!rw && !is(w, n, "ro"))
        return answer(reply, cap, -EINVAL, "usage: map SHMID SHM_OFFSET LEN FD_OFFSET ro|rw PATH");
    while (*p == ' ')
        p++;
    if (!*p)
        return answer(reply, cap, -EINVAL, "map: no PATH");
    int fd = open(p, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        cvmm_logf(s->log, CVMM_LOG_WARN, "shm: cannot open %s: %s", p, strerror(-rc));
        return answer(reply, cap, rc, "map: cannot open the file");
    }
    int rc = vub_backend_shmem_map(b, (uint8_t)shmid, fd, fd_off, shm_off, maplen, rw ? VUB_SHMEM_MAP_RW : 0);
    cvmm_close(&fd);
    return answer(reply, cap, rc, "SHMEM_MAP");
}
