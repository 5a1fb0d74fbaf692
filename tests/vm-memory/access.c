/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vm-memory/access.c - copies across regions and typed little-endian access (cvmm/vmem/access.h). */
#include "helpers.h"

/* Three regions: A [0, 8K) and B [8K, 16K) are adjacent, a hole, then C [64K, 68K) read-only. */
#define A_GPA 0ull
#define B_GPA (8 * KiB)
#define B_END (16 * KiB)
#define C_GPA (64 * KiB)
#define C_END (68 * KiB)

static vmem_map *map;
static uint8_t *ha, *hb, *hc;

static void three_regions(void)
{
    fd_mark();
    vmem_region *rs[3] = {memfd_region(A_GPA, 8 * KiB, 0), memfd_region(B_GPA, 8 * KiB, 0),
                          memfd_region(C_GPA, 4 * KiB, VMEM_REGION_READ_ONLY)};
    ha = vmem_region_hva(rs[0]);
    hb = vmem_region_hva(rs[1]);
    hc = vmem_region_hva(rs[2]);
    map = map_of(rs, 3, NULL);
}

static void free_map(void)
{
    vmem_map_free(map);
    no_fd_leaked();
}

TestSuite(vmem_access, .init = three_regions, .fini = free_map, .timeout = 120);

Test(vmem_access, write_then_read_in_one_region)
{
    char out[6] = {0};
    cr_assert_eq(vmem_write(map, 100, "hello", 6), 0);
    cr_assert_str_eq((char *)ha + 100, "hello");
    cr_assert_eq(vmem_read(map, 100, out, 6), 0);
    cr_assert_str_eq(out, "hello");
}

Test(vmem_access, copies_cross_adjacent_regions)
{
    uint8_t in[256], out[256];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    cr_assert_eq(vmem_write(map, B_GPA - 100, in, sizeof(in)), 0);
    cr_assert_eq(memcmp(ha + B_GPA - 100, in, 100), 0);
    cr_assert_eq(memcmp(hb, in + 100, 156), 0);
    cr_assert_eq(vmem_read(map, B_GPA - 100, out, sizeof(out)), 0);
    cr_assert_eq(memcmp(in, out, sizeof(in)), 0);
}

Test(vmem_access, copy_over_a_hole_is_efault_and_copies_nothing)
{
    uint8_t in[64], out[64];
    memset(in, 0xab, sizeof(in));
    memset(out, 0x11, sizeof(out));
    cr_assert_eq(vmem_write(map, B_END - 32, in, sizeof(in)), -EFAULT);
    for (int i = 0; i < 32; i++)
        cr_assert_eq(hb[8 * KiB - 32 + i], 0, "nothing written before the hole");
    cr_assert_eq(vmem_read(map, B_END - 32, out, sizeof(out)), -EFAULT);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(out[i], 0x11, "nothing read");
    cr_assert_eq(vmem_read(map, B_END + 4096, out, 1), -EFAULT, "fully unmapped");
}

Test(vmem_access, copy_across_three_regions_with_a_hole_is_efault)
{
    static uint8_t big[C_END];
    cr_assert_eq(vmem_read(map, A_GPA, big, sizeof(big)), -EFAULT);
}

Test(vmem_access, zero_length_copies_succeed_anywhere)
{
    uint8_t b = 0x5a;
    cr_assert_eq(vmem_read(map, 0xdead0000, &b, 0), 0);
    cr_assert_eq(vmem_write(map, UINT64_MAX, &b, 0), 0);
    cr_assert_eq(vmem_write(map, C_GPA, &b, 0), 0, "even read-only");
    cr_assert_eq(b, 0x5a);
}

Test(vmem_access, wrapping_copies_are_eoverflow)
{
    uint8_t b[16] = {0};
    cr_assert_eq(vmem_read(map, UINT64_MAX - 7, b, 16), -EOVERFLOW);
    cr_assert_eq(vmem_write(map, UINT64_MAX, b, 2), -EOVERFLOW);
}

