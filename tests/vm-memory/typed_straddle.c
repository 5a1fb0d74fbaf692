/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* A naturally aligned typed access can still run past the end of a region whose size is not a multiple of
 * the access width (a region starts 8-aligned, its size is free).  Such an access is never allowed past
 * the last byte: every typed accessor fails it with -EFAULT, logs it, and touches no byte.  Accesses that
 * end right on that odd last byte succeed. */
#include "helpers.h"

/* A: [0x1000, 0x2001) read-write, 0x2000 its last byte; B: [0x2008, 0x3001) read-only, 0x3000 its last. */
#define A_GPA 0x1000ull
#define A_LAST 0x2000ull
#define B_GPA 0x2008ull
#define B_LAST 0x3000ull

static vmem_map *map;
static uint8_t *ha, *hb;

static void two_odd_regions(void)
{
    fd_mark();
    vmem_region *rs[2] = {memfd_region(A_GPA, A_LAST + 1 - A_GPA, 0),
                          memfd_region(B_GPA, B_LAST + 1 - B_GPA, VMEM_REGION_READ_ONLY)};
    ha = vmem_region_hva(rs[0]);
    hb = vmem_region_hva(rs[1]);
    map = map_of(rs, 2, NULL);
    memset(ha + (A_LAST - A_GPA), 0x5a, 1);
}

static void free_map(void)
{
    vmem_map_free(map);
    no_fd_leaked();
}

TestSuite(typed_straddle, .init = two_odd_regions, .fini = free_map, .timeout = 120);

static void untouched(void)
{
    cr_assert_eq(ha[A_LAST - A_GPA], 0x5a, "A's last byte is untouched");
    for (uint64_t i = B_LAST - 8; i <= B_LAST; i++)
        cr_assert_eq(hb[i - B_GPA], 0, "B's last bytes are untouched");
}

Test(typed_straddle, every_load_across_the_odd_end_of_a_region_is_efault)
{
    uint16_t v16 = 9;
    uint32_t v32 = 9;
    uint64_t v64 = 9;
    cap.lines = 0;
    cr_assert_eq(vmem_load_le16(map, A_LAST, &v16), -EFAULT);
    cr_assert_eq(vmem_load_le32(map, A_LAST, &v32), -EFAULT);
    cr_assert_eq(vmem_load_le64(map, A_LAST, &v64), -EFAULT);
    cr_assert_eq(vmem_load_acquire_u16(map, A_LAST, &v16), -EFAULT);
    cr_assert_eq(vmem_load_acquire_u32(map, A_LAST, &v32), -EFAULT);
    cr_assert_eq(v16 + v32 + v64, 27, "outputs untouched");
    cr_assert_eq(cap.lines, 5, "each failure is logged");
    cr_assert_not_null(strstr(cap.last, "vmem_load_acquire_u32"), "%s", cap.last);
    cr_assert_not_null(strstr(cap.last, "0x2000"), "%s", cap.last);
}

Test(typed_straddle, every_store_across_the_odd_end_of_a_region_is_efault)
{
    cr_assert_eq(vmem_store_le16(map, A_LAST, 0xffff), -EFAULT);
    cr_assert_eq(vmem_store_le32(map, A_LAST, 0xffffffffu), -EFAULT);
    cr_assert_eq(vmem_store_le64(map, A_LAST, ~0ull), -EFAULT);
    cr_assert_eq(vmem_store_release_u16(map, A_LAST, 0xffff), -EFAULT);
    cr_assert_eq(vmem_store_release_u32(map, A_LAST, 0xffffffffu), -EFAULT);
    untouched();
}

Test(typed_straddle, accesses_that_end_on_the_odd_last_byte_succeed)
{
    uint64_t v64 = 0;
    uint32_t v32 = 0;
    uint16_t v16 = 0;
    cr_assert_eq(vmem_store_le64(map, A_LAST - 8, 0x0102030405060708ull), 0);
    cr_assert_eq(vmem_load_le64(map, A_LAST - 8, &v64), 0);
    cr_assert_eq(v64, 0x0102030405060708ull);
    cr_assert_eq(vmem_store_release_u32(map, A_LAST - 4, 0xa1b2c3d4u), 0);
    cr_assert_eq(vmem_load_acquire_u32(map, A_LAST - 4, &v32), 0);
    cr_assert_eq(v32, 0xa1b2c3d4u);
    cr_assert_eq(vmem_load_le16(map, A_LAST - 2, &v16), 0);
    cr_assert_eq(v16, 0xa1b2);
    uint8_t b[2] = {0, 7};
    cr_assert_eq(vmem_read(map, A_LAST, b, 1), 0, "the odd last byte itself is readable");
    cr_assert_eq(b[0], 0x5a);
    cr_assert_eq(vmem_read(map, A_LAST, b, 2), -EFAULT, "a byte copy past it is not");
    untouched();
}

Test(typed_straddle, leaving_a_read_only_region_is_efault_and_a_store_inside_it_eperm)
{
    uint16_t v16 = 9;
    cr_assert_eq(vmem_store_le64(map, B_LAST, 1), -EFAULT, "past the end is checked before read-only");
    cr_assert_eq(vmem_store_release_u32(map, B_LAST, 1), -EFAULT);
    cr_assert_eq(vmem_store_le16(map, B_LAST - 2, 1), -EPERM);
    cr_assert_eq(vmem_store_release_u16(map, B_LAST - 2, 1), -EPERM);
    cr_assert_eq(vmem_load_le16(map, B_LAST - 2, &v16), 0);
    cr_assert_eq(v16, 0);
    untouched();
}
