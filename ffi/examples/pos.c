/*
 * pos.c: a POS till driving the loyalty engine through its C ABI.
 *
 * Loads the Corner Coffee program from the file named on the command line,
 * enrolls a member, rings up a sale, a retry of it (a duplicate: the same
 * receipt back), a partial return, and a points payment with hold and
 * capture for a second order. Prints, one JSON document per line: every
 * receipt in order, then a quote for a next basket, then the program's lint
 * warnings, then the member state the till would store.
 *
 *     cc pos.c -I ffi/include -L target/debug -lloyalty -o pos
 *     ./pos examples/programs/corner_coffee.toml
 *
 * Exits 0 on success, 1 (with the library's message on stderr) on any error.
 * Everything the library returns is freed: valgrind finds no leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty.h"

/* The events of the session, in order. ffi/tests/c_example.rs runs the same
 * events through the Rust API and compares the output. */
static const char *const EVENTS[] = {
    "{\"id\":\"pos-1/enroll-m42\",\"at\":\"2026-12-01T08:00:00Z\",\"type\":\"enroll\",\"member\":\"m-42\"}",
    "{\"id\":\"pos-1/1001\",\"at\":\"2026-12-01T09:30:00Z\",\"type\":\"purchase\",\"lines\":["
    "{\"sku\":\"latte\",\"category\":\"coffee\",\"quantity\":\"4\",\"unit_price\":\"245.00\"},"
    "{\"sku\":\"croissant\",\"category\":\"food\",\"quantity\":\"2\",\"unit_price\":\"180.00\"},"
    "{\"sku\":\"wine\",\"category\":\"alcohol\",\"quantity\":\"1\",\"unit_price\":\"900.00\"}]}",
    /* The till lost the answer and sends the sale again. */
    "{\"id\":\"pos-1/1001\",\"at\":\"2026-12-01T09:30:00Z\",\"type\":\"purchase\",\"lines\":["
    "{\"sku\":\"latte\",\"category\":\"coffee\",\"quantity\":\"4\",\"unit_price\":\"245.00\"},"
    "{\"sku\":\"croissant\",\"category\":\"food\",\"quantity\":\"2\",\"unit_price\":\"180.00\"},"
    "{\"sku\":\"wine\",\"category\":\"alcohol\",\"quantity\":\"1\",\"unit_price\":\"900.00\"}]}",
    /* One latte of four comes back the next day. */
    "{\"id\":\"pos-1/1002\",\"at\":\"2026-12-02T12:00:00Z\",\"type\":\"return\",\"purchase\":\"pos-1/1001\","
    "\"lines\":[{\"line\":0,\"quantity\":\"1\"}]}",
    /* A points payment for order 7: hold at the till, capture when paid. */
    "{\"id\":\"pos-1/1003\",\"at\":\"2026-12-03T10:00:00Z\",\"type\":\"hold\",\"points\":50,\"order\":\"pos-1/order-7\"}",
    "{\"id\":\"pos-1/1004\",\"at\":\"2026-12-03T10:01:00Z\",\"type\":\"capture\",\"hold\":\"pos-1/1003\"}",
    "{\"id\":\"pos-1/1005\",\"at\":\"2026-12-03T10:02:00Z\",\"type\":\"purchase\",\"order\":\"pos-1/order-7\",\"lines\":["
    "{\"sku\":\"breakfast\",\"category\":\"food\",\"quantity\":\"1\",\"unit_price\":\"450.00\"}]}",
};

static const char BASKET[] =
    "{\"lines\":[{\"sku\":\"latte\",\"category\":\"coffee\",\"quantity\":\"2\",\"unit_price\":\"245.00\"}]}";
static const char QUOTE_AT[] = "2026-12-08T16:00:00+03:00";

/* Prints the failure of `what` with the library's message, and exits. */
static void fail(const char *what, loyalty_result rc) {
    char message[512];
    size_t len = loyalty_last_error_message(message, sizeof message);
    fprintf(stderr, "pos: %s: %s: %s%s\n", what, loyalty_result_name(rc), message,
            len >= sizeof message ? "..." : "");
    exit(1);
}

/* Reads a whole file into a new buffer; its length into *len. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *grown = realloc(buf, cap);
            if (grown == NULL) {
                free(buf);
            }
            buf = grown;
        }
    }
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "pos: out of memory\n");
        exit(1);
    }
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PROGRAM.toml\n", argv[0]);
        return 2;
    }
    fprintf(stderr, "pos: libloyalty %s\n", loyalty_version());

    size_t text_len;
    char *text = read_file(argv[1], &text_len);
    const loyalty_program *program = NULL;
    loyalty_result rc = loyalty_program_load(text, text_len, LOYALTY_FORMAT_AUTO, &program);
    free(text);
    if (rc != LOYALTY_OK) {
        fail("loading the program", rc);
    }

    /* The member state the till keeps between events (its database row). */
    char *member = NULL;
    char *receipt = NULL;
    rc = loyalty_program_start(program, EVENTS[0], strlen(EVENTS[0]), &member, &receipt);
    if (rc != LOYALTY_OK) {
        fail("enrolling", rc);
    }
    printf("%s\n", receipt);
    loyalty_string_free(receipt);

    for (size_t i = 1; i < sizeof EVENTS / sizeof EVENTS[0]; i++) {
        char *next = NULL;
        bool duplicate = false;
        rc = loyalty_program_apply(program, member, strlen(member), EVENTS[i], strlen(EVENTS[i]), &next, &receipt,
                                   &duplicate);
        if (rc != LOYALTY_OK) {
            fail("applying an event", rc);
        }
        if (duplicate) {
            fprintf(stderr, "pos: event %zu was a retry: the original receipt\n", i);
        }
        printf("%s\n", receipt);
        loyalty_string_free(receipt);
        loyalty_string_free(member);
        member = next;
    }

    char *quote = NULL;
    rc = loyalty_program_quote(program, member, strlen(member), BASKET, strlen(BASKET), QUOTE_AT, strlen(QUOTE_AT),
                               &quote);
    if (rc != LOYALTY_OK) {
        fail("quoting", rc);
    }
    printf("%s\n", quote);
    loyalty_string_free(quote);

    char *warnings = NULL;
    rc = loyalty_program_lint(program, &warnings);
    if (rc != LOYALTY_OK) {
        fail("linting", rc);
    }
    printf("%s\n", warnings);
    loyalty_string_free(warnings);

    printf("%s\n", member);
    loyalty_string_free(member);
    loyalty_program_free(program);
    return 0;
}
