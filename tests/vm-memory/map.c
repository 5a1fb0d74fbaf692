/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vm-memory/map.c - building maps, lookup and translation (cvmm/vmem/map.h). */
#include "cvmm/checked.h"
#include "helpers.h"

/* Two regions with a hole: [0, 64K) and [1M, 1M+64K); user addresses 0x7f0000000000 and 0x7f1000000000. */
#define R0_GPA 0ull
#define R0_SIZE (64 * KiB)
#define R0_END (R0_GPA + R0_SIZE)
#define R1_GPA (1 * MiB)
#define R1_SIZE (64 * KiB)
#define R1_END (R1_GPA + R1_SIZE)
#define R0_UVA 0x7f0000000000ull
#define R1_UVA 0x7f1000000000ull

static vmem_map *map;

static void two_regions(void)
{
    fd_mark();
    vmem_region *rs[2];
    vmem_region_desc d1 = {.gpa = R1_GPA, .size = R1_SIZE, .user_addr = R1_UVA};
    vmem_region_desc d0 = {.gpa = R0_GPA, .size = R0_SIZE, .user_addr = R0_UVA};
    cr_assert_eq(vmem_region_new_memfd(&d1, &test_log, &rs[0]), 0); /* unsorted on purpose */
    cr_assert_eq(vmem_region_new_memfd(&d0, &test_log, &rs[1]), 0);
    map = map_of(rs, 2, NULL);
}

static void free_map(void)
{
    vmem_map_free(map);
    map = NULL;
    no_fd_leaked();
}

TestSuite(vmem_map, .init = two_regions, .fini = free_map, .timeout = 120);

Test(vmem_map, regions_are_sorted_by_gpa)
{
    cr_assert_eq(vmem_map_count(map), 2);
    cr_assert_eq(vmem_region_gpa(vmem_map_region(map, 0)), R0_GPA);
    cr_assert_eq(vmem_region_gpa(vmem_map_region(map, 1)), R1_GPA);
    cr_assert_null(vmem_map_region(map, 2));
    cr_assert_null(vmem_map_dirty_log(map));
    cr_assert_eq(vmem_map_logger(map), &test_log);
}

Test(vmem_map, find_returns_the_containing_region)
{
    const vmem_region *r;
    cr_assert_eq(vmem_map_find(map, R0_END - 1, &r), 0);
    cr_assert_eq(vmem_region_gpa(r), R0_GPA);
    cr_assert_eq(vmem_map_find(map, R1_GPA, &r), 0);
    cr_assert_eq(vmem_region_gpa(r), R1_GPA);
    cr_assert_eq(vmem_map_find(map, R1_END - 1, &r), 0);
    cr_assert_eq(vmem_region_gpa(r), R1_GPA);
}

Test(vmem_map, find_in_a_hole_is_efault)
{
    const vmem_region *r = (const vmem_region *)&r;
    cr_assert_eq(vmem_map_find(map, R0_END, &r), -EFAULT);
    cr_assert_eq(vmem_map_find(map, R1_END, &r), -EFAULT);
    cr_assert_eq(vmem_map_find(map, UINT64_MAX, &r), -EFAULT);
    cr_assert_eq(r, (const vmem_region *)&r, "out-parameter untouched");
}

Test(vmem_map, translate_gives_the_host_address)
{
    void *p;
    cr_assert_eq(vmem_map_translate(map, R1_GPA + 100, 8, &p), 0);
    cr_assert_eq(p, (uint8_t *)vmem_region_hva(vmem_map_region(map, 1)) + 100);
    cr_assert_eq(vmem_map_translate(map, R0_END - 8, 8, &p), 0, "ends exactly at the region's end");
    cr_assert_eq(vmem_map_translate(map, R0_GPA, R0_SIZE, &p), 0, "the whole region");
}

Test(vmem_map, range_crossing_region_end_is_efault)
{
    void *p = NULL;
    cr_assert_eq(vmem_map_translate(map, R0_END - 4, 8, &p), -EFAULT);
    cr_assert_eq(vmem_map_translate(map, R1_END - 1, 2, &p), -EFAULT);
    cr_assert_eq(vmem_map_translate(map, R0_GPA, R0_SIZE + 1, &p), -EFAULT);
    cr_assert_null(p);
}

