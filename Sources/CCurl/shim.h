#ifndef NUMBERD_CCURL_SHIM_H
#define NUMBERD_CCURL_SHIM_H

#include <curl/curl.h>

/*
 * Typed wrappers for libcurl's variadic entry points (curl_easy_setopt, curl_easy_getinfo,
 * curl_multi_setopt) and for macros Swift cannot import. One wrapper per argument type keeps
 * the C type checking that the variadic call loses: a `long` option never receives a pointer.
 */

/* Write/header callback: `size_t f(char *ptr, size_t size, size_t nmemb, void *userdata)`. */
typedef size_t (*numberd_curl_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);

static inline CURLcode numberd_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode numberd_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/* For string options libcurl copies the string (all but CURLOPT_POSTFIELDS, which we never use). */
static inline CURLcode numberd_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode numberd_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode numberd_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode numberd_curl_easy_setopt_data_callback(CURL *handle, CURLoption option,
                                                              numberd_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode numberd_curl_easy_setopt_prereq_callback(CURL *handle, curl_prereq_callback value) {
    return curl_easy_setopt(handle, CURLOPT_PREREQFUNCTION, value);
}

/* COPYPOSTFIELDS with an explicit size: the body may contain NUL bytes, and libcurl copies it. */
static inline CURLcode numberd_curl_easy_set_body(CURL *handle, const void *bytes, curl_off_t length) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, length);
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(handle, CURLOPT_COPYPOSTFIELDS, bytes);
}

static inline CURLcode numberd_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode numberd_curl_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLMcode numberd_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}

/* CURLAUTH_BASIC is a cast macro. */
static inline long numberd_curlauth_basic(void) {
    return (long)CURLAUTH_BASIC;
}

/* CURL_GLOBAL_DEFAULT is a macro built from others. */
static inline long numberd_curl_global_default(void) {
    return CURL_GLOBAL_DEFAULT;
}

/* CURLMsg.data is a union: read the result of a finished transfer without touching it from Swift. */
static inline CURLcode numberd_curl_msg_result(const CURLMsg *message) {
    return message->data.result;
}

#endif
