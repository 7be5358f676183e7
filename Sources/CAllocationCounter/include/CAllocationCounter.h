#ifndef C_ALLOCATION_COUNTER_H
#define C_ALLOCATION_COUNTER_H

/// Whether this platform counts allocations (glibc: the linking executable's malloc family preempts libc's).
int allocation_counter_available(void);
/// Resets the count and starts counting malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign.
void allocation_counter_start(void);
/// Stops counting and returns how many allocation calls were made since the start (from every thread).
long long allocation_counter_stop(void);

#endif
