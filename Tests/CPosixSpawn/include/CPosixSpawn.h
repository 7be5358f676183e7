#ifndef C_POSIX_SPAWN_H
#define C_POSIX_SPAWN_H

#include <spawn.h>

/// glibc's GNU extensions to posix_spawn's file actions, which its Swift module does not show (they sit behind
/// `_GNU_SOURCE`), with fixed prototypes. Each returns 0 or an error number, as the function it calls.

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34): the child closes every descriptor from `from` up.
int c_posix_spawn_file_actions_add_close_from(posix_spawn_file_actions_t *actions, int from);

/// posix_spawn_file_actions_addchdir_np (glibc 2.29): the child changes to `path` before it executes.
int c_posix_spawn_file_actions_add_chdir(posix_spawn_file_actions_t *actions, const char *path);

#endif
