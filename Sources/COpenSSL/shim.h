#ifndef NUMBERD_COPENSSL_SHIM_H
#define NUMBERD_COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/sha.h>
#include <openssl/bn.h>

// OpenSSL 3 exposes many operations as function-like macros or cast constants, which Swift cannot import.
// These static inline wrappers give them a typed C signature; no compiled C target is needed.

// MARK: SSL_CTX configuration

static inline int numberd_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int numberd_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline int numberd_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

static inline long numberd_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

static inline long numberd_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}

static inline int numberd_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *cert) {
    return (int)SSL_CTX_add1_chain_cert(ctx, cert);
}

/// The options every numberd context sets: no compression, no renegotiation, TLS 1.3 middlebox compatibility.
static inline uint64_t numberd_ssl_options_hardened(void) {
    return (uint64_t)(SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
}

static inline uint64_t numberd_ssl_option_no_ticket(void) {
    return (uint64_t)SSL_OP_NO_TICKET;
}

static inline long numberd_ssl_mode_release_buffers(void) {
    return (long)SSL_MODE_RELEASE_BUFFERS;
}

// Server sessions resume from tickets only: an internal store kept a TLS 1.2 session (~1 KiB) for every ticketless
// client that closed cleanly, flushed only by later handshakes on that context, which a retired context never makes.
static inline long numberd_ssl_sess_cache_server(void) {
    return (long)(SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
}

static inline long numberd_SSL_CTX_sess_number(SSL_CTX *ctx) {
    return SSL_CTX_sess_number(ctx);
}

static inline long numberd_ssl_sess_cache_client_external(void) {
    return (long)(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
}

static inline long numberd_ssl_sess_cache_off(void) {
    return (long)SSL_SESS_CACHE_OFF;
}

// MARK: Per-connection

static inline int numberd_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline int numberd_SSL_set_app_data(SSL *ssl, void *data) {
    return SSL_set_ex_data(ssl, 0, data);
}

static inline void *numberd_SSL_get_app_data(const SSL *ssl) {
    return SSL_get_ex_data(ssl, 0);
}

/// Sets the argument OpenSSL hands `ssl`'s message callback (`SSL_set_msg_callback`).
static inline long numberd_SSL_set_msg_callback_arg(SSL *ssl, void *arg) {
    return SSL_set_msg_callback_arg(ssl, arg);
}

static inline long numberd_BIO_set_mem_eof_return(BIO *bio, long value) {
    return BIO_set_mem_eof_return(bio, value);
}

// MARK: Memory

static inline void numberd_OPENSSL_free(void *pointer) {
    OPENSSL_free(pointer);
}

static inline long numberd_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

/// Bytes allocated for a memory BIO's buffer (its BUF_MEM's `max`), which OpenSSL grows and never shrinks.
static inline size_t numberd_BIO_mem_capacity(BIO *bio) {
    BUF_MEM *memory = NULL;
    if (BIO_get_mem_ptr(bio, &memory) != 1 || memory == NULL) {
        return 0;
    }
    return memory->max;
}

// MARK: Peer identity

/// The subjectAltName extension of `cert` (free with GENERAL_NAMES_free), or NULL when it has none.
static inline GENERAL_NAMES *numberd_X509_get_subject_alt_names(X509 *cert) {
    return (GENERAL_NAMES *)X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
}

static inline int numberd_GENERAL_NAMES_count(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}

/// Kind of the entry at `index`: 1 DNS name, 2 IP address, 0 anything else. `data`/`length` point into `names`.
static inline int numberd_GENERAL_NAMES_entry(const GENERAL_NAMES *names, int index,
                                              const unsigned char **data, int *length) {
    const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, index);
    if (name == NULL) {
        return 0;
    }
    if (name->type == GEN_DNS) {
        *data = ASN1_STRING_get0_data(name->d.dNSName);
        *length = ASN1_STRING_length(name->d.dNSName);
        return 1;
    }
    if (name->type == GEN_IPADD) {
        *data = ASN1_STRING_get0_data(name->d.iPAddress);
        *length = ASN1_STRING_length(name->d.iPAddress);
        return 2;
    }
    return 0;
}

// MARK: Key and certificate generation

static inline int numberd_mbstring_utf8(void) {
    return MBSTRING_UTF8;
}

/// Adds an X509v3 extension given in OpenSSL config syntax (e.g. "critical,CA:TRUE"); 1 on success.
static inline int numberd_X509_add_extension(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (extension == NULL) {
        return 0;
    }
    int result = X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
    return result;
}

#endif
