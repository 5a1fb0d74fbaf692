/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* --print-capabilities (cvmm/vub/cmdline.h): the JSON object of the vhost-user spec's "Back-end program
 * conventions", checked against the rules of the spec's discovery schema (docs/interop/vhost-user.json,
 * VHostUserBackendType and VHostUserBackendCapabilities) before anything is written.
 *
 * The rules, in our words (we do not copy QEMU's GPL schema):
 *  - "type" is one of the back-end types the schema enumerates (the table below);
 *  - "features" exists only for the types whose capabilities carry a feature list, and then always (an
 *    empty list included): input and gpu (the union's branches), and block (its capability struct, which
 *    QEMU's own vhost-user-blk prints); every feature is one of that type's names;
 *  - nothing else is printed. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvmm/vub/cmdline.h"
#include "internal.h"

int vub__write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -EIO;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static const struct {
    const char *type;
    const char *const *features; /* NULL-terminated; NULL: the type has no feature list */
} types[] = {
    {"9p", NULL},
    {"balloon", NULL},
    {"block", (const char *const[]){"read-only", "blk-file", NULL}},
    {"caif", NULL},
    {"console", NULL},
    {"crypto", NULL},
    {"gpu", (const char *const[]){"render-node", "virgl", NULL}},
    {"input", (const char *const[]){"evdev-path", "no-grab", NULL}},
    {"net", NULL},
    {"rng", NULL},
    {"rpmsg", NULL},
    {"rproc-serial", NULL},
    {"scsi", NULL},
    {"vsock", NULL},
    {"fs", NULL},
};

static bool listed(const char *const *names, const char *s)
{
    for (size_t i = 0; names && names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return true;
    return false;
}

/* find_type() - the entry of @type, or -1. */
static int find_type(const char *type)
{
    for (size_t i = 0; i < CVMM_ARRAY_SIZE(types); i++)
        if (strcmp(types[i].type, type) == 0)
            return (int)i;
    return -1;
}

int vub_print_capabilities(int fd, const char *type, const char *const *features)
{
    int t = type ? find_type(type) : -1;
    if (t < 0)
        return -EINVAL;
    for (size_t i = 0; features && features[i]; i++)
        if (!listed(types[t].features, features[i]))
            return -EINVAL;
    int rc = -ENOMEM;
    json_t *root = json_object(), *arr = types[t].features ? json_array() : NULL;
    if (!root || (types[t].features && !arr))
        goto out;
    if (json_object_set_new(root, "type", json_string(type)) < 0)
        goto out;
    for (size_t i = 0; arr && features && features[i]; i++)
        if (json_array_append_new(arr, json_string(features[i])) < 0)
            goto out;
    if (arr && json_object_set(root, "features", arr) < 0)
        goto out;
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s)
        goto out;
    rc = vub__write_all(fd, s, strlen(s));
    if (rc == 0)
        rc = vub__write_all(fd, "\n", 1);
    free(s);
out:
    json_decref(arr);
    json_decref(root);
    return rc;
}
