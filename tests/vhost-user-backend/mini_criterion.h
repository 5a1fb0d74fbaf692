/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The subset of Criterion's API the vhost-user-backend suites use, as a plain program, so that the same
 * suites run under ThreadSanitizer (Criterion cannot start there, Snaipe/Criterion#274).  Each test runs
 * in a forked child (init, body, fini) with an alarm for .timeout; the parent reports and counts.
 * `test-... [filter]` runs the tests whose "suite/name" contains filter. */
#ifndef VUB_MINI_CRITERION_H
#define VUB_MINI_CRITERION_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct mc_cfg {
    int mc_unused;
    void (*init)(void);
    void (*fini)(void);
    double timeout;
};
struct mc_test {
    const char *suite, *name;
    void (*fn)(void);
    struct mc_cfg cfg;
    struct mc_test *next;
};
struct mc_suite {
    const char *name;
    struct mc_cfg cfg;
    struct mc_suite *next;
};
static struct mc_test *mc_tests, **mc_tests_tail = &mc_tests;
static struct mc_suite *mc_suites;

static void mc_add_test(struct mc_test *t)
{
    *mc_tests_tail = t;
    mc_tests_tail = &t->next;
}
static void mc_add_suite(struct mc_suite *s)
{
    s->next = mc_suites;
    mc_suites = s;
}

#define TestSuite(sname, ...)                                                                                          \
    static struct mc_suite mc_suite_##sname = {.name = #sname, .cfg = {.mc_unused = 0, __VA_ARGS__}};                  \
    __attribute__((constructor)) static void mc_reg_suite_##sname(void) { mc_add_suite(&mc_suite_##sname); }

#define Test(sname, tname, ...)                                                                                        \
    static void mc_fn_##sname##_##tname(void);                                                                         \
    static struct mc_test mc_t_##sname##_##tname = {                                                                   \
        .suite = #sname, .name = #tname, .fn = mc_fn_##sname##_##tname, .cfg = {.mc_unused = 0, __VA_ARGS__}};         \
    __attribute__((constructor)) static void mc_reg_##sname##_##tname(void) { mc_add_test(&mc_t_##sname##_##tname); }  \
    static void mc_fn_##sname##_##tname(void)

__attribute__((noreturn, format(printf, 4, 5))) static void mc_fail(const char *file, int line, const char *expr,
                                                                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "  %s:%d: assertion failed: %s %s\n", file, line, expr, msg);
    _exit(1);
}

#pragma GCC diagnostic ignored "-Wformat-zero-length"
#define cr_assert(cond, ...)                                                                                           \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            mc_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);                                                        \
    } while (0)
#define cr_assert_fail(...) mc_fail(__FILE__, __LINE__, "fail", "" __VA_ARGS__)
#define cr_assert_not(c, ...) cr_assert(!(c), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...) cr_assert(memcmp((a), (b), (n)) == 0, __VA_ARGS__)
#define cr_expect_eq cr_assert_eq

static const struct mc_cfg *mc_suite_cfg(const char *name)
{
    for (struct mc_suite *s = mc_suites; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return &s->cfg;
    return NULL;
}

int main(int argc, char **argv)
{
    int run = 0, failed = 0;
    for (struct mc_test *t = mc_tests; t; t = t->next) {
        char full[256];
        snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
        if (argc > 1 && !strstr(full, argv[1]))
            continue;
        const struct mc_cfg *sc = mc_suite_cfg(t->suite);
        void (*init)(void) = t->cfg.init ? t->cfg.init : sc ? sc->init : NULL;
        void (*fini)(void) = t->cfg.fini ? t->cfg.fini : sc ? sc->fini : NULL;
        double to = t->cfg.timeout > 0 ? t->cfg.timeout : sc && sc->timeout > 0 ? sc->timeout : 10;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            alarm((unsigned)(to * 3) + 1); /* sanitizers slow everything down */
            if (init)
                init();
            t->fn();
            if (fini)
                fini();
            fflush(NULL);
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        printf("[%s] %s", ok ? "PASS" : "FAIL", full);
        if (!ok) {
            if (WIFSIGNALED(st))
                printf(" (signal %d%s)", WTERMSIG(st), WTERMSIG(st) == SIGALRM ? ": timed out" : "");
            else
                printf(" (exit %d)", WEXITSTATUS(st));
        }
        printf("\n");
        run++;
        failed += !ok;
    }
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d\n", run, run - failed, failed);
    return failed ? 1 : 0;
}

#endif