Test(vmem_map, unmapped_translate_is_efault_and_logged_at_debug)
{
    void *p = NULL;
    cap.lines = 0;
    cr_assert_eq(vmem_map_translate(map, R0_END + 4096, 1, &p), -EFAULT);
    cr_assert_null(p);
    cr_assert_eq(cap.lines, 1);
    cr_assert_eq(cap.last_level, CVMM_LOG_DEBUG);
    cr_assert(strstr(cap.last, "vmem: translate gpa 0x11000 len 1"), "line: %s", cap.last);
}

Test(vmem_map, translate_zero_length_is_einval)
{
    void *p = NULL;
    cr_assert_eq(vmem_map_translate(map, R0_GPA, 0, &p), -EINVAL);
    cr_assert_eq(vmem_map_translate_mut(map, R0_GPA, 0, &p), -EINVAL);
    cr_assert_null(p);
}

Test(vmem_map, translate_wrapping_range_is_eoverflow)
{
    void *p = NULL;
    cr_assert_eq(vmem_map_translate(map, UINT64_MAX - 3, 8, &p), -EOVERFLOW);
    cr_assert_eq(vmem_map_translate(map, R0_GPA + 8, UINT64_MAX, &p), -EOVERFLOW);
    cr_assert_eq(vmem_map_translate_mut(map, 16, UINT64_MAX, &p), -EOVERFLOW);
    cr_assert_null(p);
}

Test(vmem_map, translate_huge_length_inside_is_efault_not_wrap)
{
    void *p = NULL;
    /* gpa + len == 2^64 exactly does not wrap, it just leaves the region. */
    cr_assert_eq(vmem_map_translate(map, R1_GPA, UINT64_MAX - R1_GPA + 1, &p), -EFAULT);
    cr_assert_null(p);
}

Test(vmem_map, translate_mut_gives_the_same_pointer)
{
    void *p, *q;
    cr_assert_eq(vmem_map_translate(map, R0_GPA + 64, 16, &p), 0);
    cr_assert_eq(vmem_map_translate_mut(map, R0_GPA + 64, 16, &q), 0);
    cr_assert_eq(p, q);
    cr_assert_eq(vmem_map_translate_mut(map, R0_END - 1, 2, &q), -EFAULT);
}

Test(vmem_map, translate_mut_of_read_only_region_is_eperm)
{
    vmem_map *m2;
    vmem_region *ro = memfd_region(4 * MiB, 4096, VMEM_REGION_READ_ONLY);
    cr_assert_eq(vmem_map_with_region(map, ro, &m2), 0);
    vmem_region_unref(ro);
    void *p = NULL;
    cr_assert_eq(vmem_map_translate_mut(m2, 4 * MiB, 8, &p), -EPERM);
    cr_assert_null(p);
    cr_assert_eq(vmem_map_translate(m2, 4 * MiB, 8, &p), 0, "reading is fine");
    cr_assert_eq(vmem_map_translate_mut(m2, 4 * MiB + 4090, 8, &p), -EFAULT, "crossing the end wins");
    vmem_map_free(m2);
}

Test(vmem_map, uva_translates_to_gpa_and_host)
{
    uint64_t gpa = 0;
    void *p = NULL;
    cr_assert_eq(vmem_map_uva_to_gpa(map, R1_UVA + 0x10, 16, &gpa), 0);
    cr_assert_eq(gpa, R1_GPA + 0x10);
    cr_assert_eq(vmem_map_uva_translate(map, R0_UVA + R0_SIZE - 4, 4, &p), 0);
    cr_assert_eq(p, (uint8_t *)vmem_region_hva(vmem_map_region(map, 0)) + R0_SIZE - 4);
}

Test(vmem_map, uva_errors)
{
    uint64_t gpa = 7;
    void *p = NULL;
    cr_assert_eq(vmem_map_uva_to_gpa(map, R1_UVA, 0, &gpa), -EINVAL);
    cr_assert_eq(vmem_map_uva_to_gpa(map, UINT64_MAX - 1, 4, &gpa), -EOVERFLOW);
    cr_assert_eq(vmem_map_uva_to_gpa(map, R1_UVA + R1_SIZE - 2, 4, &gpa), -EFAULT, "leaves its region");
    cr_assert_eq(vmem_map_uva_to_gpa(map, 0x1000, 4, &gpa), -EFAULT, "no region");
    cr_assert_eq(gpa, 7);
    cr_assert_eq(vmem_map_uva_translate(map, R0_UVA - 1, 1, &p), -EFAULT);
    cr_assert_eq(vmem_map_uva_translate(map, R0_UVA, 0, &p), -EINVAL);
    cr_assert_eq(vmem_map_uva_translate(map, UINT64_MAX, 2, &p), -EOVERFLOW);
    cr_assert_null(p);
}