Test(vmem_access, write_to_read_only_region_is_eperm)
{
    uint8_t b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    cr_assert_eq(vmem_write(map, C_GPA, b, 8), -EPERM);
    cr_assert_eq(hc[0], 0);
    cr_assert_eq(vmem_store_le32(map, C_GPA + 4, 7), -EPERM);
    cr_assert_eq(vmem_store_le16(map, C_GPA, 7), -EPERM);
    cr_assert_eq(vmem_store_le64(map, C_GPA + 8, 7), -EPERM);
    cr_assert_eq(vmem_store_release_u16(map, C_GPA, 7), -EPERM);
    cr_assert_eq(vmem_store_release_u32(map, C_GPA, 7), -EPERM);
    cr_assert_eq(vmem_read(map, C_GPA, b, 8), 0, "reading is fine");
    cr_assert_eq(b[0], 0);
    uint32_t v = 1;
    cr_assert_eq(vmem_load_le32(map, C_GPA, &v), 0);
    cr_assert_eq(v, 0);
}

Test(vmem_access, typed_values_are_little_endian)
{
    cr_assert_eq(vmem_store_le64(map, 64, 0x0807060504030201ull), 0);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(ha[64 + i], i + 1);
    cr_assert_eq(vmem_store_le32(map, 72, 0x0d0c0b0au), 0);
    cr_assert_eq(ha[72], 0x0a);
    cr_assert_eq(ha[75], 0x0d);
    cr_assert_eq(vmem_store_le16(map, 76, 0x0f0eu), 0);
    cr_assert_eq(ha[76], 0x0e);
    cr_assert_eq(ha[77], 0x0f);
    uint64_t v64;
    uint32_t v32;
    uint16_t v16;
    cr_assert_eq(vmem_load_le64(map, 64, &v64), 0);
    cr_assert_eq(v64, 0x0807060504030201ull);
    cr_assert_eq(vmem_load_le32(map, 72, &v32), 0);
    cr_assert_eq(v32, 0x0d0c0b0au);
    cr_assert_eq(vmem_load_le16(map, 76, &v16), 0);
    cr_assert_eq(v16, 0x0f0e);
}

Test(vmem_access, acquire_release_round_trip)
{
    uint16_t v16;
    uint32_t v32;
    cr_assert_eq(vmem_store_release_u16(map, B_GPA + 2, 0xbeef), 0);
    cr_assert_eq(hb[2], 0xef);
    cr_assert_eq(hb[3], 0xbe);
    cr_assert_eq(vmem_load_acquire_u16(map, B_GPA + 2, &v16), 0);
    cr_assert_eq(v16, 0xbeef);
    cr_assert_eq(vmem_store_release_u32(map, B_GPA + 4, 0xcafef00du), 0);
    cr_assert_eq(vmem_load_acquire_u32(map, B_GPA + 4, &v32), 0);
    cr_assert_eq(v32, 0xcafef00du);
    cr_assert_eq(hb[4], 0x0d);
}

Test(vmem_access, misaligned_typed_access_is_einval)
{
    uint16_t v16 = 9;
    uint32_t v32 = 9;
    uint64_t v64 = 9;
    cr_assert_eq(vmem_load_le16(map, 1, &v16), -EINVAL);
    cr_assert_eq(vmem_load_le32(map, 2, &v32), -EINVAL);
    cr_assert_eq(vmem_load_le64(map, 4, &v64), -EINVAL);
    cr_assert_eq(vmem_load_acquire_u16(map, 3, &v16), -EINVAL);
    cr_assert_eq(vmem_load_acquire_u32(map, 6, &v32), -EINVAL);
    cr_assert_eq(vmem_store_le16(map, 1, 1), -EINVAL);
    cr_assert_eq(vmem_store_le32(map, 1, 1), -EINVAL);
    cr_assert_eq(vmem_store_le64(map, 12, 1), -EINVAL);
    cr_assert_eq(vmem_store_release_u16(map, 5, 1), -EINVAL);
    cr_assert_eq(vmem_store_release_u32(map, 2, 1), -EINVAL);
    cr_assert_eq(vmem_store_le64(map, C_GPA + 1, 1), -EINVAL, "misaligned wins over read-only");
    cr_assert_eq(v16 + v32 + v64, 27, "outputs untouched");
    for (int i = 0; i < 16; i++)
        cr_assert_eq(ha[i], 0, "nothing stored");
}

