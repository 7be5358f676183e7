#ifndef C_PROCESS_CONTROL_H
#define C_PROCESS_CONTROL_H

/// prctl(2) is variadic, which Swift cannot call: these are its two uses, with fixed arguments.

/// prctl(PR_SET_DUMPABLE, dumpable): 0 on success, -1 with errno set.
int process_control_set_dumpable(int dumpable);

/// prctl(PR_GET_DUMPABLE): 0 not dumpable, 1 or 2 dumpable; -1 with errno set.
int process_control_get_dumpable(void);

#endif
