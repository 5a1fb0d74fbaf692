/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The spec's back-end program conventions (cvmm/vub/cmdline.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvmm/vub/cmdline.h"
#include "internal.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) CVMM_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+')
        return -EINVAL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_level(const char *s, enum cvmm_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (unsigned i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum cvmm_log_level)i;
            return 0;
        }
    return -EINVAL;
}

enum common_opt { O_SOCKET, O_FD, O_CLIENT, O_CAPS, O_LOG, O_WORKERS, O_ONCE, O_HELP, O_BUSY, O_POLL, O_NCOMMON };

static const struct {
    const char *name;
    bool has_arg;
} common[O_NCOMMON] = {
    [O_SOCKET] = {"socket-path", true}, [O_FD] = {"fd", true},
    [O_CLIENT] = {"client", false},     [O_CAPS] = {"print-capabilities", false},
    [O_LOG] = {"log-level", true},      [O_WORKERS] = {"workers", true},
    [O_ONCE] = {"serve-once", false},   [O_HELP] = {"help", false},
    [O_BUSY] = {"busy-poll", true},     [O_POLL] = {"poll", false},
};

int vub_cmdline_parse(int argc, char *const *argv, const vub_cmdline_option *opts, size_t nopts, void *opaque,
                      vub_cmdline *out, char *err, size_t errlen)
{
    if (!out || argc < 0 || (argc > 0 && !argv) || (nopts && !opts))
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    out->log_level = CVMM_LOG_WARN;
    if (err && errlen)
        err[0] = '\0';
    /* First pass: --print-capabilities and --help make everything else irrelevant (spec). */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print-capabilities") == 0)
            out->print_capabilities = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            out->help = true;
    }
    if (out->print_capabilities || out->help)
        return 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return fail(err, errlen, "unexpected argument '%s'", a);
        a += 2;
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const char *val = eq ? eq + 1 : NULL;
        int which = -1;
        bool has_arg = false;
        for (int k = 0; k < O_NCOMMON; k++)
            if (strlen(common[k].name) == nlen && strncmp(common[k].name, a, nlen) == 0) {
                which = k;
                has_arg = common[k].has_arg;
            }
        const vub_cmdline_option *dev = NULL;
        if (which < 0)
            for (size_t k = 0; k < nopts; k++)
                if (opts[k].name && strlen(opts[k].name) == nlen && strncmp(opts[k].name, a, nlen) == 0) {
                    dev = &opts[k];
                    has_arg = dev->has_arg;
                }
        if (which < 0 && !dev)
            return fail(err, errlen, "unknown option '--%.*s'", (int)nlen, a);
        if (has_arg && !val) {
            if (i + 1 >= argc)
                return fail(err, errlen, "option '--%.*s' needs a value", (int)nlen, a);
            val = argv[++i];
        } else if (!has_arg && val) {
            return fail(err, errlen, "option '--%.*s' takes no value", (int)nlen, a);
        }
        unsigned long v;
        switch (which) {
        case O_SOCKET:
            if (!*val)
                return fail(err, errlen, "--socket-path needs a path");
            out->socket_path = val;
            break;
        case O_FD:
            if (parse_uint(val, 1u << 30, &v) < 0)
                return fail(err, errlen, "bad --fd value '%s'", val);
            out->fd = (int)v;
            break;
        case O_CLIENT: out->client = true; break;
        case O_LOG:
            if (parse_level(val, &out->log_level) < 0)
                return fail(err, errlen, "bad --log-level '%s' (error, warn, info or debug)", val);
            break;
        case O_WORKERS:
            if (parse_uint(val, VUB_MAX_WORKERS, &v) < 0 || v == 0)
                return fail(err, errlen, "bad --workers value '%s' (1..%u)", val, VUB_MAX_WORKERS);
            out->workers = (unsigned)v;
            break;
        case O_ONCE: out->serve_once = true; break;
        case O_BUSY:
            if (parse_uint(val, 1000000, &v) < 0)
                return fail(err, errlen, "bad --busy-poll value '%s' (microseconds, 0..1000000; 0: off)", val);
            out->busy_poll_set = true;
            out->busy_poll_us = (unsigned)v;
            break;
        case O_POLL: out->poll = true; break;
        default:
            if (dev->parse && dev->parse(opaque, val) < 0)
                return fail(err, errlen, "bad value for --%s%s%s", dev->name, val ? ": " : "", val ? val : "");
            break;
        }
    }
    if (out->socket_path && out->fd >= 0)
        return fail(err, errlen, "--socket-path and --fd are incompatible");
    if (!out->socket_path && out->fd < 0)
        return fail(err, errlen, "one of --socket-path=PATH or --fd=FDNUM is required");
    if (out->client && !out->socket_path)
        return fail(err, errlen, "--client needs --socket-path");
    return 0;
}

int vub_cmdline_usage(int fd, const char *prog, const vub_cmdline_option *opts, size_t nopts)
{
    char line[256];
    int n = snprintf(line, sizeof(line),
                     "usage: %s (--socket-path=PATH [--client] | --fd=FDNUM) [options]\n"
                     "  --print-capabilities   print the back-end capabilities (JSON) and exit\n"
                     "  --log-level=LEVEL      error, warn, info or debug\n",
                     prog ? prog : "vhost-user-device");
    if (n < 0 || vub__write_all(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
        return -EIO;
    static const char more[] = "  --workers=N            worker threads\n"
                               "  --serve-once           exit when the first front-end disconnects\n"
                               "  --busy-poll=USEC       poll a drained ring this long before kicks (0: off)\n"
                               "  --poll                 poll the rings for ever (uses the worker's CPU)\n";
    if (vub__write_all(fd, more, sizeof(more) - 1) < 0)
        return -EIO;
    for (size_t i = 0; i < nopts; i++) {
        n = snprintf(line, sizeof(line), "  --%s%s  %s\n", opts[i].name, opts[i].has_arg ? "=VALUE" : "",
                     opts[i].help ? opts[i].help : "");
        if (n < 0 || vub__write_all(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
            return -EIO;
    }
    return 0;
}

int vub_cmdline_busy_poll(const vub_cmdline *cl)
{
    if (!cl || !cl->busy_poll_set)
        return 0;
    return cl->busy_poll_us ? (int)cl->busy_poll_us : -1;
}

int vub_cmdline_serve(const vub_cmdline *cl, vub_daemon *d)
{
    if (!cl || !d)
        return -EINVAL;
    if (cl->socket_path)
        return cl->client ? vub_daemon_connect(d, cl->socket_path) : vub_daemon_listen(d, cl->socket_path);
    if (cl->fd >= 0)
        return vub_daemon_serve_fd(d, cl->fd);
    return -EINVAL;
}