Test(vmem_map, regions_without_user_address_are_not_found_by_uva)
{
    vmem_map *m2;
    vmem_region *r = memfd_region(8 * MiB, 4096, 0); /* user_addr 0 */
    cr_assert_eq(vmem_map_with_region(map, r, &m2), 0);
    vmem_region_unref(r);
    uint64_t gpa;
    cr_assert_eq(vmem_map_uva_to_gpa(m2, 0, 16, &gpa), -EFAULT);
    vmem_map_free(m2);
}

Test(vmem_map, overlapping_regions_are_refused)
{
    vmem_map *m2 = NULL;
    vmem_region *a = memfd_region(R1_END - 4096, 8192, 0); /* overlaps R1's last page */
    vmem_region *b = memfd_region(R0_GPA + 4096, 4096, 0); /* inside R0 */
    vmem_region *c = memfd_region(R0_END - 4096, 4096, 0); /* R0's last page */
    cap.lines = 0;
    cr_assert_eq(vmem_map_with_region(map, a, &m2), -EINVAL);
    cr_assert_eq(cap.lines, 1);
    cr_assert_eq(cap.last_level, CVMM_LOG_WARN);
    cr_assert(strstr(cap.last, "overlaps"), "line: %s", cap.last);
    cr_assert_eq(vmem_map_with_region(map, b, &m2), -EINVAL);
    cr_assert_eq(vmem_map_with_region(map, c, &m2), -EINVAL);
    cr_assert_null(m2);
    vmem_region *pair[2] = {b, c};
    cr_assert_eq(vmem_map_new(pair, 2, NULL, &test_log, &m2), 0, "b and c are adjacent, not overlapping");
    vmem_map_free(m2);
    vmem_region *same[2] = {b, b};
    m2 = NULL;
    cr_assert_eq(vmem_map_new(same, 2, NULL, &test_log, &m2), -EINVAL, "one region twice");
    cr_assert_null(m2);
    cr_assert_eq(vmem_map_count(map), 2, "the original map is unchanged");
    vmem_region_unref(a);
    vmem_region_unref(b);
    vmem_region_unref(c);
}

Test(vmem_map, null_region_is_einval)
{
    vmem_map *m2 = NULL;
    vmem_region *rs[2] = {vmem_map_region(map, 0), NULL};
    cr_assert_eq(vmem_map_new(rs, 2, NULL, &test_log, &m2), -EINVAL);
    cr_assert_eq(vmem_map_new(NULL, 1, NULL, &test_log, &m2), -EINVAL);
    cr_assert_eq(vmem_map_with_region(map, NULL, &m2), -EINVAL);
    cr_assert_null(m2);
}

Test(vmem_map, empty_map_has_nothing)
{
    vmem_map *m0;
    void *p;
    cr_assert_eq(vmem_map_new(NULL, 0, NULL, NULL, &m0), 0);
    cr_assert_eq(vmem_map_count(m0), 0);
    cr_assert_eq(vmem_map_translate(m0, 0, 1, &p), -EFAULT);
    vmem_map_free(m0);
}

Test(vmem_map, with_region_and_without_region_build_new_maps)
{
    vmem_map *m2, *m3;
    vmem_region *r = memfd_region(2 * MiB, 4096, 0);
    cr_assert_eq(vmem_map_with_region(map, r, &m2), 0);
    vmem_region_unref(r); /* m2 holds it */
    cr_assert_eq(vmem_map_count(m2), 3);
    cr_assert_eq(vmem_map_count(map), 2, "the old map is unchanged");
    void *p;
    cr_assert_eq(vmem_map_translate(map, 2 * MiB, 1, &p), -EFAULT);
    cr_assert_eq(vmem_map_translate(m2, 2 * MiB, 1, &p), 0);
    cr_assert_eq(vmem_map_without_region(m2, R0_GPA, R0_SIZE, 0, &m3), 0);
    cr_assert_eq(vmem_map_count(m3), 2);
    cr_assert_eq(vmem_map_translate(m3, R0_GPA, 1, &p), -EFAULT);
    cr_assert_eq(vmem_map_translate(m3, 2 * MiB, 1, &p), 0);
    vmem_map_free(m2);
    cr_assert_eq(vmem_map_translate(m3, 2 * MiB + 4095, 1, &p), 0, "regions outlive the first map");
    *(volatile uint8_t *)p = 1;
    vmem_map_free(m3);
}

