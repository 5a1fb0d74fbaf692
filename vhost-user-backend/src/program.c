/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* program.c - vub_program_main(): a device program in one call (cvmm/vub/program.h).  This file is the
 * program's main(): it is the one place in the library that writes to stdout and stderr, with write(2). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvmm/vub/daemon.h"
#include "cvmm/vub/program.h"
#include "cvmm/vub/sandbox.h"
#include "internal.h"

enum { LINE_MAX_ = 1024, ARGS_MAX = 4096 };

static void say(int fd, const char *fmt, ...) CVMM_PRINTF(2, 3);
static void say(int fd, const char *fmt, ...)
{
    char line[LINE_MAX_];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        (void)vub__write_all(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void vub_program_log_stderr(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    say(STDERR_FILENO, "%s: %s: %s\n", opaque ? (const char *)opaque : "vub", cvmm_log_level_name(lvl), line);
}

int vub_program_parse_u64(const char *s, bool size, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !out)
        return -EINVAL;
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    const char *digits = hex ? s + 2 : s;
    /* Digits only: no sign, no blank, no empty "0x", and no second "0x" (strtoull(16) would skip it). */
    size_t ndigits = strspn(digits, hex ? "0123456789abcdefABCDEF" : "0123456789");
    if (ndigits == 0)
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(digits, &end, hex ? 16 : 10);
    if (errno || end != digits + ndigits)
        return -EINVAL;
    unsigned shift = 0;
    if (size && *end) {
        static const char units[] = "KMGT";
        const char *u = strchr(units, *end);
        if (!u || end[1] != '\0')
            return -EINVAL;
        shift = 10u * (unsigned)(u - units + 1);
        end++;
    }
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -EINVAL;
    v <<= shift;
    if ((min || max) && (v < min || v > max))
        return -EINVAL;
    *out = v;
    return 0;
}

static const char *value_name(const vub_program_option *o)
{
    if (o->value_name)
        return o->value_name;
    switch (o->type) {
    case VUB_OPT_UINT: return "N";
    case VUB_OPT_SIZE: return "SIZE";
    default: return "VALUE";
    }
}

/* default_text() - what --help shows as the default of @o, into @buf; "" when there is none to show. */
static const char *default_text(const vub_program_option *o, char *buf, size_t len)
{
    if (o->default_text)
        return o->default_text;
    buf[0] = '\0';
    switch (o->type) {
    case VUB_OPT_UINT:
        if (o->dest)
            snprintf(buf, len, "%" PRIu64, *(const uint64_t *)o->dest);
        break;
    case VUB_OPT_SIZE:
        if (o->dest) { /* the largest unit that says it exactly: 1M, not 1048576 */
            uint64_t v = *(const uint64_t *)o->dest;
            unsigned u = 0;
            while (v && u < 4 && (v & 1023) == 0) {
                v >>= 10;
                u++;
            }
            static const char *const units[] = {"", "K", "M", "G", "T"};
            snprintf(buf, len, "%" PRIu64 "%s", v, units[u]);
        }
        break;
    case VUB_OPT_STRING:
        if (o->dest && *(const char *const *)o->dest)
            snprintf(buf, len, "%s", *(const char *const *)o->dest);
        break;
    default: break;
    }
    return buf;
}

static void usage(const vub_program *p)
{
    static const struct {
        const char *opt, *help;
    } common[] = {
        {"--socket-path=PATH", "listen on (or with --client, connect to) the vhost-user socket PATH"},
        {"--fd=FDNUM", "serve the already open vhost-user socket FDNUM"},
        {"--client", "connect to a front-end listening on --socket-path"},
        {"--print-capabilities", "print the back-end capabilities (JSON) and exit"},
        {"--log-level=LEVEL", "error, warn, info or debug (default: warn)"},
        {"--workers=N", "worker threads (1..64)"},
        {"--serve-once", "exit when the first front-end disconnects"},
        {"--busy-poll=USEC", "poll a drained ring up to USEC us before asking for kicks (0: off; default 50)"},
        {"--poll", "poll the rings for ever, no kicks (uses the workers' CPU even when idle)"},
        {"--no-sandbox", "do not sandbox the daemon (for debugging)"},
        {"--print-sandbox", "print the sandbox this command line would apply (JSON) and exit"},
        {"--help", "this text"},
    };
    char left[128], def[96];
    size_t width = 0;
    for (size_t i = 0; i < CVMM_ARRAY_SIZE(common); i++)
        width = strlen(common[i].opt) > width ? strlen(common[i].opt) : width;
    for (size_t i = 0; i < p->noptions; i++) {
        const vub_program_option *o = &p->options[i];
        int n = snprintf(left, sizeof(left), "--%s%s%s", o->name, o->type == VUB_OPT_FLAG ? "" : "=",
                         o->type == VUB_OPT_FLAG ? "" : value_name(o));
        width = n > 0 && (size_t)n > width ? (size_t)n : width;
    }
    say(STDOUT_FILENO, "usage: %s (--socket-path=PATH [--client] | --fd=FDNUM) [options]\n", p->name);
    if (p->summary)
        say(STDOUT_FILENO, "%s\n", p->summary);
    if (p->noptions)
        say(STDOUT_FILENO, "\ndevice options:\n");
    for (size_t i = 0; i < p->noptions; i++) {
        const vub_program_option *o = &p->options[i];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->type == VUB_OPT_FLAG ? "" : "=",
                 o->type == VUB_OPT_FLAG ? "" : value_name(o));
        const char *d = default_text(o, def, sizeof(def));
        say(STDOUT_FILENO, "  %-*s  %s%s%s%s%s\n", (int)width, left, o->help ? o->help : "",
            o->required ? " (required)" : "", *d ? " (default: " : "", d, *d ? ")" : "");
    }
    say(STDOUT_FILENO, "\ncommon options (vhost-user back-end program conventions):\n");
    for (size_t i = 0; i < CVMM_ARRAY_SIZE(common); i++)
        say(STDOUT_FILENO, "  %-*s  %s\n", (int)width, common[i].opt, common[i].help);
}

