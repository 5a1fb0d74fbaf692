/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* benches/vm-memory.c - bench-vm-memory: guest memory access, with rust-vmm vm-memory's parameters.
 *
 *  mem_read_u64 / mem_write_u64   one aligned 8-byte object, 4096 addresses spread over 32 KiB of a 64 MiB
 *                                 region (rvmm-peer-bench's read_obj::<u64> / write_obj::<u64>)
 *  mem_read_4k                    4 KiB copied out of one L1-hot page (read_slice, same page)
 *  mem_{read,write}_512_<place>   8 regions x 2 GiB (anonymous, MAP_NORESERVE); a 512-byte slice at
 *  mem_read_obj{8,96}_<place>     one of four places, as rust-vmm's benches/mmap/mod.rs:
 *                                   in0  inside region 0 (gpa 0)
 *                                   x01  across regions 0/1 (half the access on each side)
 *                                   x67  across regions 6/7
 *                                   in7  inside region 7 (its first byte)
 *  mem_find_region_256            256 regions x 1 MiB, one lookup of every region start per op
 *                                 (rust-vmm's benches/guest_memory.rs find_region)
 *  mem_region_fd_1m               map and unmap a region of an unsealed 1 MiB memfd (vmem_region_new_fd() +
 *                                 vmem_region_unref(): mmap, the fault guard's registration, guard pages
 *                                 when built with CVMM_GUARD_PAGES)
 *  mem_region_anon_64m            the same for 64 MiB of anonymous memory (MAP_NORESERVE)
 *  mem_map_check                  vmem_map_check() on a healthy map (the check after every kick)
 * Usage: bench-vm-memory [name-filter]; CVMM_BENCH_MS / CVMM_BENCH_REPS tune the harness. */
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/vmem.h"
#include "harness.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

static vmem_map *map_of_anon(uint64_t region_size, unsigned count)
{
    vmem_region *rs[256];
    vmem_map *m = NULL;
    for (unsigned i = 0; i < count; i++) {
        vmem_region_desc d = {.gpa = i * region_size, .size = region_size, .flags = VMEM_REGION_NORESERVE};
        if (vmem_region_new_anon(&d, NULL, &rs[i]) != 0) {
            fprintf(stderr, "bench-vm-memory: cannot map region %u\n", i);
            exit(1);
        }
    }
    if (vmem_map_new(rs, count, NULL, NULL, &m) != 0) {
        fprintf(stderr, "bench-vm-memory: cannot build the map\n");
        exit(1);
    }
    for (unsigned i = 0; i < count; i++)
        vmem_region_unref(rs[i]);
    return m;
}

static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench-vm-memory: %s failed: %s\n", what, strerror(-rc));
        exit(1);
    }
}

/* ---- one 64 MiB region ------------------------------------------------------------------------------ */
#define DATA_BASE (1 * MiB)

struct one {
    const vmem_map *m;
    uint8_t buf[4096] __attribute__((aligned(64)));
};

static uint64_t read_u64(void *arg, uint64_t iters)
{
    struct one *o = arg;
    uint64_t acc = 0, t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t v;
        check(vmem_read(o->m, DATA_BASE + ((i & 4095) << 3), &v, sizeof(v)), "vmem_read");
        acc ^= v;
    }
    uint64_t t = bench_now_ns() - t0;
    bench_sink(acc);
    return t;
}

static uint64_t write_u64(void *arg, uint64_t iters)
{
    struct one *o = arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t v = i ^ (i >> 12);
        check(vmem_write(o->m, DATA_BASE + ((i & 4095) << 3), &v, sizeof(v)), "vmem_write");
    }
    return bench_now_ns() - t0;
}

static uint64_t read_4k(void *arg, uint64_t iters)
{
    struct one *o = arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        check(vmem_read(o->m, DATA_BASE, o->buf, sizeof(o->buf)), "vmem_read");
        __asm__ volatile("" : : "r"(o->buf) : "memory"); /* the copy is used */
    }
    return bench_now_ns() - t0;
}

/* ---- 8 regions x 2 GiB ------------------------------------------------------------------------------ */
#define BIG_REGION (2 * GiB)
#define BIG_COUNT 8u

struct place {
    const vmem_map *m;
    uint64_t gpa;
    size_t len;
    uint8_t buf[512] __attribute__((aligned(64)));
};

static uint64_t read_at(void *arg, uint64_t iters)
{
    struct place *p = arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        check(vmem_read(p->m, p->gpa, p->buf, p->len), "vmem_read");
        __asm__ volatile("" : : "r"(p->buf) : "memory");
    }
    return bench_now_ns() - t0;
}

