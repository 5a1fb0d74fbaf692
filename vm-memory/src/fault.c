/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vm-memory/src/fault.c - the fault guard: survive a guest memory file that shrank under its mapping.
 *
 * A front-end may truncate the memfd of a region it gave us (SET_MEM_TABLE, ADD_MEM_REG, SET_LOG_BASE);
 * touching a page past the new end of file raises SIGBUS, which kills the process by default.  Regions
 * whose fd carries F_SEAL_SHRINK cannot shrink and are not guarded.  Every other fd mapping is registered
 * here; the SIGBUS handler, for a fault (BUS_ADRERR) inside a registered range, maps private zero pages
 * with MAP_FIXED from the faulting page to the end of the range (one mmap: the access then completes
 * harmlessly, later accesses to the rest of the range cannot fault, and the range costs at most one more
 * VMA however many pages are touched), and sets the region's `faulted` flag and a process-wide count.
 * vmem_map_check() turns that into -EIO for the users, which break their queues.  A SIGBUS anywhere else
 * goes to the handler that was installed before ours (the sanitizers', the program's), or kills the
 * process as if we had never been there.
 *
 * STYLE §9 exception: a signal handler has no object to hang state off, so the registry is the library's
 * one piece of process-wide mutable state: `vmem__fault_registry` below (scripts/check-lib.sh allows
 * exactly that symbol).  It holds a lock-free list of slot chunks (allocated on demand, never freed, reused),
 * the previous SIGBUS action, and two counters.  The handler only uses lock-free atomics and the raw mmap
 * system call, so it is async-signal-safe.
 *
 * Concurrency: a worker may fault while the control thread frees the region.  vmem__fault_unwatch() marks
 * the slot retiring (seq_cst), then waits until no handler is running (`active`, seq_cst) before the
 * caller unmaps; a handler increments `active` before it reads a slot's state.  So either the handler saw
 * the slot retiring and leaves the range alone, or the unwatch waits for the handler to finish: a handler
 * never maps zero pages over an address range that was unmapped and reused meanwhile. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_POINTER_LOCK_FREE == 2,
               "the SIGBUS handler needs lock-free atomics");

enum { SLOT_FREE, SLOT_CLAIMED, SLOT_LIVE, SLOT_RETIRING };
enum { INSTALL_NONE, INSTALL_BUSY, INSTALL_DONE };
#define SLOTS_PER_CHUNK 64

struct vmem__fault_slot {
    atomic_int state;
    /* Written while SLOT_CLAIMED, read by handlers only after they saw SLOT_LIVE (acquire). */
    uintptr_t start, end; /* [start, end) */
    uintptr_t page;
    int prot;
    atomic_uint *flag;
};

struct fault_chunk {
    struct vmem__fault_slot slot[SLOTS_PER_CHUNK];
    struct fault_chunk *next; /* immutable once the chunk is published */
};

/* The one process-wide state of vm-memory (see the top of this file). */
static struct {
    _Atomic(struct fault_chunk *) head; /* newest chunk first; chunks are never freed */
    atomic_int install;                 /* INSTALL_* */
    atomic_uint active;                 /* handlers running right now */
    atomic_uint faults;                 /* guarded faults so far */
    struct sigaction prev;              /* the SIGBUS action before ours; set before INSTALL_DONE */
} vmem__fault_registry;
#define REG vmem__fault_registry

/* Map zero pages over [page of @a, s->end).  Return: whether the mapping is in place. */
static bool zero_fill(const struct vmem__fault_slot *s, uintptr_t a)
{
    uintptr_t pg = a & ~(s->page - 1);
    /* The raw system call: no interceptor (sanitizers) and no errno games in a signal handler. */
    long p = syscall(SYS_mmap, (void *)pg, (size_t)(s->end - pg), s->prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
                     (off_t)0);
    return p == (long)pg;
}

/* A registered range holds @a: make the access succeed.  Return: whether it did. */
static bool guard_fault(uintptr_t a)
{
    bool done = false;
    /* Partner: the seq_cst retiring store and `active` load in vmem__fault_unwatch(). */
    atomic_fetch_add_explicit(&REG.active, 1, memory_order_seq_cst);
    for (struct fault_chunk *c = atomic_load_explicit(&REG.head, memory_order_acquire); c && !done; c = c->next) {
        for (int i = 0; i < SLOTS_PER_CHUNK; i++) {
            struct vmem__fault_slot *s = &c->slot[i];
            if (atomic_load_explicit(&s->state, memory_order_seq_cst) != SLOT_LIVE || a < s->start || a >= s->end)
                continue;
            if (zero_fill(s, a)) {
                atomic_store_explicit(s->flag, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&REG.faults, 1, memory_order_relaxed);
                done = true;
            }
            break;
        }
    }
    atomic_fetch_sub_explicit(&REG.active, 1, memory_order_seq_cst);
    return done;
}

