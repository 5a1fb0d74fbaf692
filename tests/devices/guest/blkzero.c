/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* blkzero - guest helper for e2e-blk-discard.sh (built static on the host, copied into the guest):
 *   blkzero DEV OFFSET LENGTH          ioctl(BLKZEROOUT): VIRTIO_BLK_T_WRITE_ZEROES without the unmap flag
 *   blkzero DEV OFFSET LENGTH unmap    fallocate(PUNCH_HOLE): VIRTIO_BLK_T_WRITE_ZEROES with the unmap flag
 * Exit status 0 on success; 1 with a message otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: blkzero DEV OFFSET LENGTH [unmap]\n");
        return 1;
    }
    uint64_t range[2] = {strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0)};
    int unmap = argc > 4 && strcmp(argv[4], "unmap") == 0;
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "blkzero: open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    int rc = unmap ? fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)range[0], (off_t)range[1])
                   : ioctl(fd, BLKZEROOUT, range);
    if (rc < 0) {
        fprintf(stderr, "blkzero: %s: %s\n", unmap ? "fallocate(PUNCH_HOLE)" : "BLKZEROOUT", strerror(errno));
        return 1;
    }
    close(fd);
    return 0;
}
