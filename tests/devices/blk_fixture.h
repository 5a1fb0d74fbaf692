/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* blk_fixture.h - cvmm-blk's device (devices/blk/device.c) in a real vub_daemon on its own thread, driven
 * over a UNIX socket by our vhost-user-proto front-end, with memfd guest memory and mock drivers: what the
 * blk_vhost_user and blk_state suites share.  Guest layout: ring i at gpa 0x10000 * (i + 1) (driver area
 * +0x4000, device area +0x8000); a request on ring i has its header at 0x80000 + i * 0x1000, its status
 * byte 0x100 after it, its data at 0x100000 + i * 0x10000. */
#ifndef BLK_FIXTURE_H
#define BLK_FIXTURE_H

/* Each suite uses a part of it. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cvmm/vhu/frontend.h"
#include "cvmm/vmem.h"
#include "cvmm/vq/mock.h"
#include "cvmm/vub.h"
#include "device.h"

#define BF_GUEST_SIZE (2u << 20)
#define BF_UVA_BASE 0x7f0000000000ull /* front-end virtual address of gpa 0 */
/* The features the mock driver does not drive on a split ring. */
#define BF_SPLIT_ONLY ((1ull << VUB_F_RING_PACKED) | (1ull << VUB_F_RING_EVENT_IDX))

/* One cvmm-blk: the device (its disk opened and blk_dev_init() done by the suite), its daemon, our
 * front-end and the guest memory. */
struct bf_side {
    blk_dev dev;
    vub_daemon *d;
    pthread_t th;
    vhu_frontend *fe;
    vmem_region *reg;
    vmem_map *map;
};

/* A ring driven by the mock driver; mk NULL: not started. */
struct bf_ring {
    unsigned index;
    vq_mock *mk;
    int kick, call;
};

static void *bf_run(void *arg)
{
    (void)vub_daemon_run(arg);
    return NULL;
}

/* bf_tmpdir() - a fresh directory @dir (@n bytes) made from the mkdtemp template @tmpl, and the paths of the
 * socket ("s") and the disk ("d") in it. */
static void bf_tmpdir(char *dir, size_t n, const char *tmpl, char sock[108], char disk[108])
{
    snprintf(dir, n, "%s", tmpl);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sock, 108, "%s/s", dir);
    snprintf(disk, 108, "%s/d", dir);
}

/* bf_serve() - serve s->dev on @sock (@nworkers workers) and connect our front-end (@name) to it. */
static void bf_serve(struct bf_side *s, const char *sock, unsigned nworkers, const struct cvmm_log *log,
                     const char *name)
{
    vub_daemon_config dc = {
        .ops = &blk_dev_ops, .info = &s->dev.info, .ctx = &s->dev, .nworkers = nworkers, .log = log};
    cr_assert_eq(vub_daemon_new(&dc, &s->d), 0);
    cr_assert_eq(vub_daemon_listen(s->d, sock), 0);
    cr_assert_eq(pthread_create(&s->th, NULL, bf_run, s->d), 0);
    vhu_frontend_config fc = {.log = log, .name = name, .timeout_ms = 30000};
    cr_assert_eq(vhu_frontend_connect(&fc, sock, &s->fe), 0);
}

/* bf_stop() - the front-end, the daemon (if bf_serve() started one) and the guest memory; not the disk. */
static void bf_stop(struct bf_side *s)
{
    vhu_frontend_free(s->fe);
    s->fe = NULL;
    if (s->d) {
        vub_daemon_stop(s->d);
        pthread_join(s->th, NULL);
        vub_daemon_free(s->d);
        s->d = NULL;
    }
    vmem_map_free(s->map);
    s->map = NULL;
    vmem_region_unref(s->reg);
    s->reg = NULL;
}

/* bf_memory() - BF_GUEST_SIZE bytes of memfd guest memory at gpa 0, sent as the memory table. */
static void bf_memory(struct bf_side *s, const struct cvmm_log *log)
{
    vmem_region_desc rd = {.gpa = 0, .size = BF_GUEST_SIZE, .user_addr = BF_UVA_BASE};
    cr_assert_eq(vmem_region_new_memfd(&rd, log, &s->reg), 0);
    cr_assert_eq(vmem_map_new(&s->reg, 1, NULL, log, &s->map), 0);
    vhu_mem_region wr = {.guest_addr = 0, .size = BF_GUEST_SIZE, .user_addr = BF_UVA_BASE};
    int mfd = vmem_region_fd(s->reg);
    cr_assert_eq(vhu_frontend_set_mem_table(s->fe, &wr, &mfd, 1), 0);
}

