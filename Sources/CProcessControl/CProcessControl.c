#define _GNU_SOURCE
#include "CProcessControl.h"

#if defined(__linux__)
#include <fcntl.h>
#include <stdio.h>
#include <sys/prctl.h>

int process_control_rename_exchange(const char *a, const char *b) {
    return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

int process_control_set_dumpable(int dumpable) {
    return prctl(PR_SET_DUMPABLE, (unsigned long)dumpable, 0UL, 0UL, 0UL);
}

int process_control_get_dumpable(void) {
    return prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
}
#else
#include <errno.h>

int process_control_set_dumpable(int dumpable) {
    (void)dumpable;
    errno = ENOSYS;
    return -1;
}

int process_control_get_dumpable(void) {
    errno = ENOSYS;
    return -1;
}

int process_control_rename_exchange(const char *a, const char *b) {
    (void)a;
    (void)b;
    errno = ENOSYS;
    return -1;
}
#endif
