/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The back-end program conventions at their edges: numbers written with a sign or out of range, options
 * without a value or a help text, NULL arguments, a usage text whose output stops taking bytes part way,
 * and a command line that names nothing to serve. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cvmm/vub.h"

TestSuite(cmdline_edge_cases, .timeout = 120);

static int flag_parses;
static int parse_flag(void *opaque, const char *arg)
{
    (void)opaque;
    flag_parses++;
    return arg == NULL ? -EINVAL : 0; /* a flag whose parser refuses: the message has no value part */
}
static const vub_cmdline_option opts[] = {
    {.name = "strict", .has_arg = false, .parse = parse_flag},
    {.name = "quiet", .has_arg = false}, /* no parser, no help text */
    {.name = NULL},                      /* a hole in the table is skipped */
};

Test(cmdline_edge_cases, numbers_with_a_sign_an_overflow_or_nothing_are_refused)
{
    const char *vals[] = {"--fd=+3", "--fd=", "--fd=99999999999999999999999", "--fd=1073741825"};
    for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char *argv[] = {"dev", (char *)vals[i]};
        vub_cmdline cl;
        char err[128];
        cr_assert_eq(vub_cmdline_parse(2, argv, opts, 3, NULL, &cl, err, sizeof(err)), -EINVAL, "%s", vals[i]);
        cr_assert_not_null(strstr(err, "bad --fd value"), "%s: '%s'", vals[i], err);
        cr_assert_eq(cl.fd, -1, "%s: nothing half-parsed", vals[i]);
    }
    char *ok[] = {"dev", "--fd=1073741824"};
    vub_cmdline cl;
    cr_assert_eq(vub_cmdline_parse(2, ok, opts, 3, NULL, &cl, NULL, 0), 0, "the largest fd number is accepted");
    cr_assert_eq(cl.fd, 1 << 30);
}

Test(cmdline_edge_cases, a_refused_flag_is_named_without_a_value)
{
    char *argv[] = {"dev", "--fd=3", "--strict"};
    vub_cmdline cl;
    char err[128];
    flag_parses = 0;
    cr_assert_eq(vub_cmdline_parse(3, argv, opts, 3, NULL, &cl, err, sizeof(err)), -EINVAL);
    cr_assert_eq(flag_parses, 1);
    cr_assert_str_eq(err, "bad value for --strict");
    char *quiet[] = {"dev", "--quiet", "--fd=3"};
    cr_assert_eq(vub_cmdline_parse(3, quiet, opts, 3, NULL, &cl, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(err, "", "success clears the message");
}

Test(cmdline_edge_cases, errors_without_a_message_buffer_and_bad_arguments)
{
    char *argv[] = {"dev", "--nope"};
    vub_cmdline cl;
    char err[8] = "x";
    cr_assert_eq(vub_cmdline_parse(2, argv, opts, 3, NULL, &cl, NULL, 0), -EINVAL);
    cr_assert_eq(vub_cmdline_parse(2, argv, opts, 3, NULL, &cl, err, 0), -EINVAL);
    cr_assert_eq(err[0], 'x', "errlen 0: the buffer is not touched");
    cr_assert_eq(vub_cmdline_parse(2, argv, opts, 3, NULL, NULL, NULL, 0), -EINVAL);
    cr_assert_eq(vub_cmdline_parse(-1, argv, opts, 3, NULL, &cl, NULL, 0), -EINVAL);
    cr_assert_eq(vub_cmdline_parse(2, argv, NULL, 3, NULL, &cl, NULL, 0), -EINVAL);
    char *help[] = {"dev", "-h", "--nope"};
    cr_assert_eq(vub_cmdline_parse(3, help, opts, 3, NULL, &cl, NULL, 0), 0, "-h is --help");
    cr_assert(cl.help);
}

/* A non-blocking pipe of one page that has room for @room bytes only. */
static void short_pipe(int p[2], size_t room)
{
    static char fill[65536];
    cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    int cap = fcntl(p[1], F_SETPIPE_SZ, 4096);
    cr_assert_geq(cap, 4096);
    cr_assert_leq(room, (size_t)cap);
    cr_assert_eq(write(p[1], fill, (size_t)cap - room), (ssize_t)((size_t)cap - room));
}

Test(cmdline_edge_cases, usage_fails_with_eio_wherever_the_output_stops)
{
    signal(SIGPIPE, SIG_IGN);
    /* Measure the whole text and its parts, then let each write in turn find the pipe full. */
    int p[2];
    short_pipe(p, 4096);
    cr_assert_eq(vub_cmdline_usage(p[1], NULL, opts, 2), 0);
    char buf[4096];
    ssize_t total = read(p[0], buf, sizeof(buf));
    cr_assert_gt(total, 0);
    buf[total] = '\0';
    cr_assert_not_null(strstr(buf, "usage: vhost-user-device "), "a default program name");
    cr_assert_not_null(strstr(buf, "  --quiet  \n"), "an option without help has an empty help text");
    cr_assert_not_null(strstr(buf, "  --strict  \n"));
    close(p[0]);
    close(p[1]);
    size_t first = (size_t)(strstr(buf, "  --workers") - buf);  /* the first write: the usage line */
    size_t options = (size_t)(strstr(buf, "  --strict") - buf); /* the option lines start here */
    size_t rooms[] = {0, first - 1, first, options - 1, options + 3};
    for (unsigned i = 0; i < sizeof(rooms) / sizeof(rooms[0]); i++) {
        short_pipe(p, rooms[i]);
        cr_assert_eq(vub_cmdline_usage(p[1], NULL, opts, 2), -EIO, "room %zu", rooms[i]);
        close(p[0]);
        close(p[1]);
    }
    int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(ro, 0);
    cr_assert_eq(vub_cmdline_usage(ro, "dev", NULL, 0), -EIO, "an fd not open for writing");
    close(ro);
}

Test(cmdline_edge_cases, serving_nothing_is_einval)
{
    vub_cmdline cl = {.fd = -1};
    vub_daemon *d = (vub_daemon *)&cl; /* never touched: nothing to serve is found first */
    cr_assert_eq(vub_cmdline_serve(&cl, d), -EINVAL);
    cr_assert_eq(vub_cmdline_serve(NULL, d), -EINVAL);
}
