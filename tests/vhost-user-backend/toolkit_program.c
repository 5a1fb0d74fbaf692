/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The device toolkit's program runner (cvmm/vub/program.h): the number parser, the command line with typed
 * device options, --help, --print-capabilities, setup/teardown, and one whole run serving a socketpair for a
 * front-end that reads the features and leaves.  stdout and stderr are captured by dup2()ing memfds over
 * them around vub_program_main() (Criterion runs every test in its own process). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvmm/vhu/frontend.h"
#include "cvmm/vub.h"

TestSuite(toolkit_program, .timeout = 60);

/* ---- vub_program_parse_u64() ---- */

static const struct {
    const char *s;
    bool size;
    uint64_t min, max;
    int rc;
    uint64_t v;
} u64_cases[] = {
    {"0", false, 0, 0, 0, 0},
    {"42", false, 0, 0, 0, 42},
    {"08", false, 0, 0, 0, 8}, /* decimal, never octal */
    {"0x10", false, 0, 0, 0, 16},
    {"0X1f", false, 0, 0, 0, 31},
    {"18446744073709551615", false, 0, 0, 0, UINT64_MAX},
    {"0xffffffffffffffff", false, 0, 0, 0, UINT64_MAX},
    {"18446744073709551616", false, 0, 0, -EINVAL, 0}, /* overflow */
    {"0x10000000000000000", false, 0, 0, -EINVAL, 0},
    {"4K", true, 0, 0, 0, 4096},
    {"3M", true, 0, 0, 0, 3ull << 20},
    {"2G", true, 0, 0, 0, 2ull << 30},
    {"1T", true, 0, 0, 0, 1ull << 40},
    {"0x10K", true, 0, 0, 0, 16ull << 10},
    {"512", true, 0, 0, 0, 512},
    {"16777215T", true, 0, 0, 0, 16777215ull << 40},
    {"16777216T", true, 0, 0, -EINVAL, 0}, /* 2^64: overflow by the suffix */
    {"4K", false, 0, 0, -EINVAL, 0},       /* suffixes only for sizes */
    {"4k", true, 0, 0, -EINVAL, 0},
    {"4KB", true, 0, 0, -EINVAL, 0},
    {"4P", true, 0, 0, -EINVAL, 0},
    {"K", true, 0, 0, -EINVAL, 0},
    {"-1", false, 0, 0, -EINVAL, 0},
    {"+1", false, 0, 0, -EINVAL, 0},
    {"0x-1", false, 0, 0, -EINVAL, 0},
    {"0x+1", false, 0, 0, -EINVAL, 0},
    {"0x0x10", false, 0, 0, -EINVAL, 0}, /* strtoull(base 16) would take a second prefix */
    {"0X0X10", true, 0, 0, -EINVAL, 0},
    {" 1", false, 0, 0, -EINVAL, 0},
    {"\t1", false, 0, 0, -EINVAL, 0},
    {"1 ", false, 0, 0, -EINVAL, 0},
    {"0x 1", false, 0, 0, -EINVAL, 0},
    {"4 K", true, 0, 0, -EINVAL, 0},
    {"", false, 0, 0, -EINVAL, 0},
    {"", true, 0, 0, -EINVAL, 0},
    {"0x", false, 0, 0, -EINVAL, 0},
    {"1.5", false, 0, 0, -EINVAL, 0},
    {"12abc", false, 0, 0, -EINVAL, 0},
    {"0", false, 1, 16, -EINVAL, 0}, /* ranges, both ends included */
    {"1", false, 1, 16, 0, 1},
    {"16", false, 1, 16, 0, 16},
    {"0x10", false, 1, 16, 0, 16},
    {"17", false, 1, 16, -EINVAL, 0},
    {"0x11", false, 1, 16, -EINVAL, 0},
    {"4K", true, 4096, 1ull << 30, 0, 4096},
    {"3K", true, 4096, 1ull << 30, -EINVAL, 0},
    {"1G", true, 4096, 1ull << 30, 0, 1ull << 30},
    {"1025M", true, 4096, 1ull << 30, -EINVAL, 0},
};

