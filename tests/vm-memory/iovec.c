/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vm-memory/iovec.c - guest ranges as host iovecs for zero-copy I/O (vmem_map_iovec()). */
#include <fcntl.h>

#include "helpers.h"

/* A [0, 8K), B [8K, 12K), C [12K, 16K) adjacent; hole; D [1M, 1M+4K) read-only. */
static vmem_map *map;
static uint8_t *h[4];

static void setup(void)
{
    fd_mark();
    vmem_region *rs[4] = {memfd_region(0, 8 * KiB, 0), memfd_region(8 * KiB, 4 * KiB, 0),
                          memfd_region(12 * KiB, 4 * KiB, 0), memfd_region(1 * MiB, 4 * KiB, VMEM_REGION_READ_ONLY)};
    for (int i = 0; i < 4; i++)
        h[i] = vmem_region_hva(rs[i]);
    map = map_of(rs, 4, NULL);
}

static void teardown(void)
{
    vmem_map_free(map);
    no_fd_leaked();
}

TestSuite(vmem_iovec, .init = setup, .fini = teardown, .timeout = 120);

Test(vmem_iovec, one_region_gives_one_iovec)
{
    struct iovec iov[4];
    cr_assert_eq(vmem_map_iovec(map, 100, 200, false, iov, 4), 1);
    cr_assert_eq(iov[0].iov_base, h[0] + 100);
    cr_assert_eq(iov[0].iov_len, 200);
    cr_assert_eq(vmem_map_iovec(map, 1 * MiB, 4096, false, iov, 1), 1, "read-only region, for reading");
    cr_assert_eq(iov[0].iov_base, h[3]);
}

Test(vmem_iovec, range_across_regions_gives_one_iovec_per_region)
{
    struct iovec iov[3];
    cr_assert_eq(vmem_map_iovec(map, 8 * KiB - 10, 4 * KiB + 20, true, iov, 3), 3);
    cr_assert_eq(iov[0].iov_base, h[0] + 8 * KiB - 10);
    cr_assert_eq(iov[0].iov_len, 10);
    cr_assert_eq(iov[1].iov_base, h[1]);
    cr_assert_eq(iov[1].iov_len, 4 * KiB);
    cr_assert_eq(iov[2].iov_base, h[2]);
    cr_assert_eq(iov[2].iov_len, 10);
}

Test(vmem_iovec, too_few_entries_is_enospc)
{
    struct iovec iov[2];
    cap.lines = 0;
    cr_assert_eq(vmem_map_iovec(map, 8 * KiB - 10, 4 * KiB + 20, false, iov, 2), -ENOSPC);
    cr_assert_eq(cap.lines, 1);
    cr_assert_eq(vmem_map_iovec(map, 0, 1, false, iov, 0), -ENOSPC);
    cr_assert_eq(vmem_map_iovec(map, 0, 8 * KiB + 1, false, iov, 1), -ENOSPC);
    cr_assert_eq(vmem_map_iovec(map, 0, 8 * KiB, false, iov, 1), 1, "exactly enough");
}

Test(vmem_iovec, zero_length_gives_no_iovec)
{
    struct iovec iov[1];
    cr_assert_eq(vmem_map_iovec(map, 0xdead000, 0, true, iov, 1), 0);
    cr_assert_eq(vmem_map_iovec(map, 0, 0, false, iov, 0), 0);
}

Test(vmem_iovec, errors)
{
    struct iovec iov[8];
    cr_assert_eq(vmem_map_iovec(map, 16 * KiB - 4, 8, false, iov, 8), -EFAULT, "runs into the hole");
    cr_assert_eq(vmem_map_iovec(map, 64 * KiB, 8, false, iov, 8), -EFAULT, "starts in the hole");
    cr_assert_eq(vmem_map_iovec(map, UINT64_MAX - 4, 8, false, iov, 8), -EOVERFLOW);
    cr_assert_eq(vmem_map_iovec(map, 1 * MiB + 8, 8, true, iov, 8), -EPERM);
    cr_assert_eq(vmem_map_iovec(map, 1 * MiB + 4088, 16, true, iov, 8), -EPERM, "read-only seen first");
}

Test(vmem_iovec, readv_and_writev_move_guest_data)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    struct iovec iov[3];
    const char msg[] = "zero-copy across regions";
    int n = vmem_map_iovec(map, 8 * KiB - 5, sizeof(msg), true, iov, 3);
    cr_assert_eq(n, 2);
    cr_assert_eq(write(p[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
    cr_assert_eq(readv(p[0], iov, n), (ssize_t)sizeof(msg));
    char back[sizeof(msg)];
    cr_assert_eq(vmem_read(map, 8 * KiB - 5, back, sizeof(back)), 0);
    cr_assert_str_eq(back, msg);
    n = vmem_map_iovec(map, 8 * KiB - 5, sizeof(msg), false, iov, 3);
    cr_assert_eq(writev(p[1], iov, n), (ssize_t)sizeof(msg));
    memset(back, 0, sizeof(back));
    cr_assert_eq(read(p[0], back, sizeof(back)), (ssize_t)sizeof(back));
    cr_assert_str_eq(back, msg);
    close(p[0]);
    close(p[1]);
}

Test(vmem_iovec, writer_marks_the_range_dirty_itself)
{
    int fd = zero_memfd(4096);
    vmem_log *l;
    cr_assert_eq(vmem_log_new_fd(fd, 0, 4096, &test_log, &l), 0);
    close(fd);
    vmem_map *logged;
    cr_assert_eq(vmem_map_with_log(map, l, &logged), 0);
    struct iovec iov[2];
    cr_assert_eq(vmem_map_iovec(logged, 4 * KiB, 8 * KiB, true, iov, 2), 2);
    cr_assert_eq(vmem_log_bitmap(l)[0], 0, "handing out iovecs marks nothing");
    memset(iov[0].iov_base, 1, iov[0].iov_len);
    memset(iov[1].iov_base, 1, iov[1].iov_len);
    cr_assert_eq(vmem_map_mark_dirty(logged, 4 * KiB, 8 * KiB), 0);
    cr_assert_eq(vmem_log_bitmap(l)[0], 0x06, "pages 1 and 2");
    vmem_map_free(logged);
    vmem_log_unref(l);
}
