/*
 * uring_wait_shim.c: lets glommio's io_uring waits run under Valgrind 3.19.
 * Preloaded (LD_PRELOAD) into the C tests only when tests/c/run.sh runs them under
 * memcheck; never part of libtidelog.
 *
 * Why: Valgrind runs one guest thread at a time (its "big lock") and releases the lock
 * around system calls it knows may block. Valgrind 3.19 does not mark io_uring_enter
 * as one of those, so a thread waiting in io_uring_enter(GETEVENTS, min_complete > 0)
 * keeps the lock while it sleeps in the kernel, and no other thread runs again. A
 * glommio executor waits exactly that way when it is idle, so every engine deadlocks
 * under Valgrind: the thread that would wake the executor (a caller putting a
 * record, glommio's own blocking-pool thread) can never run.
 *
 * What: glommio calls the libc `syscall()` function for io_uring_enter. This shim
 * replaces `syscall()` and, for a waiting io_uring_enter only, does the same work in
 * a form Valgrind understands: it submits without waiting, then loops on
 * io_uring_enter(GETEVENTS, min_complete = 0) (which runs the ring's pending task
 * work without blocking) and poll(2) on the ring descriptor with a 1 ms timeout
 * (which Valgrind knows may block, so it releases the lock), until a completion is
 * ready. The caller (liburing's wait loop in glommio) then finds the completion as it
 * would have. Every other system call goes straight to libc.
 *
 * This changes how a third-party library waits, not what tidelog does; no memcheck
 * error is suppressed by it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IORING_ENTER_GETEVENTS 1L

typedef long (*syscall_fn)(long, ...);

long syscall(long number, ...) {
    static syscall_fn real;
    if (!real) real = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    /* io_uring_enter(fd, to_submit, min_complete, flags, arg, argsz) that would wait */
    if (number == SYS_io_uring_enter && (a4 & IORING_ENTER_GETEVENTS) && (unsigned)a3 > 0) {
        long submitted = real(number, a1, a2, 0L, a4 & ~IORING_ENTER_GETEVENTS, a5, a6);
        if (submitted < 0) return submitted;
        for (;;) {
            real(number, a1, 0L, 0L, a4, a5, a6);
            struct pollfd ring = { .fd = (int)a1, .events = POLLIN };
            if (poll(&ring, 1, 1) > 0) return submitted;
        }
    }
    return real(number, a1, a2, a3, a4, a5, a6);
}