/* find() - the device option named like the argument @a ("--name" or "--name=value"), or NULL. */
static const vub_program_option *find(const vub_program *p, const char *a)
{
    if (strncmp(a, "--", 2) != 0)
        return NULL;
    a += 2;
    size_t n = strcspn(a, "=");
    for (size_t i = 0; i < p->noptions; i++)
        if (p->options[i].name && strlen(p->options[i].name) == n && strncmp(p->options[i].name, a, n) == 0)
            return &p->options[i];
    return NULL;
}

static int take(const vub_program_option *o, const char *val)
{
    switch (o->type) {
    case VUB_OPT_FLAG: *(bool *)o->dest = true; return 0;
    case VUB_OPT_UINT:
    case VUB_OPT_SIZE: return vub_program_parse_u64(val, o->type == VUB_OPT_SIZE, o->min, o->max, (uint64_t *)o->dest);
    case VUB_OPT_STRING:
        if (!*val)
            return -EINVAL;
        *(const char **)o->dest = val;
        return 0;
    case VUB_OPT_CUSTOM: return o->parse ? o->parse(o->dest, val) : -EINVAL;
    }
    return -EINVAL;
}

static int bad(const vub_program *p, const char *fmt, ...) CVMM_PRINTF(2, 3);
static int bad(const vub_program *p, const char *fmt, ...)
{
    char msg[LINE_MAX_ / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    say(STDERR_FILENO, "%s: %s (see --help)\n", p->name, msg);
    return -EINVAL;
}

/* parse() - the device's options out of argv into their dest, the rest (argv[0] first) into @rest for
 * vub_cmdline_parse(), the program's own flags into @pf.  With --help or --print-capabilities nothing is
 * checked (the spec: other options are ignored).  Return: entries of @rest; -EINVAL (said on stderr). */
struct prog_flags {
    bool info_only;     /* --help or --print-capabilities */
    bool no_sandbox;    /* --no-sandbox */
    bool print_sandbox; /* --print-sandbox */
};

static int parse(const vub_program *p, int argc, char **argv, char **rest, bool *seen, struct prog_flags *pf)
{
    bool *info_only = &pf->info_only;
    int n = 0;
    *info_only = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--print-capabilities"))
            *info_only = true;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-sandbox") || !strcmp(argv[i], "--print-sandbox")) {
            *(argv[i][2] == 'n' ? &pf->no_sandbox : &pf->print_sandbox) = true;
            continue;
        }
        const vub_program_option *o = find(p, argv[i]);
        if (!o) {
            rest[n++] = argv[i];
            continue;
        }
        const char *eq = strchr(argv[i], '='), *val = eq ? eq + 1 : NULL;
        if (o->type == VUB_OPT_FLAG && val) {
            if (*info_only)
                continue;
            return bad(p, "option '--%s' takes no value", o->name);
        }
        if (o->type != VUB_OPT_FLAG && !val) {
            if (i + 1 >= argc) {
                if (*info_only)
                    continue;
                return bad(p, "option '--%s' needs a value", o->name);
            }
            val = argv[++i];
        }
        size_t k = (size_t)(o - p->options);
        if (!*info_only && o->type != VUB_OPT_CUSTOM && seen[k])
            return bad(p, "option '--%s' given twice", o->name);
        seen[k] = true;
        if (*info_only)
            continue;
        if (take(o, val) < 0) {
            if (o->type == VUB_OPT_UINT || o->type == VUB_OPT_SIZE)
                return (o->min || o->max) ? bad(p, "bad value for --%s: '%s' (%" PRIu64 "..%" PRIu64 ")", o->name,
                                                val ? val : "", o->min, o->max)
                                          : bad(p, "bad value for --%s: '%s'", o->name, val ? val : "");
            return bad(p, "bad value for --%s: '%s'", o->name, val ? val : "");
        }
    }
    return n;
}

