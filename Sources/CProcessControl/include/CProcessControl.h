#ifndef C_PROCESS_CONTROL_H
#define C_PROCESS_CONTROL_H

/// prctl(2) is variadic, which Swift cannot call: these are its two uses, with fixed arguments.

/// prctl(PR_SET_DUMPABLE, dumpable): 0 on success, -1 with errno set.
int process_control_set_dumpable(int dumpable);

/// prctl(PR_GET_DUMPABLE): 0 not dumpable, 1 or 2 dumpable; -1 with errno set.
int process_control_get_dumpable(void);

/// renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE), which Swift's Glibc module does not declare: swaps two
/// existing paths in one step (no moment where either name is missing). 0 on success, -1 with errno set (EINVAL where
/// the file system cannot exchange).
int process_control_rename_exchange(const char *a, const char *b);

#endif