Test(vmem_map, without_region_matches_gpa_size_and_user_address)
{
    vmem_map *m2 = NULL;
    cr_assert_eq(vmem_map_without_region(map, R1_GPA, R1_SIZE - 1, 0, &m2), -ENOENT, "size differs");
    cr_assert_eq(vmem_map_without_region(map, R1_GPA + 1, R1_SIZE, 0, &m2), -ENOENT, "gpa differs");
    cr_assert_eq(vmem_map_without_region(map, R1_GPA, R1_SIZE, R0_UVA, &m2), -ENOENT, "uva differs");
    cr_assert_null(m2);
    cr_assert_eq(vmem_map_without_region(map, R1_GPA, R1_SIZE, R1_UVA, &m2), 0);
    cr_assert_eq(vmem_map_count(m2), 1);
    vmem_map_free(m2);
}

Test(vmem_map, with_log_attaches_and_detaches)
{
    int fd = zero_memfd(4096);
    vmem_log *l;
    cr_assert_eq(vmem_log_new_fd(fd, 0, 64, &test_log, &l), 0);
    close(fd);
    vmem_map *on, *off;
    cr_assert_eq(vmem_map_with_log(map, l, &on), 0);
    vmem_log_unref(l);
    cr_assert_eq(vmem_map_dirty_log(on), l);
    cr_assert_eq(vmem_map_count(on), 2);
    cr_assert_eq(vmem_map_with_log(on, NULL, &off), 0);
    cr_assert_null(vmem_map_dirty_log(off));
    cr_assert_eq(vmem_map_mark_dirty(off, 0, 4096), 0, "no log: no-op");
    vmem_map *plus;
    vmem_region *r = memfd_region(2 * MiB, 4096, 0);
    cr_assert_eq(vmem_map_with_region(on, r, &plus), 0);
    vmem_region_unref(r);
    cr_assert_eq(vmem_map_dirty_log(plus), l, "derived maps keep the log");
    vmem_map_free(plus);
    vmem_map_free(on);
    vmem_map_free(off);
}

Test(vmem_map, free_null_is_a_no_op) { vmem_map_free(NULL); }

/* 509 regions fit; the 510th is -ENOSPC, whether added or passed at once. */
Test(vmem_map, max_regions_then_enospc)
{
    vmem_region *rs[VMEM_MAX_REGIONS + 1];
    for (size_t i = 0; i <= VMEM_MAX_REGIONS; i++)
        rs[i] = anon_region(16 * MiB + i * 2 * 4096, 4096, 0);
    vmem_map *m = NULL, *m2 = NULL;
    cr_assert_eq(vmem_map_new(rs, VMEM_MAX_REGIONS + 1, NULL, &test_log, &m), -ENOSPC);
    cr_assert_null(m);
    cr_assert_eq(vmem_map_new(rs, VMEM_MAX_REGIONS, NULL, &test_log, &m), 0);
    cr_assert_eq(vmem_map_count(m), VMEM_MAX_REGIONS);
    cr_assert_eq(vmem_map_with_region(m, rs[VMEM_MAX_REGIONS], &m2), -ENOSPC);
    cr_assert_null(m2);
    /* Every region is found by the binary search, and the holes between them are not. */
    for (size_t i = 0; i < VMEM_MAX_REGIONS; i++) {
        const vmem_region *f;
        uint64_t gpa = 16 * MiB + i * 2 * 4096;
        cr_assert_eq(vmem_map_find(m, gpa, &f), 0);
        cr_assert_eq(f, rs[i]);
        cr_assert_eq(vmem_map_find(m, gpa + 4095, &f), 0);
        cr_assert_eq(vmem_map_find(m, gpa + 4096, &f), -EFAULT);
    }
    const vmem_region *f;
    cr_assert_eq(vmem_map_find(m, 16 * MiB - 1, &f), -EFAULT);
    cr_assert_eq(vmem_map_find(m, 0, &f), -EFAULT);
    vmem_map_free(m);
    for (size_t i = 0; i <= VMEM_MAX_REGIONS; i++)
        vmem_region_unref(rs[i]);
}