static int serve(const vub_program *p, const vub_program_env *env, vub_sandbox *sb)
{
    const vub_cmdline *cl = env->cmdline;
    vub_daemon_config dc = {
        .ops = p->ops,
        .info = env->info,
        .ctx = env->ctx,
        .nworkers = env->nworkers,
        .log = env->log,
        .serve_once = cl->serve_once,
        .busy_poll_us = vub_cmdline_busy_poll(cl),
        .poll = cl->poll,
        .handle_signals = true,
    };
    vub_daemon *d = NULL;
    int rc = vub_daemon_new(&dc, &d);
    if (rc < 0) {
        say(STDERR_FILENO, "%s: cannot start the daemon: %s\n", p->name, strerror(-rc));
        return rc;
    }
    rc = vub_cmdline_serve(cl, d);
    if (rc < 0) {
        say(STDERR_FILENO, "%s: cannot serve %s%s: %s\n", p->name, cl->socket_path ? "socket " : "fd",
            cl->socket_path ? cl->socket_path : "", strerror(-rc));
    } else if (!p->started || (rc = p->started(p->ctx, d)) == 0) {
        /* Every thread exists now (control, workers): the filter goes on all of them at once. */
        if (sb && (rc = vub_sandbox_lock_syscalls(sb)) < 0) {
            say(STDERR_FILENO, "%s: cannot apply the sandbox: %s\n", p->name, strerror(-rc));
        } else {
            cvmm_logf(env->log, CVMM_LOG_INFO, "serving %s on %s%s%s", p->type ? p->type : "a device",
                      cl->socket_path ? cl->socket_path : "an inherited fd", cl->client ? " (client)" : "",
                      sb ? ", sandboxed" : "");
            rc = vub_daemon_run(d);
            if (rc < 0)
                say(STDERR_FILENO, "%s: %s\n", p->name, strerror(-rc));
        }
        if (p->stopped)
            p->stopped(p->ctx, d);
    }
    vub_daemon_free(d);
    return rc;
}

/* sandbox_declare() - what serving @cl needs through the sandbox, on top of the device's declarations:
 * the --fd socket; with --socket-path, creating and removing in its directory (a stale socket replaced
 * by bind, the socket removed at exit: unlink); with --client, a new AF_UNIX socket per reconnect.
 * Return: 0; -errno (logged). */
static int sandbox_declare(const vub_program *p, const vub_cmdline *cl, vub_sandbox *sb)
{
    int rc = 0;
    if (cl->fd >= 0)
        rc = vub_sandbox_keep_fd(sb, cl->fd);
    if (cl->socket_path && cl->client) {
        rc = vub_sandbox_allow_syscall_arg(sb, "socket", 0, AF_UNIX);
        if (rc == 0)
            rc = vub_sandbox_allow_syscall(sb, "connect");
    } else if (cl->socket_path) {
        char *dir = strdup(cl->socket_path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) /* "/run/x.sock" -> "/run", "/x.sock" -> "/" */
            slash[slash == dir] = '\0';
        rc = !dir ? -ENOMEM : vub_sandbox_allow_path(sb, slash ? dir : ".", VUB_SANDBOX_CREATE);
        if (rc == 0)
            rc = vub_sandbox_allow_syscall(sb, "unlinkat");
#ifdef SYS_unlink
        if (rc == 0)
            rc = vub_sandbox_allow_syscall(sb, "unlink");
#endif
        free(dir);
    }
    if (rc < 0)
        say(STDERR_FILENO, "%s: cannot serve %s: the sandbox cannot allow it: %s\n", p->name,
            cl->socket_path ? cl->socket_path : "--fd", strerror(-rc));
    return rc;
}

