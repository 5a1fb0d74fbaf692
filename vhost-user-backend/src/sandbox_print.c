/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* sandbox_print.c - vub_sandbox_print(): the policy as JSON (cvmm/vub/sandbox.h), built with jansson. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h" /* before seccomp.h: its <linux/elf.h> defines EV_NONE, an enumerator of libev's ev.h */
#include "sandbox_internal.h"

#include <seccomp.h>

static int add(json_t *arr, json_t *v) { return json_array_append_new(arr, v) == 0 ? 0 : -ENOMEM; }

/* name_of() - an allowed number by libseccomp's name, or the number as text; owned by @arr's new entry. */
static int add_call(json_t *arr, int nr)
{
    char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    int rc = add(arr, json_string(name ? name : vub__sb_syscall_name(nr)));
    free(name);
    return rc;
}

static int add_names(json_t *arr, const char *const *names)
{
    int rc = 0;
    for (size_t i = 0; names[i] && rc == 0; i++)
        if (seccomp_syscall_resolve_name(names[i]) >= 0)
            rc = add(arr, json_string(names[i]));
    return rc;
}

static json_t *access_of(unsigned a)
{
    json_t *arr = json_array();
    if (arr && (a & VUB_SANDBOX_READ))
        json_array_append_new(arr, json_string("read"));
    if (arr && (a & VUB_SANDBOX_WRITE))
        json_array_append_new(arr, json_string("write"));
    if (arr && (a & VUB_SANDBOX_CREATE))
        json_array_append_new(arr, json_string("create"));
    return arr;
}

static json_t *seccomp_json(const vub_sandbox *sb, int *rc)
{
    json_t *s = json_object(), *allow = json_array(), *allow_if = json_array(), *err = json_array();
    if (!s || !allow || !allow_if || !err) {
        json_decref(s), json_decref(allow), json_decref(allow_if), json_decref(err);
        *rc = -ENOMEM;
        return NULL;
    }
    json_object_set_new(s, "violation", json_string("SIGSYS handler logs the call, then SECCOMP_RET_KILL_PROCESS"));
    json_object_set_new(s, "allow", allow);
    json_object_set_new(s, "allow_if", allow_if);
    json_object_set_new(s, "errno", err);
    *rc = add_names(allow, vub__sandbox_base_calls());
    if (*rc == 0 && vub__sandbox_sanitizer_name()[0])
        *rc = add_names(allow, vub__sandbox_sanitizer_calls());
    for (size_t i = 0; i < sb->ncalls && *rc == 0; i++)
        *rc = add_call(allow, sb->calls[i]);
    for (size_t i = 0; i < sb->nconds && *rc == 0; i++)
        *rc = add(allow_if, json_pack("{s:s, s:I, s:I}", "syscall", vub__sb_syscall_name(sb->conds[i].nr), "arg",
                                      (json_int_t)sb->conds[i].arg, "value", (json_int_t)sb->conds[i].value));
    if (*rc == 0 && !vub__sandbox_sanitizer_name()[0])
        *rc = add(allow_if, json_pack("{s:s, s:i, s:s}", "syscall", "clone", "arg", 0, "value", "has CLONE_THREAD"));
    if (*rc == 0)
        *rc = add(allow_if, json_pack("{s:s, s:i, s:s}", "syscall", "kill", "arg", 0, "value", "own pid"));
    if (*rc == 0)
        *rc = add(allow_if, json_pack("{s:s, s:i, s:s}", "syscall", "tgkill", "arg", 0, "value", "own pid"));
    if (*rc == 0)
        *rc = add(err, json_pack("{s:s, s:s}", "syscall", "clone3", "errno", "ENOSYS"));
    return s;
}

int vub_sandbox_print(const vub_sandbox *sb, int fd)
{
    if (!sb)
        return -EINVAL;
    int rc = 0;
    json_t *o = json_object(), *fds = json_array(), *paths = json_array(), *ll = json_object();
    json_t *sc = seccomp_json(sb, &rc);
    if (!o || !fds || !paths || !ll || !sc) {
        json_decref(o), json_decref(fds), json_decref(paths), json_decref(ll), json_decref(sc);
        return -ENOMEM;
    }
    json_object_set_new(o, "no_new_privs", json_true());
    json_object_set_new(o, "kept_fds", fds);
    json_object_set_new(o, "landlock", ll);
    json_object_set_new(o, "seccomp", sc);
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = add(fds, json_integer(i));
    for (size_t i = 0; i < sb->nfds && rc == 0; i++)
        if (sb->fds[i] > 2)
            rc = add(fds, json_integer(sb->fds[i]));
    json_object_set_new(ll, "abi", json_integer(sb->landlock_abi >= 0 ? sb->landlock_abi : vub__sb_landlock_abi()));
    json_object_set_new(ll, "paths", paths);
    for (size_t i = 0; i < sb->npaths && rc == 0; i++)
        rc = add(paths, json_pack("{s:s, s:o}", "path", sb->paths[i].path, "access", access_of(sb->paths[i].access)));
    if (rc == 0 && vub__sandbox_sanitizer_name()[0])
        rc = add(paths, json_pack("{s:s, s:[s], s:s}", "path", "/", "access", "read", "why", "sanitizer runtime"));
    if (rc == 0 && vub__sandbox_gcov_dir()[0])
        rc = add(paths, json_pack("{s:s, s:[sss], s:s}", "path", vub__sandbox_gcov_dir(), "access", "read", "write",
                                  "create", "why", "coverage build: gcov counts"));
    json_object_set_new(o, "sanitizer",
                        vub__sandbox_sanitizer_name()[0] ? json_string(vub__sandbox_sanitizer_name()) : json_null());
    json_object_set_new(o, "set_ids",
                        sb->cfg.set_ids
                            ? json_pack("{s:I, s:I}", "uid", (json_int_t)sb->cfg.uid, "gid", (json_int_t)sb->cfg.gid)
                            : json_false());
    json_object_set_new(o, "namespaces", json_boolean(sb->cfg.namespaces));
    char *text = rc == 0 ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return rc < 0 ? rc : -ENOMEM;
    rc = vub__write_all(fd, text, strlen(text)) < 0 || vub__write_all(fd, "\n", 1) < 0 ? -EIO : 0;
    free(text);
    return rc;
}