static uint64_t write_at(void *arg, uint64_t iters)
{
    struct place *p = arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : : "r"(p->buf) : "memory");
        check(vmem_write(p->m, p->gpa, p->buf, p->len), "vmem_write");
    }
    return bench_now_ns() - t0;
}

/* rust-vmm's AccessKind::make_offset(): inside region k at its start, or across k/k+1 with half the
 * access on each side. */
static uint64_t place_gpa(const char *name, size_t len)
{
    if (!strcmp(name, "in0"))
        return 0;
    if (!strcmp(name, "x01"))
        return 1 * BIG_REGION - len / 2;
    if (!strcmp(name, "x67"))
        return 7 * BIG_REGION - len / 2;
    return 7 * BIG_REGION; /* in7 */
}

/* ---- 256 regions x 1 MiB ---------------------------------------------------------------------------- */
static uint64_t find_256(void *arg, uint64_t iters)
{
    const vmem_map *m = arg;
    uint64_t acc = 0, t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        for (uint64_t k = 0; k < 256; k++) {
            const vmem_region *r;
            uint64_t gpa = k * MiB;
            __asm__ volatile("" : "+r"(gpa)); /* black_box */
            check(vmem_map_find(m, gpa, &r), "vmem_map_find");
            acc += (uintptr_t)r;
        }
    }
    uint64_t t = bench_now_ns() - t0;
    bench_sink(acc);
    return t;
}

/* ---- mapping cost ------------------------------------------------------------------------------------ */
static uint64_t region_fd(void *arg, uint64_t iters)
{
    int fd = *(const int *)arg;
    vmem_region_desc d = {.gpa = 0, .size = 1 * MiB};
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        vmem_region *r;
        check(vmem_region_new_fd(&d, dup(fd), NULL, &r), "vmem_region_new_fd");
        vmem_region_unref(r);
    }
    return bench_now_ns() - t0;
}

static uint64_t region_anon(void *arg, uint64_t iters)
{
    (void)arg;
    vmem_region_desc d = {.gpa = 0, .size = 64 * MiB, .flags = VMEM_REGION_NORESERVE};
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        vmem_region *r;
        check(vmem_region_new_anon(&d, NULL, &r), "vmem_region_new_anon");
        vmem_region_unref(r);
    }
    return bench_now_ns() - t0;
}

static uint64_t map_check(void *arg, uint64_t iters)
{
    const vmem_map *m = arg;
    uint64_t acc = 0, t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++)
        acc += (uint64_t)-vmem_map_check(m, NULL);
    uint64_t t = bench_now_ns() - t0;
    bench_sink(acc);
    return t;
}

int main(int argc, char **argv)
{
    bench_init(argc, argv);

    static struct one one;
    vmem_map *m1 = map_of_anon(64 * MiB, 1);
    one.m = m1;
    check(vmem_write(m1, DATA_BASE, one.buf, sizeof(one.buf)), "prefault");
    bench_run("mem_read_u64", read_u64, &one, 0);
    bench_run("mem_write_u64", write_u64, &one, 0);
    bench_run("mem_read_4k", read_4k, &one, 4096);
    vmem_map_free(m1);

    vmem_map *m8 = map_of_anon(BIG_REGION, BIG_COUNT);
    static const char *const places[] = {"in0", "x01", "x67", "in7"};
    static struct place p;
    char name[64];
    for (size_t k = 0; k < 4; k++) {
        p.m = m8;
        p.len = 512;
        p.gpa = place_gpa(places[k], 512);
        memset(p.buf, 0x5a, sizeof(p.buf));
        snprintf(name, sizeof(name), "mem_read_512_%s", places[k]);
        bench_run(name, read_at, &p, 512);
        snprintf(name, sizeof(name), "mem_write_512_%s", places[k]);
        bench_run(name, write_at, &p, 512);
        p.len = 8;
        p.gpa = place_gpa(places[k], 8);
        snprintf(name, sizeof(name), "mem_read_obj8_%s", places[k]);
        bench_run(name, read_at, &p, 0);
        p.len = 96;
        p.gpa = place_gpa(places[k], 96);
        snprintf(name, sizeof(name), "mem_read_obj96_%s", places[k]);
        bench_run(name, read_at, &p, 0);
    }
    vmem_map_free(m8);

    vmem_map *m256 = map_of_anon(1 * MiB, 256);
    bench_run("mem_find_region_256", find_256, m256, 0);
    bench_run("mem_map_check", map_check, m256, 0);
    vmem_map_free(m256);

    int fd = memfd_create("bench", MFD_CLOEXEC);
    check(fd < 0 || ftruncate(fd, (off_t)MiB) < 0 ? -1 : 0, "memfd");
    bench_run("mem_region_fd_1m", region_fd, &fd, 0);
    close(fd);
    bench_run("mem_region_anon_64m", region_anon, NULL, 0);
    return 0;
}