int vub_program_main(const vub_program *p, int argc, char **argv)
{
    if (!p || !p->name || !p->ops || argc < 1 || argc > ARGS_MAX || (p->noptions && !p->options))
        return 1;
    char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    bool *seen = calloc(p->noptions + 1, sizeof(*seen));
    int status = 1;
    struct prog_flags pf = {0};
    vub_sandbox *sb = NULL;
    vub_cmdline cl;
    char err[256];
    if (!rest || !seen) {
        say(STDERR_FILENO, "%s: out of memory\n", p->name);
        goto out;
    }
    int n = parse(p, argc, argv, rest, seen, &pf);
    if (n < 0)
        goto out;
    if (vub_cmdline_parse(n, rest, NULL, 0, NULL, &cl, err, sizeof(err)) < 0) {
        say(STDERR_FILENO, "%s: %s (see --help)\n", p->name, err);
        goto out;
    }
    if (cl.help) {
        usage(p);
        status = 0;
        goto out;
    }
    if (cl.print_capabilities) {
        int rc = vub_print_capabilities(STDOUT_FILENO, p->type ? p->type : "", p->features);
        if (rc < 0)
            say(STDERR_FILENO, "%s: cannot print the capabilities of type '%s': %s\n", p->name, p->type ? p->type : "",
                rc == -EINVAL ? "not a valid type or feature (vhost-user.json)" : strerror(-rc));
        status = rc < 0 ? 1 : 0;
        goto out;
    }
    /* Required options last: an unknown or malformed option is the better message. */
    for (size_t k = 0; k < p->noptions; k++)
        if (p->options[k].required && !seen[k]) {
            (void)bad(p, "option '--%s' is required", p->options[k].name);
            goto out;
        }
    /* A peer that goes away must not kill the program: writes to it fail with EPIPE instead. */
    struct sigaction ign = {.sa_handler = SIG_IGN};
    (void)sigaction(SIGPIPE, &ign, NULL);
    struct cvmm_log log = {.fn = vub_program_log_stderr, .opaque = (void *)p->name, .level = cl.log_level};
    vub_program_env env = {
        .log = &log, .cmdline = &cl, .info = p->info, .nworkers = cl.workers ? cl.workers : p->workers, .ctx = p->ctx};
    if (vub_sandbox_new(&(vub_sandbox_config){.log = &log}, &sb) < 0 ||
        vub_sandbox_allow_syscalls(sb, p->sandbox_syscalls) < 0) {
        say(STDERR_FILENO, "%s: cannot declare the sandbox\n", p->name);
        goto out;
    }
    env.sandbox = sb;
    if (p->setup && p->setup(p->ctx, &env) < 0)
        goto out;
    env.sandbox = NULL;
    if (!env.info) {
        say(STDERR_FILENO, "%s: no device description (vub_program.info)\n", p->name);
    } else if (pf.print_sandbox) {
        status = sandbox_declare(p, &cl, sb) == 0 && vub_sandbox_print(sb, STDOUT_FILENO) == 0 ? 0 : 1;
    } else if (pf.no_sandbox) {
        cvmm_logf(&log, CVMM_LOG_WARN, "sandbox: off (--no-sandbox)");
        status = serve(p, &env, NULL) == 0 ? 0 : 1;
    } else if (sandbox_declare(p, &cl, sb) < 0 || vub_sandbox_lock_fs(sb) < 0) {
        say(STDERR_FILENO, "%s: cannot apply the sandbox (see above; --no-sandbox runs without it)\n", p->name);
    } else {
        status = serve(p, &env, sb) == 0 ? 0 : 1;
    }
    if (p->teardown)
        p->teardown(p->ctx);
out:
    vub_sandbox_free(sb);
    free(seen);
    free(rest);
    return status;
}
