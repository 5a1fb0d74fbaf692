/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Every example device's --print-capabilities output and every discovery file in the build tree
 * (devices/<name>/50-cvmm-<name>.json) against the spec's schema, docs/interop/vhost-user.json (the
 * vhost-user spec, "Back-end program conventions": VHostUserBackendCapabilities and VhostUserBackend).
 * The rules are written here in our own words (QEMU's schema file is GPL and not copied), independently
 * of the library's own check in vhost-user-backend/src/capabilities.c:
 *  - a back-end type is one of: 9p balloon block caif console crypto gpu input net rng rpmsg rproc-serial
 *    scsi vsock fs (VHostUserBackendType);
 *  - capabilities are an object with "type" and, only for the types whose capabilities have a feature
 *    list, "features": an array of that type's feature names (block: read-only blk-file, QEMU's
 *    vhost-user-blk prints it from VHostUserBackendCapabilitiesBlock; input: evdev-path no-grab; gpu:
 *    render-node virgl); nothing else;
 *  - a discovery file is an object with "description" (string), "type" (a back-end type), "binary" (an
 *    absolute path) and optionally "tags" (array of strings); nothing else. */
#include <criterion/criterion.h>
#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(capabilities, .timeout = 60);

static const char *const backend_types[] = {"9p",     "balloon",      "block", "caif",  "console",
                                            "crypto", "gpu",          "input", "net",   "rng",
                                            "rpmsg",  "rproc-serial", "scsi",  "vsock", "fs"};
static const struct {
    const char *type;
    const char *names[3];
} feature_lists[] = {
    {"block", {"read-only", "blk-file", NULL}},
    {"input", {"evdev-path", "no-grab", NULL}},
    {"gpu", {"render-node", "virgl", NULL}},
};

static bool is_backend_type(const char *t)
{
    for (size_t i = 0; t && i < sizeof(backend_types) / sizeof(backend_types[0]); i++)
        if (strcmp(t, backend_types[i]) == 0)
            return true;
    return false;
}

/* features_of() - the feature names of @type, or NULL when its capabilities have no feature list. */
static const char *const *features_of(const char *type)
{
    for (size_t i = 0; i < sizeof(feature_lists) / sizeof(feature_lists[0]); i++)
        if (strcmp(type, feature_lists[i].type) == 0)
            return feature_lists[i].names;
    return NULL;
}

static bool only_keys(json_t *o, const char *const *keys, char *why, size_t len)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        bool known = false;
        for (size_t i = 0; keys[i]; i++)
            known |= strcmp(k, keys[i]) == 0;
        if (!known) {
            snprintf(why, len, "unknown member '%s'", k);
            return false;
        }
    }
    return true;
}

/* caps_valid() - @j is a valid VHostUserBackendCapabilities; else false and @why. */
static bool caps_valid(json_t *j, char *why, size_t len)
{
    if (!json_is_object(j))
        return snprintf(why, len, "not an object"), false;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!is_backend_type(type))
        return snprintf(why, len, "type '%s' is not a VHostUserBackendType", type ? type : "(none)"), false;
    if (!only_keys(j, (const char *const[]){"type", "features", NULL}, why, len))
        return false;
    const char *const *names = features_of(type);
    json_t *f = json_object_get(j, "features");
    if (!names)
        return f ? (snprintf(why, len, "type '%s' has no features in the schema", type), false) : true;
    if (!json_is_array(f))
        return snprintf(why, len, "type '%s' needs a features array", type), false;
    size_t i;
    json_t *v;
    json_array_foreach(f, i, v)
    {
        const char *s = json_string_value(v);
        bool ok = false;
        for (size_t k = 0; s && names[k]; k++)
            ok |= strcmp(s, names[k]) == 0;
        if (!ok)
            return snprintf(why, len, "'%s' is not a %s feature", s ? s : "(not a string)", type), false;
    }
    return true;
}

/* discovery_valid() - @j is a valid VhostUserBackend; else false and @why. */
static bool discovery_valid(json_t *j, char *why, size_t len)
{
    if (!json_is_object(j))
        return snprintf(why, len, "not an object"), false;
    if (!only_keys(j, (const char *const[]){"description", "type", "binary", "tags", NULL}, why, len))
        return false;
    if (!json_is_string(json_object_get(j, "description")))
        return snprintf(why, len, "description is not a string"), false;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!is_backend_type(type))
        return snprintf(why, len, "type '%s' is not a VHostUserBackendType", type ? type : "(none)"), false;
    const char *bin = json_string_value(json_object_get(j, "binary"));
    if (!bin || bin[0] != '/')
        return snprintf(why, len, "binary '%s' is not an absolute path", bin ? bin : "(none)"), false;
    json_t *tags = json_object_get(j, "tags"), *v;
    size_t i;
    if (tags && !json_is_array(tags))
        return snprintf(why, len, "tags is not an array"), false;
    json_array_foreach(tags, i, v)
    {
        if (!json_is_string(v))
            return snprintf(why, len, "tag %zu is not a string", i), false;
    }
    return true;
}

/* The validators themselves: each rule rejects what it must (the tests below would pass vacuously
 * otherwise). */