Test(toolkit_program, parse_u64_table)
{
    for (size_t i = 0; i < sizeof(u64_cases) / sizeof(u64_cases[0]); i++) {
        uint64_t v = 0xdeadbeef;
        int rc = vub_program_parse_u64(u64_cases[i].s, u64_cases[i].size, u64_cases[i].min, u64_cases[i].max, &v);
        cr_expect_eq(rc, u64_cases[i].rc, "'%s' (size %d, %llu..%llu): rc %d", u64_cases[i].s, u64_cases[i].size,
                     (unsigned long long)u64_cases[i].min, (unsigned long long)u64_cases[i].max, rc);
        cr_expect_eq(v, rc == 0 ? u64_cases[i].v : 0xdeadbeef, "'%s': %llu (unchanged on failure)", u64_cases[i].s,
                     (unsigned long long)v);
    }
}

Test(toolkit_program, parse_u64_null_arguments)
{
    uint64_t v;
    cr_assert_eq(vub_program_parse_u64(NULL, false, 0, 0, &v), -EINVAL);
    cr_assert_eq(vub_program_parse_u64("1", false, 0, 0, NULL), -EINVAL);
}

/* ---- a test program ---- */

static struct {
    uint64_t size, count;
    const char *path;
    bool ro;
    unsigned custom_calls;
    int setup_rc;
    int started_rc;
    unsigned setup_calls, teardown_calls, started_calls, stopped_calls, setup_workers;
} tp;

static int parse_custom(void *dest, const char *value)
{
    (void)dest;
    tp.custom_calls++;
    return strcmp(value, "good") == 0 ? 0 : -EINVAL;
}

static const vub_program_option tp_opts[] = {
    {.name = "size",
     .type = VUB_OPT_SIZE,
     .help = "bytes of the thing",
     .dest = &tp.size,
     .min = 4096,
     .max = 1ull << 30},
    {.name = "count", .type = VUB_OPT_UINT, .help = "how many", .dest = &tp.count, .min = 1, .max = 16},
    {.name = "path", .type = VUB_OPT_STRING, .value_name = "PATH", .help = "where", .dest = &tp.path, .required = true},
    {.name = "read-only", .type = VUB_OPT_FLAG, .help = "refuse writes", .dest = &tp.ro},
    {.name = "a-rather-long-custom-option",
     .type = VUB_OPT_CUSTOM,
     .value_name = "WORD",
     .help = "custom",
     .parse = parse_custom,
     .default_text = "none"},
};

static int tp_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    (void)ctx;
    (void)q;
    (void)s;
    *used_len = 0;
    return 0;
}

static const vub_device_ops tp_ops = {.request = tp_request};
#define TP_FEATURES ((1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_EVENT_IDX))
static const vub_device_info tp_info = {.name = "tp", .num_queues = 1, .features = TP_FEATURES};

static int tp_setup(void *ctx, vub_program_env *env)
{
    cr_assert_eq(ctx, &tp);
    cr_assert_not_null(env->log);
    cr_assert_not_null(env->cmdline);
    cr_assert_eq(env->info, &tp_info);
    cr_assert_eq(env->ctx, &tp, "the ops' context starts as vub_program.ctx");
    tp.setup_calls++;
    tp.setup_workers = env->nworkers;
    return tp.setup_rc;
}

static int tp_started(void *ctx, vub_daemon *d)
{
    cr_assert_eq(ctx, &tp);
    cr_assert_not_null(vub_daemon_backend(d));
    cr_assert_eq(tp.setup_calls, 1);
    tp.started_calls++;
    return tp.started_rc;
}

static void tp_stopped(void *ctx, vub_daemon *d)
{
    cr_assert_eq(ctx, &tp);
    cr_assert_not_null(d);
    cr_assert_eq(tp.teardown_calls, 0, "stopped() comes before teardown()");
    tp.stopped_calls++;
}

static void tp_teardown(void *ctx)
{
    cr_assert_eq(ctx, &tp);
    tp.teardown_calls++;
}

static const char *const tp_features[] = {"read-only", NULL};
static const vub_program tp_prog = {
    .name = "tp-dev",
    .summary = "a test device",
    .type = "block",
    .features = tp_features,
    .options = tp_opts,
    .noptions = sizeof(tp_opts) / sizeof(tp_opts[0]),
    .ops = &tp_ops,
    .info = &tp_info,
    .ctx = &tp,
    .workers = 3,
    .setup = tp_setup,
    .started = tp_started,
    .stopped = tp_stopped,
    .teardown = tp_teardown,
};

