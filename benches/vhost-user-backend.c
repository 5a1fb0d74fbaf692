/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* bench-vhost-user-backend: round trips through a real daemon.  The daemon (control thread + one worker)
 * serves a UNIX socket; our vhost-user-proto front-end drives it from the main thread.
 *   vu_rtt_get_features       GET_FEATURES request -> reply
 *   vu_rtt_get_shmem_config   GET_SHMEM_CONFIG (2056-byte reply, F_SHMEM negotiated)
 *   vu_set_mem_table_8        SET_MEM_TABLE of 8 memfd regions (map, publish to the worker, REPLY_ACK)
 *   vu_set_mem_table_32       a 32-region map: SET_MEM_TABLE of 8 (the wire maximum) + 24 ADD_MEM_REG
 *   vu_add_rem_mem_reg        ADD_MEM_REG then REM_MEM_REG of one region (both acked)
 *   vu_kick_to_handler        eventfd write -> worker runs the device handler (pop, used) -> call eventfd read */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cvmm/vhu/frontend.h"
#include "cvmm/vmem.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/mock.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vub.h"
#include "harness.h"

#define REGION (2u << 20)
#define NREG 32

static int kicked(void *ctx, vub_queue *q)
{
    (void)ctx;
    vq_queue *vq = vub_queue_vq(q);
    vq_chain c;
    int rc;
    do {
        (void)vq_disable_notification(vq);
        while ((rc = vq_pop(vq, &c)) == 1)
            (void)vq_add_used(vq, c.head, 0);
    } while (rc >= 0 && vq_enable_notification(vq) == 1);
    return vub_queue_notify(q) < 0 ? -EIO : 0;
}
static int shmem(void *ctx, vhu_shmem_config *out)
{
    (void)ctx;
    out->nregions = 2;
    out->mem_size[0] = 1 << 20;
    out->mem_size[3] = 1 << 21;
    return 0;
}
static const vub_device_ops ops = {.queue_kicked = kicked, .get_shmem_config = shmem};
static const vub_device_info info = {
    .name = "bench", .num_queues = 1, .max_queue_size = 256, .features = 1ull << VUB_F_VERSION_1};

static const struct cvmm_log quiet = {.level = CVMM_LOG_ERROR};
static vhu_frontend *fe;
static vmem_region *regs[NREG + 1];
static vhu_mem_region wire[NREG + 1];
static int fds[NREG + 1];

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench-vhost-user-backend: %s: %s\n", what, strerror(-rc));
    exit(1);
}

static uint64_t b_get_features(void *arg, uint64_t iters)
{
    (void)arg;
    uint64_t t0 = bench_now_ns(), f = 0, sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        if (vhu_frontend_get_features(fe, &f) < 0)
            die("GET_FEATURES", -EIO);
        sum += f;
    }
    bench_sink(sum);
    return bench_now_ns() - t0;
}

static uint64_t b_get_shmem(void *arg, uint64_t iters)
{
    (void)arg;
    static vhu_shmem_config c;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++)
        if (vhu_frontend_get_shmem_config(fe, &c) < 0)
            die("GET_SHMEM_CONFIG", -EIO);
    bench_sink(c.mem_size[3]);
    return bench_now_ns() - t0;
}

static uint64_t b_mem_table_8(void *arg, uint64_t iters)
{
    (void)arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        int rc = vhu_frontend_set_mem_table(fe, wire, fds, 8);
        if (rc < 0)
            die("SET_MEM_TABLE", rc);
    }
    return bench_now_ns() - t0;
}

static uint64_t b_mem_table_32(void *arg, uint64_t iters)
{
    (void)arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        int rc = vhu_frontend_set_mem_table(fe, wire, fds, 8);
        for (unsigned r = 8; rc == 0 && r < 32; r++)
            rc = vhu_frontend_add_mem_reg(fe, &wire[r], fds[r]);
        if (rc < 0)
            die("32-region map", rc);
    }
    return bench_now_ns() - t0;
}

static uint64_t b_add_rem(void *arg, uint64_t iters)
{
    (void)arg;
    int rc = vhu_frontend_set_mem_table(fe, wire, fds, 1);
    if (rc < 0)
        die("SET_MEM_TABLE", rc);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        rc = vhu_frontend_add_mem_reg(fe, &wire[NREG], fds[NREG]);
        if (rc == 0)
            rc = vhu_frontend_rem_mem_reg(fe, &wire[NREG]);
        if (rc < 0)
            die("ADD/REM_MEM_REG", rc);
    }
    return bench_now_ns() - t0;
}

struct kick_ctx {
    vq_mock *mk;
    int kick, call;
};