/* A region that ends at the very top of the guest physical space. */
Test(vmem_map, region_at_the_top_of_the_address_space)
{
    vmem_map *m2;
    vmem_region *top = anon_region(UINT64_MAX - 4095, 4096, 0);
    cr_assert_eq(vmem_map_with_region(map, top, &m2), 0);
    vmem_region_unref(top);
    void *p;
    cr_assert_eq(vmem_map_translate(m2, UINT64_MAX - 7, 8, &p), 0);
    cr_assert_eq(vmem_map_translate(m2, UINT64_MAX, 1, &p), 0);
    cr_assert_eq(vmem_map_translate(m2, UINT64_MAX, 2, &p), -EOVERFLOW);
    cr_assert_eq(vmem_map_translate(m2, UINT64_MAX - 4095, 4096, &p), 0);
    cr_assert_eq(vmem_map_translate(m2, UINT64_MAX - 4096, 2, &p), -EFAULT);
    vmem_map_free(m2);
}

/* ---- the lookup table against a reference scan, on awkward layouts ---------------------------------- */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const vmem_region *reference_find(const vmem_map *m, uint64_t gpa)
{
    for (size_t i = 0; i < vmem_map_count(m); i++) {
        const vmem_region *r = vmem_map_region(m, i);
        if (gpa >= vmem_region_gpa(r) && gpa - vmem_region_gpa(r) < vmem_region_size(r))
            return r;
    }
    return NULL;
}

static void probe(const vmem_map *m, uint64_t gpa)
{
    const vmem_region *want = reference_find(m, gpa), *got = NULL;
    int rc = vmem_map_find(m, gpa, &got);
    cr_assert_eq(rc, want ? 0 : -EFAULT, "gpa 0x%llx", (unsigned long long)gpa);
    if (want)
        cr_assert_eq(got, want, "gpa 0x%llx", (unsigned long long)gpa);
}

static void probe_all(const vmem_map *m)
{
    for (size_t i = 0; i < vmem_map_count(m); i++) {
        const vmem_region *r = vmem_map_region(m, i);
        uint64_t a = vmem_region_gpa(r), z = a + (vmem_region_size(r) - 1);
        probe(m, a);
        probe(m, z);
        probe(m, a - 1);
        probe(m, z + 1);
        probe(m, a + rnd() % vmem_region_size(r));
    }
    for (int k = 0; k < 2000; k++)
        probe(m, rnd());
    probe(m, 0);
    probe(m, UINT64_MAX);
}

/* Up to @n regions of 4 KiB .. 64 MiB (NORESERVE) from @start, with gaps of up to @gap_bits bits; stops
 * early at the top of the address space. */
static vmem_map *random_layout(size_t n, uint64_t start, unsigned gap_bits)
{
    vmem_region *rs[VMEM_MAX_REGIONS];
    uint64_t gpa = start;
    size_t k = 0;
    while (k < n) {
        uint64_t size = (1 + rnd() % 16384) * 4096, gap = gap_bits ? (rnd() >> (64 - gap_bits)) & ~4095ull : 0;
        if (!cvmm_add_u64(gpa, gap, &gpa) || !cvmm_range_ok(gpa, size))
            break;
        rs[k++] = anon_region(gpa, size, VMEM_REGION_NORESERVE);
        if (!cvmm_add_u64(gpa, size, &gpa))
            break;
    }
    cr_assert_gt(k, 0);
    return map_of(rs, k, NULL);
}

Test(vmem_map, lookup_agrees_with_a_linear_scan_on_random_layouts)
{
    static const struct {
        size_t n;
        uint64_t start;
        unsigned gap_bits;
    } shapes[] = {
        {1, 4096, 0},                  /* one region: an 8-bucket table */
        {2, 0, 30},                    /* two, with a gap */
        {5, 0, 0},                     /* adjacent regions */
        {8, 1ull << 32, 20},           /* small gaps */
        {64, 0, 36},                   /* wide gaps */
        {200, 0, 50},                  /* very sparse */
        {40, (1ull << 63) + 4096, 58}, /* runs into the top of the address space */
        {509, 4096, 12},               /* the maximum, dense */
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        vmem_map *m = random_layout(shapes[i].n, shapes[i].start, shapes[i].gap_bits);
        probe_all(m);
        vmem_map_free(m);
    }
}

Test(vmem_map, lookup_with_many_regions_in_one_bucket)
{
    /* 300 tiny regions packed at the bottom and one region near 2^63: every tiny region shares the first
     * bucket, so lookups take the binary search inside it. */
    vmem_region *rs[301];
    for (size_t i = 0; i < 300; i++)
        rs[i] = anon_region(i * 8192, 4096, 0);
    rs[300] = anon_region(1ull << 63, 4096, 0);
    vmem_map *m = map_of(rs, 301, NULL);
    probe_all(m);
    for (uint64_t a = 0; a < 300 * 8192; a += 1024)
        probe(m, a);
    vmem_map_free(m);
}
