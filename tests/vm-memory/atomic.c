/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vm-memory/atomic.c - the inline atomics on cached host pointers (cvmm/vmem/atomic.h). */
#include "helpers.h"

TestSuite(vmem_atomic, .init = fd_mark, .fini = no_fd_leaked, .timeout = 120);

static _Alignas(8) uint8_t mem[16];

Test(vmem_atomic, stores_are_little_endian)
{
    memset(mem, 0, sizeof(mem));
    vmem_hva_store_release_le16(mem, 0x0201);
    vmem_hva_store_release_le32(mem + 4, 0x06050403u);
    vmem_hva_store_relaxed_le64(mem + 8, 0x0e0d0c0b0a090807ull);
    static const uint8_t want[16] = {1, 2, 0, 0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    cr_assert_arr_eq(mem, want, 16);
    vmem_hva_store_relaxed_le16(mem + 2, 0xbbaa);
    cr_assert_eq(mem[2], 0xaa);
    cr_assert_eq(mem[3], 0xbb);
    vmem_hva_store_relaxed_le32(mem + 4, 0xddccbbaau);
    cr_assert_eq(mem[4], 0xaa);
    cr_assert_eq(mem[7], 0xdd);
}

Test(vmem_atomic, loads_are_little_endian)
{
    for (int i = 0; i < 16; i++)
        mem[i] = (uint8_t)(0x10 + i);
    cr_assert_eq(vmem_hva_load_acquire_le16(mem), 0x1110);
    cr_assert_eq(vmem_hva_load_relaxed_le16(mem + 2), 0x1312);
    cr_assert_eq(vmem_hva_load_acquire_le32(mem + 4), 0x17161514u);
    cr_assert_eq(vmem_hva_load_relaxed_le32(mem + 4), 0x17161514u);
    cr_assert_eq(vmem_hva_load_relaxed_le64(mem + 8), 0x1f1e1d1c1b1a1918ull);
}

Test(vmem_atomic, or_u8_sets_bits_and_keeps_the_rest)
{
    mem[0] = 0x81;
    vmem_hva_or_u8(mem, 0x06);
    cr_assert_eq(mem[0], 0x87);
    vmem_hva_or_u8(mem, 0x01);
    cr_assert_eq(mem[0], 0x87);
}

Test(vmem_atomic, fences_compile_and_run)
{
    vmem_fence_release();
    vmem_fence_acquire();
    vmem_fence_seq_cst();
}