Test(vmem_access, unmapped_typed_access_is_efault)
{
    uint16_t v16 = 9;
    uint32_t v32 = 9;
    uint64_t v64 = 9;
    cr_assert_eq(vmem_load_le16(map, B_END, &v16), -EFAULT);
    cr_assert_eq(vmem_load_le32(map, C_END, &v32), -EFAULT);
    cr_assert_eq(vmem_load_le64(map, UINT64_MAX - 7, &v64), -EFAULT);
    cr_assert_eq(vmem_load_acquire_u16(map, B_END + 2, &v16), -EFAULT);
    cr_assert_eq(vmem_load_acquire_u32(map, B_END + 4, &v32), -EFAULT);
    cr_assert_eq(vmem_store_le16(map, B_END, 1), -EFAULT);
    cr_assert_eq(vmem_store_le32(map, B_END, 1), -EFAULT);
    cr_assert_eq(vmem_store_le64(map, B_END, 1), -EFAULT);
    cr_assert_eq(vmem_store_release_u16(map, B_END, 1), -EFAULT);
    cr_assert_eq(vmem_store_release_u32(map, B_END, 1), -EFAULT);
    cr_assert_eq(v16 + v32 + v64, 27, "outputs untouched");
}

Test(vmem_access, typed_access_at_the_last_bytes_of_a_region)
{
    uint64_t v = 0;
    cr_assert_eq(vmem_store_le64(map, B_END - 8, 0x1122334455667788ull), 0);
    cr_assert_eq(vmem_load_le64(map, B_END - 8, &v), 0);
    cr_assert_eq(v, 0x1122334455667788ull);
    /* A u64 at B_GPA - 8 lies in A; the same across A/B is never aligned, so cannot straddle. */
    cr_assert_eq(vmem_store_le64(map, B_GPA - 8, 5), 0);
    cr_assert_eq(ha[8 * KiB - 8], 5);
}

Test(vmem_access, failures_are_logged_at_debug_with_the_address)
{
    uint8_t b[4];
    cap.lines = 0;
    cr_assert_eq(vmem_read(map, 0x30000, b, 4), -EFAULT);
    cr_assert_eq(cap.lines, 1);
    cr_assert_eq(cap.last_level, CVMM_LOG_DEBUG);
    cr_assert(strstr(cap.last, "vmem: read gpa 0x30000 len 4"), "line: %s", cap.last);
}

Test(vmem_access, null_logger_does_not_print_debug_lines)
{
    vmem_map *quiet;
    vmem_region *r = memfd_region(0, 4096, 0);
    cr_assert_eq(vmem_map_new(&r, 1, NULL, NULL, &quiet), 0);
    vmem_region_unref(r);
    uint8_t b;
    cr_assert_eq(vmem_read(quiet, 4096, &b, 1), -EFAULT); /* would go to stderr only at WARN and above */
    vmem_map_free(quiet);
}

/* Copies of every size class (inline, memcpy, the wide-vector loop and its overlapping tail), inside a
 * region and across A/B, are byte-exact and touch nothing outside the range. */
Test(vmem_access, copies_of_all_sizes_are_byte_exact)
{
    static const size_t lens[] = {1,   3,    4,    7,    8,    9,    15,   16,   17,   100,  127, 128,
                                  129, 1023, 1024, 1025, 1151, 1152, 1279, 4096, 5000, 8191, 8192};
    static const uint64_t starts[] = {0, 1, 8, 13, 4096 - 3, B_GPA - 600, B_GPA - 1, B_GPA + 5};
    static uint8_t in[16 * KiB], out[16 * KiB + 2];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 31 + 7);
    for (size_t si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
        for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
            uint64_t gpa = starts[si];
            size_t len = lens[li];
            if (gpa + len > B_END)
                continue;
            memset(ha, 0, 8 * KiB);
            memset(hb, 0, 8 * KiB);
            cr_assert_eq(vmem_write(map, gpa, in + 1, len), 0, "write gpa %llu len %zu", (unsigned long long)gpa, len);
            for (uint64_t a = 0; a < B_END; a++) {
                uint8_t got = a < B_GPA ? ha[a] : hb[a - B_GPA];
                uint8_t want = a >= gpa && a < gpa + len ? in[1 + a - gpa] : 0;
                if (got != want)
                    cr_assert_fail("write gpa %llu len %zu: byte %llu is 0x%02x, want 0x%02x", (unsigned long long)gpa,
                                   len, (unsigned long long)a, got, want);
            }
            memset(out, 0xee, sizeof(out));
            cr_assert_eq(vmem_read(map, gpa, out + 1, len), 0);
            cr_assert_eq(memcmp(out + 1, in + 1, len), 0, "read gpa %llu len %zu", (unsigned long long)gpa, len);
            cr_assert_eq(out[0], 0xee);
            cr_assert_eq(out[len + 1], 0xee, "read past the end");
        }
    }
}