static void tp_reset(void)
{
    memset(&tp, 0, sizeof(tp));
    tp.size = 1ull << 20;
    tp.count = 4;
}

/* ---- running it with stdout and stderr captured ---- */

struct run {
    int status;
    char out[16384], err[16384];
};

static void slurp(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    cr_assert_geq(n, 0);
    buf[n] = '\0';
    close(fd);
}

/* run_argv() - vub_program_main(@p, @argc, @argv) with stdout/stderr going to memfds. */
static void run_argv(struct run *r, const vub_program *p, int argc, char **argv)
{
    int mo = memfd_create("stdout", MFD_CLOEXEC), me = memfd_create("stderr", MFD_CLOEXEC);
    int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
    cr_assert(mo >= 0 && me >= 0 && so >= 0 && se >= 0);
    fflush(stdout);
    fflush(stderr);
    cr_assert_geq(dup2(mo, STDOUT_FILENO), 0);
    cr_assert_geq(dup2(me, STDERR_FILENO), 0);
    r->status = vub_program_main(p, argc, argv);
    dup2(so, STDOUT_FILENO);
    dup2(se, STDERR_FILENO);
    close(so);
    close(se);
    slurp(mo, r->out, sizeof(r->out));
    slurp(me, r->err, sizeof(r->err));
}

#define MAX_ARGS 32
/* collect() - "tp-dev" and the NULL-terminated arguments of @ap into @argv.  Return: argc. */
static int collect(char **argv, va_list ap)
{
    int argc = 0;
    argv[argc++] = "tp-dev";
    for (char *a; (a = va_arg(ap, char *)) != NULL;) {
        cr_assert_lt(argc, MAX_ARGS - 1);
        argv[argc++] = a;
    }
    argv[argc] = NULL;
    return argc;
}

/* run() - run_argv() with "tp-dev" and the NULL-terminated arguments. */
static void run(struct run *r, const vub_program *p, ...)
{
    char *argv[MAX_ARGS];
    va_list ap;
    va_start(ap, p);
    int argc = collect(argv, ap);
    va_end(ap);
    run_argv(r, p, argc, argv);
}

/* line_with() - the line of @text that contains @needle, copied into @buf; NULL if none. */
static const char *line_with(const char *text, const char *needle, char *buf, size_t cap)
{
    const char *at = strstr(text, needle);
    if (!at)
        return NULL;
    while (at > text && at[-1] != '\n')
        at--;
    size_t n = strcspn(at, "\n");
    cr_assert_lt(n, cap);
    memcpy(buf, at, n);
    buf[n] = '\0';
    return buf;
}

/* ---- --help ---- */

