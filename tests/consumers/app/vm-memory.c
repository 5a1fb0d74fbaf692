/* A consumer of an installed or vendored cvmm: writes and reads guest memory through cvmm::vm-memory. */
#include <cvmm/vmem.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    vmem_region_desc d = {.gpa = 0x10000, .size = 1 << 20};
    vmem_region *r = NULL;
    vmem_map *m = NULL;
    char out[6] = {0};
    int rc = vmem_region_new_memfd(&d, NULL, &r);
    if (rc == 0)
        rc = vmem_map_new(&r, 1, NULL, NULL, &m);
    if (rc == 0)
        rc = vmem_write(m, 0x10010, "cvmm!", 5);
    if (rc == 0)
        rc = vmem_read(m, 0x10010, out, 5);
    vmem_map_free(m);
    vmem_region_unref(r);
    if (rc != 0 || strcmp(out, "cvmm!") != 0) {
        printf("consumer: FAIL rc=%d out=%s\n", rc, out);
        return 1;
    }
    printf("consumer: ok (%s)\n", out);
    return 0;
}
