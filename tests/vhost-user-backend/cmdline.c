/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The back-end program conventions: command line and --print-capabilities JSON. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvmm/vub.h"
#include "cvmm_test_json_nomem.h"

TestSuite(cmdline, .timeout = 120);

static int blk_file_seen;
static const char *blk_file;
static int parse_blk_file(void *opaque, const char *arg)
{
    (void)opaque;
    blk_file = arg;
    blk_file_seen++;
    return strcmp(arg, "bad") == 0 ? -EINVAL : 0;
}
static int parse_ro(void *opaque, const char *arg)
{
    *(int *)opaque = arg == NULL;
    return 0;
}
static const vub_cmdline_option opts[] = {
    {.name = "blk-file", .has_arg = true, .help = "disk image", .parse = parse_blk_file},
    {.name = "read-only", .has_arg = false, .help = "refuse writes", .parse = parse_ro},
};

static int parse(int argc, char *const *argv, vub_cmdline *cl, char *err)
{
    int ro = 0;
    return vub_cmdline_parse(argc, argv, opts, 2, &ro, cl, err, 200);
}

Test(cmdline, socket_path_and_device_options)
{
    char *argv[] = {"dev",         "--socket-path=/tmp/x.sock", "--blk-file",  "disk.img", "--read-only",
                    "--workers=3", "--log-level=debug",         "--serve-once"};
    vub_cmdline cl;
    char err[200];
    int ro = 0;
    cr_assert_eq(vub_cmdline_parse(8, argv, opts, 2, &ro, &cl, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cl.socket_path, "/tmp/x.sock");
    cr_assert_eq(cl.fd, -1);
    cr_assert_str_eq(blk_file, "disk.img");
    cr_assert_eq(ro, 1);
    cr_assert_eq(cl.workers, 3);
    cr_assert_eq(cl.log_level, CVMM_LOG_DEBUG);
    cr_assert(cl.serve_once);
    cr_assert_not(cl.client);
}

Test(cmdline, fd_and_client_mode)
{
    vub_cmdline cl;
    char err[200];
    char *a1[] = {"dev", "--fd=7"};
    cr_assert_eq(parse(2, a1, &cl, err), 0, "%s", err);
    cr_assert_eq(cl.fd, 7);
    cr_assert_null(cl.socket_path);
    char *a2[] = {"dev", "--socket-path", "/run/fe.sock", "--client"};
    cr_assert_eq(parse(4, a2, &cl, err), 0, "%s", err);
    cr_assert(cl.client);
}

Test(cmdline, print_capabilities_ignores_everything_else)
{
    vub_cmdline cl;
    char err[200];
    char *a[] = {"dev", "--bogus", "--print-capabilities"};
    cr_assert_eq(parse(3, a, &cl, err), 0);
    cr_assert(cl.print_capabilities);
    char *h[] = {"dev", "--help"};
    cr_assert_eq(parse(2, h, &cl, err), 0);
    cr_assert(cl.help);
}

Test(cmdline, errors_are_einval_with_a_message)
{
    vub_cmdline cl;
    char err[200];
    struct {
        int argc;
        char *argv[4];
        const char *msg;
    } bad[] = {
        {1, {"dev"}, "one of --socket-path"},
        {3, {"dev", "--socket-path=/a", "--fd=3"}, "incompatible"},
        {2, {"dev", "--fd=-1"}, "bad --fd"},
        {2, {"dev", "--fd=3x"}, "bad --fd"},
        {3, {"dev", "--fd=3", "--client"}, "--client needs"},
        {3, {"dev", "--fd=3", "--workers=0"}, "bad --workers"},
        {3, {"dev", "--fd=3", "--workers=65"}, "bad --workers"},
        {3, {"dev", "--fd=3", "--log-level=loud"}, "bad --log-level"},
        {3, {"dev", "--fd=3", "--nope"}, "unknown option"},
        {3, {"dev", "--fd=3", "plain"}, "unexpected argument"},
        {2, {"dev", "--socket-path"}, "needs a value"},
        {3, {"dev", "--fd=3", "--read-only=yes"}, "takes no value"},
        {3, {"dev", "--fd=3", "--blk-file=bad"}, "bad value for --blk-file"},
        {2, {"dev", "--socket-path="}, "needs a path"},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse(bad[i].argc, bad[i].argv, &cl, err), -EINVAL, "case %u", i);
        cr_assert_not_null(strstr(err, bad[i].msg), "case %u: '%s'", i, err);
    }
    cr_assert_eq(vub_cmdline_parse(1, NULL, NULL, 0, NULL, &cl, NULL, 0), -EINVAL);
}