static uint64_t b_kick(void *arg, uint64_t iters)
{
    struct kick_ctx *k = arg;
    vq_mock_buf b = {.gpa = 0x100000, .len = 64, .write = false};
    uint64_t t0 = bench_now_ns(), one = 1, v;
    uint16_t head;
    uint32_t len;
    for (uint64_t i = 0; i < iters; i++) {
        if (vq_mock_add(k->mk, &b, 1, NULL) < 0)
            die("mock add", -EIO);
        if (write(k->kick, &one, 8) != 8)
            die("kick", -errno);
        struct pollfd pf = {.fd = k->call, .events = POLLIN};
        if (poll(&pf, 1, 5000) != 1 || read(k->call, &v, 8) != 8) /* the handler signalled */
            die("call", -errno);
        while (vq_mock_used(k->mk, &head, &len) == 1)
            ;
    }
    return bench_now_ns() - t0;
}

static void *run(void *d)
{
    (void)vub_daemon_run(d);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_init(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/vubbench.XXXXXX", path[64];
    if (!mkdtemp(dir))
        die("mkdtemp", -errno);
    snprintf(path, sizeof(path), "%s/sock", dir);
    vub_daemon *d;
    vub_daemon_config cfg = {.ops = &ops, .info = &info, .log = &quiet};
    int rc = vub_daemon_new(&cfg, &d);
    if (rc == 0)
        rc = vub_daemon_listen(d, path);
    if (rc < 0)
        die("daemon", rc);
    pthread_t th;
    pthread_create(&th, NULL, run, d);
    vhu_frontend_config fc = {.log = &quiet};
    if ((rc = vhu_frontend_connect(&fc, path, &fe)) < 0)
        die("connect", rc);
    uint64_t f, p;
    vhu_frontend_get_features(fe, &f);
    vhu_frontend_set_owner(fe);
    vhu_frontend_get_protocol_features(fe, &p);
    if ((rc = vhu_frontend_set_protocol_features(fe, p & ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_GPA_ADDRESSES))) < 0 ||
        (rc = vhu_frontend_set_features(fe, f & ~(1ull << VHU_F_LOG_ALL))) < 0)
        die("negotiate", rc);
    for (unsigned i = 0; i <= NREG; i++) {
        vmem_region_desc rd = {.gpa = (uint64_t)REGION * i,
                               .size = REGION,
                               .user_addr = 0x7f0000000000ull + (uint64_t)REGION * i,
                               .flags = VMEM_REGION_NORESERVE};
        if ((rc = vmem_region_new_memfd(&rd, &quiet, &regs[i])) < 0)
            die("memfd", rc);
        wire[i] = (vhu_mem_region){.guest_addr = rd.gpa, .size = REGION, .user_addr = rd.user_addr};
        fds[i] = vmem_region_fd(regs[i]);
    }
    bench_run("vu_rtt_get_features", b_get_features, NULL, 0);
    bench_run("vu_rtt_get_shmem_config", b_get_shmem, NULL, 0);
    bench_run("vu_set_mem_table_8", b_mem_table_8, NULL, 0);
    bench_run("vu_set_mem_table_32", b_mem_table_32, NULL, 0);
    bench_run("vu_add_rem_mem_reg", b_add_rem, NULL, 0);

    /* one split ring in region 0, buffers in region 0 */
    if ((rc = vhu_frontend_set_mem_table(fe, wire, fds, 1)) < 0)
        die("SET_MEM_TABLE", rc);
    vmem_map *map;
    vmem_map_new(regs, 1, NULL, &quiet, &map);
    struct kick_ctx k = {.kick = eventfd(0, EFD_CLOEXEC), .call = eventfd(0, EFD_CLOEXEC)};
    vq_mock_config mc = {
        .layout = VQ_LAYOUT_SPLIT, .size = 256, .desc_gpa = 0x10000, .driver_gpa = 0x20000, .device_gpa = 0x30000};
    if ((rc = vq_mock_new(map, &mc, &k.mk)) < 0)
        die("mock", rc);
    vhu_vring_addr a = {.index = 0,
                        .desc = wire[0].user_addr + 0x10000,
                        .avail = wire[0].user_addr + 0x20000,
                        .used = wire[0].user_addr + 0x30000};
    if ((rc = vhu_frontend_set_vring_num(fe, 0, 256)) < 0 || (rc = vhu_frontend_set_vring_addr(fe, &a)) < 0 ||
        (rc = vhu_frontend_set_vring_base(fe, 0, 0)) < 0 || (rc = vhu_frontend_set_vring_call(fe, 0, k.call)) < 0 ||
        (rc = vhu_frontend_set_vring_kick(fe, 0, k.kick)) < 0 || (rc = vhu_frontend_set_vring_enable(fe, 0, true)) < 0)
        die("ring setup", rc);
    uint64_t v;
    struct pollfd pf = {.fd = k.call, .events = POLLIN};
    if (poll(&pf, 1, 100) == 1) /* a start-up notification */
        (void)read(k.call, &v, 8);
    bench_run("vu_kick_to_handler", b_kick, &k, 0);

    vhu_frontend_free(fe);
    vub_daemon_stop(d);
    pthread_join(th, NULL);
    vub_daemon_free(d);
    vq_mock_free(k.mk);
    vmem_map_free(map);
    close(k.kick);
    close(k.call);
    for (unsigned i = 0; i <= NREG; i++)
        vmem_region_unref(regs[i]);
    unlink(path);
    rmdir(dir);
    return 0;
}
