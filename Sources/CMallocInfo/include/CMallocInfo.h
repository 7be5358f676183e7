#ifndef C_MALLOC_INFO_H
#define C_MALLOC_INFO_H

/// Bytes the allocator has handed out and not had back, over every arena (glibc's malloc_info: memory from the
/// system minus free chunks, plus chunks mmapped on their own); -1 where it cannot tell.
long long malloc_info_heap_in_use(void);

#endif