static json_t *capture(const char *type, const char *const *features)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(vub_print_capabilities(p[1], type, features), 0);
    close(p[1]);
    char buf[4096];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    cr_assert_gt(n, 0);
    buf[n] = 0;
    cr_assert_eq(buf[n - 1], '\n');
    json_error_t e;
    json_t *j = json_loads(buf, 0, &e);
    cr_assert_not_null(j, "%s", e.text);
    return j;
}

Test(cmdline, print_capabilities_writes_the_schema_json)
{
    static const char *const feats[] = {"read-only", "blk-file", NULL};
    json_t *j = capture("block", feats);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "block");
    json_t *f = json_object_get(j, "features");
    cr_assert(json_is_array(f));
    cr_assert_eq(json_array_size(f), 2);
    cr_assert_str_eq(json_string_value(json_array_get(f, 0)), "read-only");
    cr_assert_str_eq(json_string_value(json_array_get(f, 1)), "blk-file");
    json_decref(j);
    j = capture("input", NULL); /* a type with a feature list always has one */
    cr_assert(json_is_array(json_object_get(j, "features")));
    cr_assert_eq(json_array_size(json_object_get(j, "features")), 0);
    json_decref(j);
    j = capture("rng", NULL); /* the schema gives rng no features: none printed */
    cr_assert_eq(json_object_size(j), 1);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "rng");
    json_decref(j);
    cr_assert_eq(vub_print_capabilities(1, NULL, NULL), -EINVAL);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    cr_assert_eq(vub_print_capabilities(p[1], "net", NULL), -EIO);
    close(p[1]);
}

Test(cmdline, print_capabilities_out_of_memory_at_any_step_is_enomem)
{
    static const char *const feats[] = {"read-only", "blk-file", NULL};
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    cr_assert_geq(out, 0);
    int printed_at = -1;
    for (int k = 0; k < 1000 && printed_at < 0; k++) {
        cvmm_test_json_allow(k);
        int rc = vub_print_capabilities(out, "block", feats);
        cvmm_test_json_allow(-1);
        cr_assert(rc == 0 || rc == -ENOMEM, "%d allocations: rc %d", k, rc);
        if (rc == 0)
            printed_at = k;
    }
    cr_assert_gt(printed_at, 4, "printed with %d allocations", printed_at);
    close(out);
}

/* Types outside the schema's VHostUserBackendType, and features a type does not have, are refused before
 * anything is written. */
Test(cmdline, print_capabilities_refuses_what_the_schema_does_not_have)
{
    static const char *const ro[] = {"read-only", NULL}, *const virgl[] = {"virgl", NULL};
    static const char *const bad[][2] = {{"shm", NULL}, {"", NULL}, {"Block", NULL}, {"blk", NULL}};
    int p[2];
    cr_assert_eq(pipe(p), 0);
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(vub_print_capabilities(p[1], bad[i][0], NULL), -EINVAL, "type '%s'", bad[i][0]);
    cr_assert_eq(vub_print_capabilities(p[1], "rng", ro), -EINVAL, "rng has no features");
    cr_assert_eq(vub_print_capabilities(p[1], "block", virgl), -EINVAL, "virgl is a gpu feature");
    cr_assert_eq(vub_print_capabilities(p[1], "gpu", virgl), 0);
    close(p[1]);
    char buf[256];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    cr_assert_gt(n, 0);
    buf[n] = 0;
    cr_assert_str_eq(buf, "{\n  \"type\": \"gpu\",\n  \"features\": [\n    \"virgl\"\n  ]\n}\n",
                     "only the valid one: %s", buf);
}

Test(cmdline, usage_lists_the_device_options)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(vub_cmdline_usage(p[1], "cvmm-blk", opts, 2), 0);
    close(p[1]);
    char buf[4096];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    buf[n > 0 ? n : 0] = 0;
    cr_assert_not_null(strstr(buf, "--blk-file=VALUE"));
    cr_assert_not_null(strstr(buf, "--read-only"));
    cr_assert_not_null(strstr(buf, "--socket-path=PATH"));
}

Test(cmdline, serve_does_what_the_command_line_says)
{
    vub_cmdline cl = {.fd = -1};
    cr_assert_eq(vub_cmdline_serve(&cl, NULL), -EINVAL);
}
