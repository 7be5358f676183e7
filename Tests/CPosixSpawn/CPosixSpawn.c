#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>

#include "CPosixSpawn.h"

#if defined(__GLIBC__)
int c_posix_spawn_file_actions_add_close_from(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int c_posix_spawn_file_actions_add_chdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}
#else
int c_posix_spawn_file_actions_add_close_from(posix_spawn_file_actions_t *actions, int from) {
    (void)actions;
    (void)from;
    return ENOSYS;
}

int c_posix_spawn_file_actions_add_chdir(posix_spawn_file_actions_t *actions, const char *path) {
    (void)actions;
    (void)path;
    return ENOSYS;
}
#endif