/* bf_gp() - the test's pointer to guest range [@gpa, @gpa + @len). */
static uint8_t *bf_gp(struct bf_side *s, uint64_t gpa, uint64_t len)
{
    void *p;
    cr_assert_eq(vmem_map_translate(s->map, gpa, len, &p), 0);
    return p;
}

static void bf_ring_free(struct bf_ring *r)
{
    if (!r->mk)
        return;
    vq_mock_free(r->mk);
    r->mk = NULL;
    close(r->kick);
    close(r->call);
}

/* bf_ring_start() - ring @i of @size entries from a zeroed ring area, started with base 0 (a packed ring's
 * initial wrap counters) and enabled unless @disabled.  A ring started before is freed first (a restart). */
static void bf_ring_start(struct bf_side *s, struct bf_ring *r, unsigned i, enum vq_layout layout, uint32_t size,
                          bool disabled)
{
    uint64_t desc = 0x10000ull * (i + 1), drv = desc + 0x4000, dev = desc + 0x8000;
    bf_ring_free(r);
    r->index = i;
    memset(bf_gp(s, desc, 0xc000), 0, 0xc000);
    vq_mock_config mc = {.layout = layout, .size = size, .desc_gpa = desc, .driver_gpa = drv, .device_gpa = dev};
    cr_assert_eq(vq_mock_new(s->map, &mc, &r->mk), 0);
    r->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vhu_vring_addr a = {.index = i, .desc = desc + BF_UVA_BASE, .avail = drv + BF_UVA_BASE, .used = dev + BF_UVA_BASE};
    cr_assert_eq(vhu_frontend_set_vring_num(s->fe, i, size), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(s->fe, &a), 0);
    cr_assert_eq(vhu_frontend_set_vring_base(s->fe, i, layout == VQ_LAYOUT_PACKED ? 0x80008000u : 0), 0);
    cr_assert_eq(vhu_frontend_set_vring_call(s->fe, i, r->call), 0);
    cr_assert_eq(vhu_frontend_set_vring_kick(s->fe, i, r->kick), 0);
    if (!disabled)
        cr_assert_eq(vhu_frontend_set_vring_enable(s->fe, i, true), 0);
}

static uint64_t bf_hdr_gpa(const struct bf_ring *r) { return 0x80000ull + r->index * 0x1000; }
static uint64_t bf_data_gpa(const struct bf_ring *r) { return 0x100000ull + r->index * 0x10000; }
static uint8_t bf_status(struct bf_side *s, const struct bf_ring *r) { return *bf_gp(s, bf_hdr_gpa(r) + 0x100, 1); }

/* bf_submit() - add a request of @type at @sector with @dlen data bytes (device-writable for IN and GET_ID;
 * filled with 0xcc, the status byte with 0xee) and kick.  Return: its head. */
static uint16_t bf_submit(struct bf_side *s, struct bf_ring *r, uint32_t type, uint64_t sector, uint32_t dlen)
{
    uint64_t hdr = bf_hdr_gpa(r), st = hdr + 0x100, data = bf_data_gpa(r);
    struct {
        cvmm_le32 type, res;
        cvmm_le64 sector;
    } h = {cvmm_le32_set(type), cvmm_le32_set(0), cvmm_le64_set(sector)};
    memcpy(bf_gp(s, hdr, 16), &h, 16);
    *bf_gp(s, st, 1) = 0xee;
    memset(bf_gp(s, data, dlen), 0xcc, dlen);
    bool wr = type == BLK_T_IN || type == BLK_T_GET_ID;
    vq_mock_buf b[3] = {{hdr, 16, false}, {data, dlen, wr}, {st, 1, true}};
    uint16_t head;
    cr_assert_eq(vq_mock_add(r->mk, b, 3, &head), 0);
    uint64_t one = 1;
    cr_assert_eq(write(r->kick, &one, 8), 8);
    return head;
}

/* bf_wait_used() - poll the used ring (the call eventfd is left alone) for the entry of @head, 30 s at
 * least: the worker thread may wait for a CPU on a loaded machine.  Return: its used length. */
static uint32_t bf_wait_used(struct bf_ring *r, uint16_t head)
{
    uint16_t h;
    uint32_t len;
    int rc = 0;
    for (int t = 0; t < 30000 && (rc = vq_mock_used(r->mk, &h, &len)) == 0; t++)
        usleep(1000);
    cr_assert_eq(rc, 1, "no used entry on ring %u", r->index);
    cr_assert_eq(h, head);
    return len;
}

#endif
