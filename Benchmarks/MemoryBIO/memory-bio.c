/*
 * How to keep OpenSSL's memory BIOs small, measured on OpenSSL itself (no NIO, no Swift): a TLS 1.3 client and
 * server wired by memory BIOs, as NumberTLS wires them. A BIO_s_mem buffer grows to the most it ever held and is
 * never shrunk, so a connection keeps the largest write or read it ever carried. Two ways out, timed here:
 *   sliced: at most 16 KiB per SSL_write / BIO_write, drained before the next (what NumberTLS does);
 *   trim:   whole writes / reads as before, then a fresh BUF_MEM when the BIO is empty and over 32 KiB.
 * Build and run: ./run.sh
 */
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SLICE = 16 * 1024, BOUND = 32 * 1024, SOCKET_READ = 64 * 1024, LARGE = 1 << 20 };

typedef struct {
    SSL *ssl;
    BIO *in, *out;
} End;

static SSL_CTX *server_ctx, *client_ctx;
static char large[LARGE], *sink;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static size_t capacity(BIO *bio) {
    BUF_MEM *memory;
    BIO_get_mem_ptr(bio, &memory);
    return memory->max;
}

static void trim(BIO *bio) {
    BUF_MEM *memory;
    BIO_get_mem_ptr(bio, &memory);
    if (memory->length == 0 && memory->max > BOUND) BIO_set_mem_buf(bio, BUF_MEM_new(), BIO_CLOSE);
}

static End make(SSL_CTX *ctx, int server) {
    End end = {SSL_new(ctx), BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem())};
    SSL_set_bio(end.ssl, end.in, end.out);
    if (server) SSL_set_accept_state(end.ssl); else SSL_set_connect_state(end.ssl);
    return end;
}

static void move(End *from, End *to) {
    char buffer[65536];
    int n;
    while ((n = BIO_read(from->out, buffer, sizeof buffer)) > 0) BIO_write(to->in, buffer, n);
}

static void connect_pair(End *server, End *client) {
    char buffer[SLICE];
    size_t got;
    *server = make(server_ctx, 1);
    *client = make(client_ctx, 0);
    for (int i = 0; i < 10; i++) {
        SSL_do_handshake(client->ssl);
        move(client, server);
        SSL_do_handshake(server->ssl);
        move(server, client);
    }
    while (SSL_read_ex(client->ssl, buffer, sizeof buffer, &got) == 1) {}  // session tickets
}

static void drain(End *end, char *to) {
    size_t pending = BIO_ctrl_pending(end->out);
    if (pending > 0) BIO_read(end->out, to, (int)pending);
}

static const char *names[] = {"whole (before)", "sliced 16 KiB", "whole + trim"};

static void small_writes(End *server) {
    for (int check = 0; check < 2; check++) {
        int n = 500000, over = 0;
        double start = now();
        for (int i = 0; i < n; i++) {
            size_t written;
            SSL_write_ex(server->ssl, large, 64, &written);
            drain(server, sink);
            if (check) over += capacity(server->out) > BOUND;
        }
        printf("64 B write + drain, %-22s %8.0f ns\n", check ? "+ capacity check:" : "as before:",
               (now() - start) / n * 1e9);
    }
}

static void large_writes(End *server) {
    for (int way = 0; way < 3; way++) {
        int n = 200;
        double start = now();
        for (int i = 0; i < n; i++) {
            size_t written, offset = 0;
            if (way == 1) {
                char *to = sink;
                while (offset < LARGE) {
                    SSL_write_ex(server->ssl, large + offset, SLICE, &written);
                    size_t pending = BIO_ctrl_pending(server->out);
                    BIO_read(server->out, to, (int)pending);
                    to += pending;
                    offset += SLICE;
                }
            } else {
                SSL_write_ex(server->ssl, large, LARGE, &written);
                drain(server, sink);
                if (way == 2) trim(server->out);
            }
        }
        printf("1 MiB write, %-16s %8.0f µs, output BIO after: %zu bytes\n", names[way], (now() - start) / n * 1e6,
               capacity(server->out));
        BIO_set_mem_buf(server->out, BUF_MEM_new(), BIO_CLOSE);
    }
}

static void large_reads(void) {
    for (int way = 0; way < 3; way++) {
        End server, client;
        connect_pair(&server, &client);
        int n = 100;
        char **records = malloc(n * sizeof *records), buffer[SLICE];
        size_t *lengths = malloc(n * sizeof *lengths), got;
        for (int i = 0; i < n; i++) {
            size_t written;
            SSL_write_ex(server.ssl, large, LARGE, &written);
            lengths[i] = BIO_ctrl_pending(server.out);
            records[i] = malloc(lengths[i]);
            BIO_read(server.out, records[i], (int)lengths[i]);
        }
        double start = now();
        for (int i = 0; i < n; i++) {
            for (size_t offset = 0; offset < lengths[i];) {
                size_t read = lengths[i] - offset < SOCKET_READ ? lengths[i] - offset : SOCKET_READ;
                for (size_t fed = 0; fed < read;) {
                    size_t count = way == 1 && read - fed > SLICE ? SLICE : read - fed;
                    BIO_write(client.in, records[i] + offset + fed, (int)count);
                    while (SSL_read_ex(client.ssl, buffer, sizeof buffer, &got) == 1) {}
                    fed += count;
                }
                if (way == 2) trim(client.in);
                offset += read;
            }
        }
        printf("1 MiB read in 64 KiB socket reads, %-16s %6.0f µs, input BIO after: %zu bytes\n", names[way],
               (now() - start) / n * 1e6, capacity(client.in));
        for (int i = 0; i < n; i++) free(records[i]);
        free(records);
        free(lengths);
        SSL_free(server.ssl);
        SSL_free(client.ssl);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s cert.pem key.pem [rounds]\n", argv[0]);
        return 2;
    }
    sink = malloc(2 * LARGE);
    memset(large, 'a', sizeof large);
    server_ctx = SSL_CTX_new(TLS_server_method());
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_file(server_ctx, argv[1], SSL_FILETYPE_PEM) != 1
        || SSL_CTX_use_PrivateKey_file(server_ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_mode(server_ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_mode(client_ctx, SSL_MODE_RELEASE_BUFFERS);
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    for (int round = 1; round <= rounds; round++) {
        printf("round %d (%s)\n", round, OpenSSL_version(OPENSSL_VERSION));
        End server, client;
        connect_pair(&server, &client);
        small_writes(&server);
        large_writes(&server);
        large_reads();
        SSL_free(server.ssl);
        SSL_free(client.ssl);
    }
    return 0;
}
