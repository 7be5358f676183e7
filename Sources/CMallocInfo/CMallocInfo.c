#define _GNU_SOURCE
#include "CMallocInfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GLIBC__)
#include <malloc.h>

/// The value of `size="…"` in the last element of malloc_info's XML that starts with `prefix` (the totals over
/// every arena come after the per-arena elements).
static long long last_size(const char *xml, const char *prefix) {
    const char *found = NULL;
    for (const char *at = strstr(xml, prefix); at != NULL; at = strstr(at + 1, prefix)) found = at;
    if (found == NULL) return -1;
    const char *size = strstr(found, "size=\"");
    return size == NULL ? -1 : atoll(size + 6);
}

long long malloc_info_heap_in_use(void) {
    char *xml = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&xml, &length);
    if (stream == NULL) return -1;
    int failed = malloc_info(0, stream);
    fclose(stream);
    long long used = -1;
    if (failed == 0 && xml != NULL) {
        // Every arena's memory from the system, minus its free chunks, plus the chunks mmapped on their own.
        long long system = last_size(xml, "<system type=\"current\"");
        long long fast = last_size(xml, "<total type=\"fast\"");
        long long rest = last_size(xml, "<total type=\"rest\"");
        long long mmapped = last_size(xml, "<total type=\"mmap\"");
        if (system >= 0 && fast >= 0 && rest >= 0 && mmapped >= 0) used = system - fast - rest + mmapped;
    }
    free(xml);
    return used;
}
#else
long long malloc_info_heap_in_use(void) { return -1; }
#endif
