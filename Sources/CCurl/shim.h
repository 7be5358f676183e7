#ifndef NUMBERD_CCURL_SHIM_H
#define NUMBERD_CCURL_SHIM_H

#include <curl/curl.h>

#endif
