/* A consumer of cvmm::virtio-queue: plays the driver of a split ring in guest memory (one chain of one
 * buffer), then pops and completes it as the device. */
#include <cvmm/vmem.h>
#include <cvmm/vq.h>
#include <stdint.h>
#include <stdio.h>

enum { DESC = 0x1000, AVAIL = 0x2000, USED = 0x3000, BUF = 0x4000, QSIZE = 8 };

static int driver_posts_one_buffer(vmem_map *m)
{
    uint8_t d[16] = {0};
    uint64_t addr = BUF;
    uint32_t len = 512;
    for (int i = 0; i < 8; i++)
        d[i] = (uint8_t)(addr >> (8 * i));
    for (int i = 0; i < 4; i++)
        d[8 + i] = (uint8_t)(len >> (8 * i));
    d[12] = 2;                             /* VIRTQ_DESC_F_WRITE */
    uint8_t avail[6] = {0, 0, 1, 0, 0, 0}; /* flags 0, idx 1, ring[0] = 0 */
    int rc = vmem_write(m, DESC, d, sizeof(d));
    return rc ? rc : vmem_write(m, AVAIL, avail, sizeof(avail));
}

int main(void)
{
    vmem_region_desc rd = {.gpa = 0, .size = 1 << 16};
    vmem_region *r = NULL;
    vmem_map *m = NULL;
    vq_queue *q = NULL;
    vq_queue_config qc = {.max_size = QSIZE};
    vq_chain c;
    uint8_t used_idx[2] = {0};
    int rc = vmem_region_new_memfd(&rd, NULL, &r);
    if (rc == 0)
        rc = vmem_map_new(&r, 1, NULL, NULL, &m);
    if (rc == 0)
        rc = driver_posts_one_buffer(m);
    if (rc == 0)
        rc = vq_queue_new(&qc, &q);
    if (rc == 0)
        rc = vq_queue_set_addrs(q, DESC, AVAIL, USED);
    if (rc == 0)
        rc = vq_queue_set_map(q, m);
    if (rc == 0)
        rc = vq_queue_set_ready(q, true);
    if (rc == 0)
        rc = vq_pop(q, &c) == 1 && c.head == 0 ? 0 : -1;
    if (rc == 0)
        rc = vq_add_used(q, c.head, 100);
    if (rc == 0)
        rc = vmem_read(m, USED + 2, used_idx, 2);
    vq_queue_free(q);
    vmem_map_free(m);
    vmem_region_unref(r);
    if (rc != 0 || used_idx[0] != 1) {
        printf("consumer virtio-queue: FAIL rc=%d used idx %u\n", rc, used_idx[0]);
        return 1;
    }
    printf("consumer virtio-queue: ok (popped chain %u, used idx 1)\n", c.head);
    return 0;
}