Test(toolkit_program, help_is_aligned_with_defaults_and_required_marked, .init = tp_reset)
{
    struct run r;
    run(&r, &tp_prog, "--help", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    cr_assert(strncmp(r.out, "usage: tp-dev ", 14) == 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\na test device\n"), "%s", r.out);
    /* Every option line ("  --opt...  help") starts its help text at the same column. */
    int column = -1, lines = 0;
    for (const char *l = r.out; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != '\0')) {
        if (strncmp(l, "  --", 4) != 0)
            continue;
        size_t opt = 2 + strcspn(l + 2, " \n");
        cr_assert(l[opt] == ' ' && l[opt + 1] == ' ', "two blanks after the option: %.*s", (int)strcspn(l, "\n"), l);
        int col = (int)(opt + strspn(l + opt, " "));
        if (column < 0)
            column = col;
        cr_assert_eq(col, column, "misaligned: %.*s", (int)strcspn(l, "\n"), l);
        lines++;
    }
    cr_assert_eq(lines, 5 + 12, "5 device options and 12 common ones:\n%s", r.out);
    char b[256];
    cr_assert_not_null(line_with(r.out, "--size=SIZE ", b, sizeof(b)), "%s", r.out);
    cr_assert_not_null(strstr(b, "bytes of the thing") && strstr(b, "(default: 1M)"), "%s", b);
    cr_assert_not_null(line_with(r.out, "--count=N ", b, sizeof(b)));
    cr_assert_not_null(strstr(b, "(default: 4)"), "%s", b);
    cr_assert_null(strstr(b, "required"), "%s", b);
    cr_assert_not_null(line_with(r.out, "--path=PATH ", b, sizeof(b)));
    cr_assert_not_null(strstr(b, "(required)"), "%s", b);
    cr_assert_null(strstr(b, "default"), "no default for an unset string: %s", b);
    cr_assert_not_null(line_with(r.out, "--read-only ", b, sizeof(b)));
    cr_assert_null(strstr(b, "default"), "%s", b);
    cr_assert_not_null(line_with(r.out, "--a-rather-long-custom-option=WORD ", b, sizeof(b)));
    cr_assert_not_null(strstr(b, "(default: none)"), "%s", b);
    cr_assert_not_null(line_with(r.out, "--print-capabilities ", b, sizeof(b)));
    cr_assert_eq(tp.setup_calls, 0);
}

Test(toolkit_program, help_shows_sizes_exactly, .init = tp_reset)
{
    struct run r;
    char b[256];
    tp.size = (1ull << 20) + 1; /* not a whole number of K: shown in bytes */
    run(&r, &tp_prog, "-h", NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(line_with(r.out, "--size=SIZE ", b, sizeof(b)));
    cr_assert_not_null(strstr(b, "(default: 1048577)"), "%s", b);
    tp.size = 3ull << 30;
    run(&r, &tp_prog, "--help", NULL);
    cr_assert_not_null(line_with(r.out, "--size=SIZE ", b, sizeof(b)));
    cr_assert_not_null(strstr(b, "(default: 3G)"), "%s", b);
}

/* Without a value_name, a string option is shown as VALUE, and its current value as the default. */
Test(toolkit_program, help_names_a_plain_string_option_value_with_its_default, .init = tp_reset)
{
    static const char *where = "/srv/x";
    static const vub_program_option opt = {.name = "where", .type = VUB_OPT_STRING, .help = "a place", .dest = &where};
    vub_program p = tp_prog;
    p.options = &opt;
    p.noptions = 1;
    struct run r;
    char b[256];
    run(&r, &p, "--help", NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(line_with(r.out, "--where=VALUE ", b, sizeof(b)), "%s", r.out);
    cr_assert_not_null(strstr(b, "a place (default: /srv/x)"), "%s", b);
}

Test(toolkit_program, help_ignores_bad_options, .init = tp_reset)
{
    struct run r;
    run(&r, &tp_prog, "--count=99", "--bogus", "--size", "--read-only=yes", "--help", "--count=1", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    cr_assert_not_null(strstr(r.out, "usage: tp-dev"));
    cr_assert_eq(tp.count, 4, "nothing is taken with --help");
    cr_assert_eq(tp.setup_calls + tp.teardown_calls, 0);
}

/* ---- --print-capabilities ---- */

Test(toolkit_program, print_capabilities, .init = tp_reset)
{
    struct run r;
    run(&r, &tp_prog, "--count=0", "--print-capabilities", "--unknown", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    cr_assert_str_eq(r.out, "{\n  \"type\": \"block\",\n  \"features\": [\n    \"read-only\"\n  ]\n}\n");
    cr_assert_eq(tp.setup_calls, 0);
}

Test(toolkit_program, print_capabilities_refuses_a_type_outside_the_schema, .init = tp_reset)
{
    vub_program p = tp_prog;
    p.type = "shm";
    p.features = NULL;
    struct run r;
    run(&r, &p, "--print-capabilities", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_str_eq(r.out, "");
    cr_assert_not_null(strstr(r.err, "tp-dev: "), "%s", r.err);
    p.type = NULL;
    run(&r, &p, "--print-capabilities", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_str_eq(r.out, "");
}

/* ---- command-line errors: exit 1, one line on stderr, nothing set up ---- */

static void expect_refused(const char *msg, ...)
{
    char *argv[MAX_ARGS];
    va_list ap;
    va_start(ap, msg);
    int argc = collect(argv, ap);
    va_end(ap);
    struct run r;
    run_argv(&r, &tp_prog, argc, argv);
    cr_assert_eq(r.status, 1, "accepted: %s", r.out);
    cr_assert_str_eq(r.out, "");
    cr_assert_not_null(strstr(r.err, msg), "wanted '%s' in: %s", msg, r.err);
    cr_assert_eq(strcspn(r.err, "\n") + 1, strlen(r.err), "one line: %s", r.err);
    cr_assert(strncmp(r.err, "tp-dev: ", 8) == 0, "%s", r.err);
    cr_assert_eq(tp.setup_calls + tp.teardown_calls, 0);
}

Test(toolkit_program, unknown_option, .init = tp_reset)
{
    expect_refused("unknown option '--bogus'", "--fd=3", "--path=/x", "--bogus", NULL);
    /* before a missing required option or a missing socket: the mistake the user made comes first */
    expect_refused("unknown option '--bogus'", "--bogus", NULL);
}

Test(toolkit_program, bad_values, .init = tp_reset)
{
    expect_refused("bad value for --count: 'abc' (1..16)", "--fd=3", "--path=/x", "--count=abc", NULL);
    expect_refused("bad value for --count: '17' (1..16)", "--fd=3", "--path=/x", "--count", "17", NULL);
    expect_refused("bad value for --size: '3K' (4096..1073741824)", "--fd=3", "--path=/x", "--size=3K", NULL);
    expect_refused("bad value for --a-rather-long-custom-option: 'bad'", "--fd=3", "--path=/x",
                   "--a-rather-long-custom-option=bad", NULL);
    expect_refused("--path", "--fd=3", "--path=", NULL);
    expect_refused("option '--read-only' takes no value", "--fd=3", "--path=/x", "--read-only=1", NULL);
    expect_refused("option '--count' needs a value", "--fd=3", "--path=/x", "--count", NULL);
    expect_refused("bad --log-level 'loud'", "--fd=3", "--path=/x", "--log-level=loud", NULL);
    expect_refused("one of --socket-path=PATH or --fd=FDNUM is required", "--path=/x", NULL);
}

Test(toolkit_program, missing_required_option, .init = tp_reset)
{
    expect_refused("option '--path' is required", "--fd=3", "--count=2", NULL);
}

Test(toolkit_program, option_given_twice, .init = tp_reset)
{
    expect_refused("option '--count' given twice", "--fd=3", "--path=/x", "--count=1", "--count=2", NULL);
    expect_refused("option '--read-only' given twice", "--fd=3", "--path=/x", "--read-only", "--read-only", NULL);
}

Test(toolkit_program, custom_options_may_repeat, .init = tp_reset)
{
    tp.setup_rc = -EIO; /* stop after the command line */
    struct run r;
    run(&r, &tp_prog, "--fd=3", "--path=/x", "--a-rather-long-custom-option=good", "--a-rather-long-custom-option",
        "good", NULL);
    cr_assert_eq(tp.custom_calls, 2);
    cr_assert_eq(tp.setup_calls, 1);
}

Test(toolkit_program, failing_setup_exits_1_without_teardown, .init = tp_reset)
{
    tp.setup_rc = -ENOENT;
    struct run r;
    run(&r, &tp_prog, "--fd=3", "--path=/x", "--size=8K", "--count=0x10", "--read-only", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(tp.setup_calls, 1);
    cr_assert_eq(tp.teardown_calls + tp.started_calls + tp.stopped_calls, 0);
    cr_assert_eq(tp.setup_workers, 3, "vub_program.workers without --workers");
    cr_assert_eq(tp.size, 8192);
    cr_assert_eq(tp.count, 16);
    cr_assert_str_eq(tp.path, "/x");
    cr_assert(tp.ro);
    cr_assert_str_eq(r.out, "");
}

Test(toolkit_program, no_program_no_arguments_or_no_description_exit_1, .init = tp_reset)
{
    char *argv[] = {"tp-dev", "--fd=3", NULL};
    cr_assert_eq(vub_program_main(NULL, 2, argv), 1);
    cr_assert_eq(vub_program_main(&tp_prog, 0, argv), 1);
    vub_program p = tp_prog; /* no info, and no setup() to provide one */
    p.info = NULL;
    p.setup = NULL;
    struct run r;
    run(&r, &p, "--fd=3", "--path=/x", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "tp-dev: no device description (vub_program.info)"), "%s", r.err);
    cr_assert_eq(tp.started_calls, 0, "nothing served");
    cr_assert_eq(tp.teardown_calls, 1);
}

/* ---- one whole run: a front-end on a socketpair reads the features and disconnects ---- */

struct fe {
    int fd;
    int rc;
    uint64_t features;
};

static void *fe_thread(void *arg)
{
    struct fe *fe = arg;
    vhu_frontend *f = NULL;
    fe->rc = vhu_frontend_new(&(vhu_frontend_config){.timeout_ms = 20000}, fe->fd, &f);
    if (fe->rc == 0)
        fe->rc = vhu_frontend_get_features(f, &fe->features);
    vhu_frontend_free(f);
    return NULL;
}

Test(toolkit_program, serves_an_fd_once_then_tears_down, .init = tp_reset)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct fe fe = {.fd = sv[1], .rc = -1};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fe_thread, &fe), 0);
    char fdarg[32];
    snprintf(fdarg, sizeof(fdarg), "--fd=%d", sv[0]);
    struct run r;
    /* In this process (the front-end thread and Criterion's fds): the sandbox is tests/.../sandbox*.c's. */
    run(&r, &tp_prog, fdarg, "--serve-once", "--path", "/x", "--log-level=info", "--workers=2", "--no-sandbox", NULL);
    pthread_join(t, NULL);
    cr_assert_eq(fe.rc, 0);
    cr_assert_eq(fe.features & TP_FEATURES, TP_FEATURES, "%#llx", (unsigned long long)fe.features);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(tp.setup_calls, 1);
    cr_assert_eq(tp.setup_workers, 2, "--workers reaches setup()");
    cr_assert_eq(tp.started_calls, 1);
    cr_assert_eq(tp.stopped_calls, 1);
    cr_assert_eq(tp.teardown_calls, 1);
    cr_assert_not_null(strstr(r.err, "tp-dev: info: serving block on an inherited fd"), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    cr_assert_eq(fcntl(sv[0], F_GETFD), -1, "the daemon took and closed the --fd");
}

/* ---- the quirks table (cvmm/vub/quirks.h; tests/lint/quirks.sh checks it against the tree) ---- */

Test(toolkit_program, quirks_table_is_complete_and_ordered)
{
    size_t n = 0;
    const vub_quirk *q = vub_quirks(&n);
    cr_assert_not_null(q);
    cr_assert_geq(n, 6);
    cr_assert_eq(vub_quirks(NULL), q);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq((size_t)q[i].id, i + 1, "ids are 1.. in order");
        cr_assert(q[i].name && strncmp(q[i].name, "VUB_QUIRK_", 10) == 0);
        cr_assert(q[i].peer && *q[i].peer && q[i].behaviour && *q[i].behaviour && q[i].answer && *q[i].answer);
        cr_assert(q[i].where && *q[i].where && q[i].ctest && *q[i].ctest);
        cr_assert_eq(vub_quirk_find(q[i].id), &q[i]);
    }
    cr_assert_null(vub_quirk_find((enum vub_quirk_id)0));
    cr_assert_null(vub_quirk_find((enum vub_quirk_id)(n + 1)));
    cr_assert_str_eq(vub_quirk_find(VUB_QUIRK_QEMU72_RNG_MEM_SLOTS)->name, "VUB_QUIRK_QEMU72_RNG_MEM_SLOTS");
}

/* A failing started(): the daemon is freed, stopped() is not called, teardown() is, and the exit is 1. */
Test(toolkit_program, failing_started_exits_1, .init = tp_reset)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    tp.started_rc = -EADDRINUSE;
    char fdarg[32];
    snprintf(fdarg, sizeof(fdarg), "--fd=%d", sv[0]);
    struct run r;
    run(&r, &tp_prog, fdarg, "--path=/x", "--no-sandbox", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(tp.started_calls, 1);
    cr_assert_eq(tp.stopped_calls, 0);
    cr_assert_eq(tp.teardown_calls, 1);
    close(sv[1]);
}

/* ---- more refusals: what --help skips, odd options, a failing stdout, a sandbox or device refused ---- */

/* With --help, a flag given a value and an option missing its value at the end are skipped, not refused. */
Test(toolkit_program, help_skips_a_flag_with_a_value_and_a_last_option_without_one, .init = tp_reset)
{
    struct run r;
    run(&r, &tp_prog, "--help", "--read-only=yes", "--count", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    cr_assert(strncmp(r.out, "usage: tp-dev ", 14) == 0, "%s", r.out);
    cr_assert_not(tp.ro, "nothing is taken with --help");
    cr_assert_eq(tp.count, 4);
}

/* An option whose type is none of enum vub_opt_type takes no value: "bad value", exit 1, nothing set up. */
Test(toolkit_program, an_option_of_an_unknown_type_takes_no_value, .init = tp_reset)
{
    static uint64_t sink = 7;
    static const vub_program_option odd = {.name = "odd", .type = (enum vub_opt_type)99, .dest = &sink};
    vub_program p = tp_prog;
    p.options = &odd;
    p.noptions = 1;
    struct run r;
    run(&r, &p, "--fd=3", "--odd=1", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_str_eq(r.err, "tp-dev: bad value for --odd: '1' (see --help)\n");
    cr_assert_str_eq(r.out, "");
    cr_assert_eq(sink, 7, "dest untouched");
    cr_assert_eq(tp.setup_calls + tp.teardown_calls, 0);
}

/* --print-capabilities whose stdout cannot be written (a read-only fd): exit 1 and say why on stderr. */
Test(toolkit_program, print_capabilities_to_an_unwritable_stdout_exits_1, .init = tp_reset)
{
    int me = memfd_create("stderr", MFD_CLOEXEC), ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
    cr_assert(me >= 0 && ro >= 0 && so >= 0 && se >= 0);
    fflush(stdout);
    fflush(stderr);
    cr_assert_geq(dup2(ro, STDOUT_FILENO), 0);
    cr_assert_geq(dup2(me, STDERR_FILENO), 0);
    char *argv[] = {"tp-dev", "--print-capabilities", NULL};
    int status = vub_program_main(&tp_prog, 2, argv);
    dup2(so, STDOUT_FILENO);
    dup2(se, STDERR_FILENO);
    close(so);
    close(se);
    close(ro);
    char err[1024];
    slurp(me, err, sizeof(err));
    cr_assert_eq(status, 1);
    cr_assert_str_eq(err, "tp-dev: cannot print the capabilities of type 'block': Input/output error\n");
    cr_assert_eq(tp.setup_calls, 0);
}

/* A system call the sandbox never allows in vub_program.sandbox_syscalls: exit 1 before setup(). */
Test(toolkit_program, a_sandbox_syscall_never_allowed_exits_1_before_setup, .init = tp_reset)
{
    static const char *const calls[] = {"read", "execve", NULL};
    vub_program p = tp_prog;
    p.sandbox_syscalls = calls;
    struct run r;
    run(&r, &p, "--fd=3", "--path=/x", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "the system call execve is never allowed"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "tp-dev: cannot declare the sandbox\n"), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    cr_assert_eq(tp.setup_calls + tp.started_calls + tp.teardown_calls, 0);
}

/* A device description the daemon refuses (no queues): exit 1, started() never called, teardown() is, and
 * the --fd is left to its owner (the daemon never took it). */
Test(toolkit_program, a_device_the_daemon_refuses_exits_1, .init = tp_reset)
{
    static const vub_device_info no_queues = {.name = "tp", .num_queues = 0, .features = TP_FEATURES};
    vub_program p = tp_prog;
    p.info = &no_queues;
    p.setup = NULL; /* tp_setup() checks for tp_info */
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char fdarg[32];
    snprintf(fdarg, sizeof(fdarg), "--fd=%d", sv[0]);
    struct run r;
    run(&r, &p, fdarg, "--path=/x", "--no-sandbox", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "tp-dev: cannot start the daemon: Invalid argument\n"), "%s", r.err);
    cr_assert_eq(tp.started_calls + tp.stopped_calls, 0);
    cr_assert_eq(tp.teardown_calls, 1);
    cr_assert_geq(fcntl(sv[0], F_GETFD), 0, "the --fd is still open");
    close(sv[0]);
    close(sv[1]);
}