Test(capabilities, the_rules_refuse_what_the_schema_refuses)
{
    static const char *const bad_caps[] = {
        "[]",
        "{}",
        "{\"type\": \"shm\"}",
        "{\"type\": \"rng\", \"features\": []}",
        "{\"type\": \"block\"}",
        "{\"type\": \"block\", \"features\": [\"virgl\"]}",
        "{\"type\": \"block\", \"features\": [1]}",
        "{\"type\": \"net\", \"extra\": 1}",
        "{\"type\": 5}",
    };
    static const char *const good_caps[] = {
        "{\"type\": \"rng\"}",
        "{\"type\": \"fs\"}",
        "{\"type\": \"block\", \"features\": []}",
        "{\"type\": \"block\", \"features\": [\"read-only\", \"blk-file\"]}",
        "{\"type\": \"gpu\", \"features\": [\"virgl\"]}",
    };
    static const char *const bad_disc[] = {
        "{\"type\": \"rng\", \"binary\": \"/x\"}",
        "{\"description\": \"d\", \"type\": \"shm\", \"binary\": \"/x\"}",
        "{\"description\": \"d\", \"type\": \"rng\", \"binary\": \"x\"}",
        "{\"description\": \"d\", \"type\": \"rng\"}",
        "{\"description\": \"d\", \"type\": \"rng\", \"binary\": \"/x\", \"tags\": \"t\"}",
        "{\"description\": \"d\", \"type\": \"rng\", \"binary\": \"/x\", \"tags\": [1]}",
        "{\"description\": \"d\", \"type\": \"rng\", \"binary\": \"/x\", \"features\": []}",
    };
    char why[200];
    for (size_t i = 0; i < sizeof(bad_caps) / sizeof(bad_caps[0]); i++) {
        json_t *j = json_loads(bad_caps[i], JSON_DECODE_ANY, NULL);
        cr_assert_not_null(j, "%s", bad_caps[i]);
        cr_expect_not(caps_valid(j, why, sizeof(why)), "accepted %s", bad_caps[i]);
        json_decref(j);
    }
    for (size_t i = 0; i < sizeof(good_caps) / sizeof(good_caps[0]); i++) {
        json_t *j = json_loads(good_caps[i], 0, NULL);
        cr_expect(caps_valid(j, why, sizeof(why)), "refused %s: %s", good_caps[i], why);
        json_decref(j);
    }
    for (size_t i = 0; i < sizeof(bad_disc) / sizeof(bad_disc[0]); i++) {
        json_t *j = json_loads(bad_disc[i], 0, NULL);
        cr_assert_not_null(j, "%s", bad_disc[i]);
        cr_expect_not(discovery_valid(j, why, sizeof(why)), "accepted %s", bad_disc[i]);
        json_decref(j);
    }
}

/* run_caps() - @bin --print-capabilities --ignored-option, parsed; the process must exit 0. */
static json_t *run_caps(const char *bin)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "'%s' --print-capabilities --ignored-option", bin);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "%s", cmd);
    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %#x, output: %s", cmd, st, out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    cr_assert_not_null(j, "%s: not JSON (%s): %s", bin, e.text, out);
    return j;
}

Test(capabilities, every_device_prints_valid_capabilities)
{
    char bins[] = CVMM_DEVICE_BINS; /* '|'-separated */
    unsigned n = 0;
    char why[200];
    for (char *save = NULL, *b = strtok_r(bins, "|", &save); b; b = strtok_r(NULL, "|", &save), n++) {
        json_t *j = run_caps(b);
        cr_expect(caps_valid(j, why, sizeof(why)), "%s --print-capabilities: %s", b, why);
        json_decref(j);
    }
    cr_assert_geq(n, 4, "blk, net, rng and shm at least");
}

Test(capabilities, every_discovery_file_is_valid_and_matches_its_program)
{
    glob_t g;
    cr_assert_eq(glob(CVMM_DEVICES_BUILD_DIR "/*/50-cvmm-*.json", 0, NULL, &g), 0, "no discovery file");
    char why[200];
    for (size_t i = 0; i < g.gl_pathc; i++) {
        json_error_t e;
        json_t *j = json_load_file(g.gl_pathv[i], 0, &e);
        cr_assert_not_null(j, "%s: %s", g.gl_pathv[i], e.text);
        cr_expect(discovery_valid(j, why, sizeof(why)), "%s: %s", g.gl_pathv[i], why);
        /* devices/<name>/50-cvmm-<name>.json names .../cvmm-<name>, whose capabilities have the same type */
        char dir[4096], prog[4200];
        snprintf(dir, sizeof(dir), "%s", g.gl_pathv[i]);
        const char *bin = json_string_value(json_object_get(j, "binary"));
        snprintf(prog, sizeof(prog), "%s/%s", dirname(dir), bin ? strrchr(bin, '/') + 1 : "?");
        cr_assert_not_null(strstr(g.gl_pathv[i], strrchr(prog, '/') + 1), "%s names %s", g.gl_pathv[i], prog);
        json_t *c = run_caps(prog);
        cr_expect_str_eq(json_string_value(json_object_get(c, "type")), json_string_value(json_object_get(j, "type")),
                         "%s and %s --print-capabilities disagree on the type", g.gl_pathv[i], prog);
        json_decref(c);
        json_decref(j);
    }
    cr_assert_geq(g.gl_pathc, 3, "blk, net and rng install discovery files");
    globfree(&g);
}
