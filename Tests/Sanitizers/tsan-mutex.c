// Makes Swift's Synchronization.Mutex visible to ThreadSanitizer on Linux (LD_PRELOAD into a --sanitize=thread
// build). The uncontended lock and unlock are atomics inlined into instrumented code, which TSan sees; a contended
// lock is taken inside libswiftSynchronization.so (a spin of compare-exchanges, then FUTEX_LOCK_PI, the kernel handing
// the lock over), which TSan does not see — so every access under a contended Mutex was reported as a data race.
// This wraps the library's three slow paths: after `_lockSlow` (and a successful `_tryLockSlow`) an acquire, before
// `_unlockSlow` a release, on the mutex word, the address the inlined atomics use. The mutex comes in r13 (Swift's
// `self` register, callee-saved), which C cannot name: the wrappers are assembly.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"

__attribute__((visibility("hidden"))) void *numberd_real_lock_slow, *numberd_real_unlock_slow, *numberd_real_try_lock_slow;

__attribute__((constructor)) static void find_real(void) {
    numberd_real_lock_slow = dlsym(RTLD_NEXT, LOCK_SLOW);
    numberd_real_unlock_slow = dlsym(RTLD_NEXT, UNLOCK_SLOW);
    numberd_real_try_lock_slow = dlsym(RTLD_NEXT, TRY_LOCK_SLOW);
    // Absent in a process without Swift's Synchronization (`timeout`, a shell): then nothing calls the wrappers.
}

__asm__(
    ".text\n"
    ".globl \"" LOCK_SLOW "\"\n"
    ".type \"" LOCK_SLOW "\",@function\n"
    "\"" LOCK_SLOW "\":\n"
    "  push %rbx\n"
    "  call *numberd_real_lock_slow(%rip)\n"
    "  mov %r13, %rdi\n"
    "  call __tsan_acquire@PLT\n"
    "  pop %rbx\n"
    "  ret\n"
    ".globl \"" UNLOCK_SLOW "\"\n"
    ".type \"" UNLOCK_SLOW "\",@function\n"
    "\"" UNLOCK_SLOW "\":\n"
    "  push %rbx\n"
    "  mov %r13, %rdi\n"
    "  call __tsan_release@PLT\n"
    "  call *numberd_real_unlock_slow(%rip)\n"
    "  pop %rbx\n"
    "  ret\n"
    ".globl \"" TRY_LOCK_SLOW "\"\n"
    ".type \"" TRY_LOCK_SLOW "\",@function\n"
    "\"" TRY_LOCK_SLOW "\":\n"
    "  push %rbx\n"
    "  call *numberd_real_try_lock_slow(%rip)\n"
    "  movzbl %al, %ebx\n"
    "  test %ebx, %ebx\n"
    "  je 1f\n"
    "  mov %r13, %rdi\n"
    "  call __tsan_acquire@PLT\n"
    "1:\n"
    "  mov %ebx, %eax\n"
    "  pop %rbx\n"
    "  ret\n");