/* Not ours: hand the signal to whoever had it before, or die of it. */
static void chain(int sig, siginfo_t *si, void *uc)
{
    const struct sigaction *p = &REG.prev;
    /* SIG_DFL and SIG_IGN first: they are no functions, whatever sa_flags says (sa_handler and sa_sigaction
     * share their storage). */
    if (p->sa_handler == SIG_IGN && (!si || si->si_code <= 0))
        return; /* sent, and ignored before the guard came: still ignored */
    if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
        if (p->sa_flags & SA_SIGINFO)
            p->sa_sigaction(sig, si, uc);
        else
            p->sa_handler(sig);
        return;
    }
    /* Default action (or an ignored fault, which the kernel would not ignore either): restore the default; a
     * fault re-executes on return and kills the process with SIGBUS (and a core), a signal that was sent is
     * raised again (it stays blocked until we return). */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (!si || si->si_code <= 0)
        raise(sig);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    bool ours = si && si->si_code == BUS_ADRERR && guard_fault((uintptr_t)si->si_addr);
    errno = saved;
    if (!ours)
        chain(sig, si, uc);
}

/* Install on_sigbus once per process.  Return: 0; the sigaction errno (logged). */
static int install(const struct cvmm_log *log)
{
    for (;;) {
        int st = atomic_load_explicit(&REG.install, memory_order_acquire);
        if (st == INSTALL_DONE)
            return 0;
        if (st == INSTALL_BUSY) {
            sched_yield();
            continue;
        }
        if (!atomic_compare_exchange_strong_explicit(&REG.install, &st, INSTALL_BUSY, memory_order_acq_rel,
                                                     memory_order_acquire))
            continue;
        /* Read the previous action first, so that a SIGBUS between the two calls is chained correctly. */
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, NULL, &REG.prev) < 0 || sigaction(SIGBUS, &sa, NULL) < 0) {
            int rc = -errno;
            atomic_store_explicit(&REG.install, INSTALL_NONE, memory_order_release);
            cvmm_logf(log, CVMM_LOG_ERROR, "vmem: cannot install the SIGBUS fault guard: %s", strerror(-rc));
            return rc;
        }
        atomic_store_explicit(&REG.install, INSTALL_DONE, memory_order_release);
        return 0;
    }
}

/* A free slot, now SLOT_CLAIMED by the caller, or NULL if every chunk is full. */
static struct vmem__fault_slot *claim(void)
{
    for (struct fault_chunk *c = atomic_load_explicit(&REG.head, memory_order_acquire); c; c = c->next) {
        for (int i = 0; i < SLOTS_PER_CHUNK; i++) {
            int st = SLOT_FREE;
            if (atomic_compare_exchange_strong_explicit(&c->slot[i].state, &st, SLOT_CLAIMED, memory_order_acquire,
                                                        memory_order_relaxed))
                return &c->slot[i];
        }
    }
    return NULL;
}

int vmem__fault_watch(uint8_t *start, size_t size, size_t page, int prot, atomic_uint *flag, const struct cvmm_log *log,
                      struct vmem__fault_slot **out)
{
    int rc = install(log);
    if (rc < 0)
        return rc;
    struct vmem__fault_slot *s = claim();
    if (!s) {
        struct fault_chunk *c = calloc(1, sizeof(*c));
        if (!c) {
            cvmm_logf(log, CVMM_LOG_ERROR, "vmem: fault guard: out of memory");
            return -ENOMEM;
        }
        for (int i = 0; i < SLOTS_PER_CHUNK; i++)
            atomic_init(&c->slot[i].state, SLOT_FREE);
        s = &c->slot[0];
        atomic_init(&s->state, SLOT_CLAIMED);
        c->next = atomic_load_explicit(&REG.head, memory_order_relaxed);
        while (
            !atomic_compare_exchange_weak_explicit(&REG.head, &c->next, c, memory_order_release, memory_order_relaxed))
            ;
    }
    s->start = (uintptr_t)start;
    s->end = (uintptr_t)start + size;
    s->page = page;
    s->prot = prot;
    s->flag = flag;
    atomic_store_explicit(&s->state, SLOT_LIVE, memory_order_seq_cst);
    *out = s;
    return 0;
}

void vmem__fault_unwatch(struct vmem__fault_slot *s)
{
    if (!s)
        return;
    /* Partner: the seq_cst `active` increment and state load in guard_fault(). */
    atomic_store_explicit(&s->state, SLOT_RETIRING, memory_order_seq_cst);
    while (atomic_load_explicit(&REG.active, memory_order_seq_cst) != 0)
        sched_yield();
    atomic_store_explicit(&s->state, SLOT_FREE, memory_order_release);
}

unsigned vmem__fault_count(void) { return atomic_load_explicit(&REG.faults, memory_order_relaxed); }
