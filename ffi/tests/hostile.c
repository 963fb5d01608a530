/*
 * hostile.c: the C ABI under hostile calls. Built and run by
 * ffi/tests/c_programs.rs, and under valgrind by ffi/run-c-example.sh.
 *
 *     cc -I ffi/include ffi/tests/hostile.c -L target/debug -lloyalty -lpthread -o hostile && ./hostile
 *
 * Every pointer argument NULL; freeing NULL; caller-owned buffers the library
 * must neither free nor keep; bad JSON, bad UTF-8, embedded NUL bytes,
 * lengths past PTRDIFF_MAX; a program that fails to load (code and a message
 * naming line and column); out-parameters untouched on failure; the last
 * error message per thread, cut to a small buffer; two threads applying
 * events to different members through one program handle, with results equal
 * to a sequential run; member handles giving what the JSON functions give,
 * unchanged by a refused event, and refused once freed.
 *
 * Prints one line per failed check and "N passed, M failed" at the end;
 * exits 1 if any check failed.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty.h"

static int passed, failed;

#define CHECK(cond, ...)                                            \
    do {                                                            \
        if (cond) {                                                 \
            passed++;                                               \
        } else {                                                    \
            failed++;                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
            fprintf(stderr, __VA_ARGS__);                           \
            fprintf(stderr, "\n");                                  \
        }                                                           \
    } while (0)

/* The last error message on this thread, in a static buffer. */
static const char *last_error(void) {
    static char buf[1024];
    loyalty_last_error_message(buf, sizeof buf);
    return buf;
}

/* Checks a call's code, and that the last error message contains `needle`. */
#define EXPECT(call, want, needle)                                                                        \
    do {                                                                                                  \
        loyalty_result rc_ = (call);                                                                      \
        CHECK(rc_ == (want), "%s: got %s, want %s (%s)", #call, loyalty_result_name(rc_),                 \
              loyalty_result_name(want), last_error());                                                   \
        CHECK(strstr(last_error(), (needle)) != NULL, "%s: message '%s' lacks '%s'", #call, last_error(), \
              (needle));                                                                                  \
    } while (0)

static const char PROGRAM[] =
    "id = \"hostile\"\n"
    "currency = \"EUR\"\n"
    "time_zone = \"Europe/Berlin\"\n"
    "categories = [\"food\", \"drink\"]\n"
    "[[earn]]\n"
    "id = \"base\"\n"
    "name = \"1 point per EUR\"\n"
    "kind = \"per_amount\"\n"
    "points = 1\n"
    "per = \"1\"\n"
    "[[earn]]\n"
    "id = \"late-drinks\"\n"
    "name = \"Double drinks after 15:00\"\n"
    "kind = \"script\"\n"
    "applies_to = [\"base\"]\n"
    "when.categories = [\"drink\"]\n"
    "script.gives = \"multiplier\"\n"
    "script.each = \"line\"\n"
    "script.source = 'if event.hour >= 15 { 2 } else { 1 }'\n"
    "[[burn]]\n"
    "id = \"pay\"\n"
    "name = \"Pay with points\"\n";

static const char ENROLL[] = "{\"id\":\"e0\",\"at\":\"2026-03-01T08:00:00Z\",\"type\":\"enroll\",\"member\":\"m-1\"}";
static const char SALE[] =
    "{\"id\":\"s1\",\"at\":\"2026-03-01T09:00:00Z\",\"type\":\"purchase\",\"lines\":["
    "{\"sku\":\"tea\",\"category\":\"drink\",\"quantity\":\"2\",\"unit_price\":\"3.50\"}]}";
static const char BASKET[] = "{\"lines\":[{\"sku\":\"tea\",\"category\":\"drink\",\"quantity\":\"1\",\"unit_price\":\"4\"}]}";
static const char AT[] = "2026-03-01T10:00:00Z";

static char SENTINEL[] = "untouched";

static size_t len(const char *s) { return strlen(s); }

/* ---- two threads, one handle ---------------------------------------- */

#define EVENTS_PER_MEMBER 40

struct run {
    const loyalty_program *program;
    const char *member_id;
    char *member;      /* final state */
    uint64_t receipts; /* FNV-1a over every receipt, in order */
    loyalty_result rc;
};

static uint64_t fnv(uint64_t h, const char *s) {
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void *run_member(void *arg) {
    struct run *r = arg;
    char event[512];
    char *receipt = NULL;
    r->receipts = 14695981039346656037ULL;
    snprintf(event, sizeof event,
             "{\"id\":\"%s/enroll\",\"at\":\"2026-03-01T00:00:00Z\",\"type\":\"enroll\",\"member\":\"%s\"}",
             r->member_id, r->member_id);
    r->rc = loyalty_program_start(r->program, event, strlen(event), &r->member, &receipt);
    if (r->rc != LOYALTY_OK) {
        return NULL;
    }
    r->receipts = fnv(r->receipts, receipt);
    loyalty_string_free(receipt);
    for (int i = 1; i <= EVENTS_PER_MEMBER; i++) {
        int day = 1 + i / 24, hour = i % 24;
        if (i % 5 == 0) {
            snprintf(event, sizeof event,
                     "{\"id\":\"%s/%d\",\"at\":\"2026-03-%02dT%02d:00:00Z\",\"type\":\"redeem\",\"points\":3}",
                     r->member_id, i, day, hour);
        } else {
            snprintf(event, sizeof event,
                     "{\"id\":\"%s/%d\",\"at\":\"2026-03-%02dT%02d:00:00Z\",\"type\":\"purchase\",\"lines\":["
                     "{\"sku\":\"tea\",\"category\":\"drink\",\"quantity\":\"%d\",\"unit_price\":\"2.25\"},"
                     "{\"sku\":\"bun\",\"category\":\"food\",\"quantity\":\"1\",\"unit_price\":\"3\"}]}",
                     r->member_id, i, day, hour, 1 + i % 3);
        }
        char *next = NULL;
        bool duplicate = true;
        r->rc = loyalty_program_apply(r->program, r->member, strlen(r->member), event, strlen(event), &next,
                                      &receipt, &duplicate);
        if (r->rc != LOYALTY_OK || duplicate) {
            return NULL;
        }
        r->receipts = fnv(r->receipts, receipt);
        loyalty_string_free(receipt);
        loyalty_string_free(r->member);
        r->member = next;
    }
    return NULL;
}

static void two_threads_share_one_handle(const loyalty_program *program) {
    struct run seq[2] = {{program, "m-a", NULL, 0, 0}, {program, "m-b", NULL, 0, 0}};
    struct run par[2] = {{program, "m-a", NULL, 0, 0}, {program, "m-b", NULL, 0, 0}};
    run_member(&seq[0]);
    run_member(&seq[1]);
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        CHECK(pthread_create(&threads[i], NULL, run_member, &par[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
    }
    for (int i = 0; i < 2; i++) {
        CHECK(seq[i].rc == LOYALTY_OK && par[i].rc == LOYALTY_OK, "member %d: %s / %s", i,
              loyalty_result_name(seq[i].rc), loyalty_result_name(par[i].rc));
        CHECK(seq[i].member && par[i].member && strcmp(seq[i].member, par[i].member) == 0,
              "member %d: the state after the threaded run differs from the sequential one", i);
        CHECK(seq[i].receipts == par[i].receipts, "member %d: threaded receipts differ from sequential ones", i);
        loyalty_string_free(seq[i].member);
        loyalty_string_free(par[i].member);
    }
}

/* A failure on another thread leaves this thread's message alone. */
static void *fail_elsewhere(void *arg) {
    (void)arg;
    const loyalty_program *p = NULL;
    loyalty_program_load("x = ", 4, LOYALTY_FORMAT_TOML, &p);
    return NULL;
}

/* Member handles: the same results as the JSON functions, state unchanged
 * on failure, NULLs, a freed handle, a double free and a pointer of another
 * kind refused. `state` is a member state (JSON) of `program`. */
static void member_handles(const loyalty_program *program, const char *state) {
    loyalty_member *handle = (loyalty_member *)SENTINEL;
    EXPECT(loyalty_member_from_json(NULL, 3, &handle), LOYALTY_ERROR_NULL_ARGUMENT, "json is NULL");
    EXPECT(loyalty_member_from_json(state, len(state), NULL), LOYALTY_ERROR_NULL_ARGUMENT, "member_out is NULL");
    EXPECT(loyalty_member_from_json("{\"format\":1", 11, &handle), LOYALTY_ERROR_MEMBER_STATE, "member state");
    CHECK(handle == (loyalty_member *)SENTINEL, "member_out written on failure");
    EXPECT(loyalty_member_from_json(state, len(state), &handle), LOYALTY_OK, "");

    /* The handle's state is the JSON it came from. */
    char *json = SENTINEL;
    EXPECT(loyalty_member_to_json(NULL, &json), LOYALTY_ERROR_NULL_ARGUMENT, "member is NULL");
    EXPECT(loyalty_member_to_json(handle, NULL), LOYALTY_ERROR_NULL_ARGUMENT, "json_out is NULL");
    CHECK(json == SENTINEL, "json_out written on failure");
    EXPECT(loyalty_member_to_json(handle, &json), LOYALTY_OK, "");
    CHECK(strcmp(json, state) == 0, "to_json gives back the state: %s", json);
    loyalty_string_free(json);

    /* An event: the same receipt and state as through JSON. */
    static const char SALE2[] =
        "{\"id\":\"s2\",\"at\":\"2026-03-01T11:00:00Z\",\"type\":\"purchase\",\"lines\":["
        "{\"sku\":\"tea\",\"category\":\"drink\",\"quantity\":\"2\",\"unit_price\":\"4.50\"}]}";
    char *next = NULL, *receipt = NULL, *receipt2 = SENTINEL;
    bool duplicate = true;
    EXPECT(loyalty_program_apply(program, state, len(state), SALE2, len(SALE2), &next, &receipt, &duplicate),
           LOYALTY_OK, "");
    duplicate = true;
    EXPECT(loyalty_program_apply_member(NULL, handle, SALE2, len(SALE2), &receipt2, &duplicate),
           LOYALTY_ERROR_NULL_ARGUMENT, "program is NULL");
    EXPECT(loyalty_program_apply_member(program, NULL, SALE2, len(SALE2), &receipt2, &duplicate),
           LOYALTY_ERROR_NULL_ARGUMENT, "member is NULL");
    EXPECT(loyalty_program_apply_member(program, handle, NULL, 3, &receipt2, &duplicate),
           LOYALTY_ERROR_NULL_ARGUMENT, "event_json is NULL");
    EXPECT(loyalty_program_apply_member(program, handle, SALE2, len(SALE2), NULL, &duplicate),
           LOYALTY_ERROR_NULL_ARGUMENT, "receipt_out is NULL");
    EXPECT(loyalty_program_apply_member(program, handle, SALE2, len(SALE2), &receipt2, NULL),
           LOYALTY_ERROR_NULL_ARGUMENT, "duplicate_out is NULL");
    CHECK(receipt2 == SENTINEL && duplicate, "out-parameters written on failure");
    EXPECT(loyalty_program_apply_member(program, handle, SALE2, len(SALE2), &receipt2, &duplicate), LOYALTY_OK, "");
    CHECK(!duplicate && strcmp(receipt, receipt2) == 0, "receipts differ: %s / %s", receipt, receipt2);
    loyalty_string_free(receipt2);
    EXPECT(loyalty_member_to_json(handle, &json), LOYALTY_OK, "");
    CHECK(strcmp(json, next) == 0, "states differ: %s / %s", json, next);
    loyalty_string_free(json);

    /* A refused event changes nothing; a retry is a duplicate. */
    static const char OVERDRAW2[] = "{\"id\":\"r9\",\"at\":\"2026-03-01T11:05:00Z\",\"type\":\"redeem\",\"points\":999}";
    receipt2 = SENTINEL;
    EXPECT(loyalty_program_apply_member(program, handle, OVERDRAW2, len(OVERDRAW2), &receipt2, &duplicate),
           LOYALTY_ERROR_INSUFFICIENT_POINTS, "999 points requested");
    CHECK(receipt2 == SENTINEL, "receipt_out written on failure");
    EXPECT(loyalty_program_apply_member(program, handle, "{", 1, &receipt2, &duplicate), LOYALTY_ERROR_EVENT_SYNTAX,
           "line 1, column 1");
    EXPECT(loyalty_program_apply_member(program, handle, SALE2, len(SALE2), &receipt2, &duplicate), LOYALTY_OK, "");
    CHECK(duplicate && strcmp(receipt, receipt2) == 0, "a retry gives the original receipt");
    loyalty_string_free(receipt2);
    EXPECT(loyalty_member_to_json(handle, &json), LOYALTY_OK, "");
    CHECK(strcmp(json, next) == 0, "a refused event or a retry changed the state: %s", json);
    loyalty_string_free(json);
    loyalty_string_free(receipt);

    /* A quote: the same as through JSON. */
    char *quote = NULL, *quote2 = SENTINEL;
    EXPECT(loyalty_program_quote(program, next, len(next), BASKET, len(BASKET), AT, len(AT), &quote), LOYALTY_OK, "");
    EXPECT(loyalty_program_quote_member(program, NULL, BASKET, len(BASKET), AT, len(AT), &quote2),
           LOYALTY_ERROR_NULL_ARGUMENT, "member is NULL");
    EXPECT(loyalty_program_quote_member(program, handle, BASKET, len(BASKET), "noon", 4, &quote2),
           LOYALTY_ERROR_INVALID_ARGUMENT, "not an RFC 3339 instant");
    CHECK(quote2 == SENTINEL, "quote_out written on failure");
    EXPECT(loyalty_program_quote_member(program, handle, BASKET, len(BASKET), AT, len(AT), &quote2), LOYALTY_OK, "");
    CHECK(strcmp(quote, quote2) == 0, "quotes differ: %s / %s", quote, quote2);
    loyalty_string_free(quote);
    loyalty_string_free(quote2);
    loyalty_string_free(next);

    /* Starting into a handle: the same member as loyalty_program_start. */
    static const char ENROLL2[] = "{\"id\":\"e2\",\"at\":\"2026-03-01T08:00:00Z\",\"type\":\"enroll\",\"member\":\"m-2\"}";
    loyalty_member *started = (loyalty_member *)SENTINEL;
    char *m2 = NULL, *r2 = NULL;
    receipt = SENTINEL;
    EXPECT(loyalty_program_start_member(program, SALE2, len(SALE2), &started, &receipt), LOYALTY_ERROR_ENROLLMENT,
           "starts with an enroll event");
    EXPECT(loyalty_program_start_member(program, ENROLL2, len(ENROLL2), NULL, &receipt), LOYALTY_ERROR_NULL_ARGUMENT,
           "member_out is NULL");
    CHECK(started == (loyalty_member *)SENTINEL && receipt == SENTINEL, "out-parameters written on failure");
    EXPECT(loyalty_program_start(program, ENROLL2, len(ENROLL2), &m2, &r2), LOYALTY_OK, "");
    EXPECT(loyalty_program_start_member(program, ENROLL2, len(ENROLL2), &started, &receipt), LOYALTY_OK, "");
    EXPECT(loyalty_member_to_json(started, &json), LOYALTY_OK, "");
    CHECK(strcmp(json, m2) == 0 && strcmp(receipt, r2) == 0, "start_member differs from start: %s", json);
    loyalty_string_free(json);
    loyalty_string_free(receipt);
    loyalty_string_free(m2);
    loyalty_string_free(r2);

    /* Freeing: NULL is a no-op; a double free, a call on a freed handle and
     * a pointer of another kind are refused, never dereferenced as a member. */
    loyalty_member_free(NULL);
    passed += 1;
    loyalty_member_free(started);
    loyalty_member_free(started);
    CHECK(strstr(last_error(), "freed already") != NULL, "double free of a member handle: '%s'", last_error());
    json = SENTINEL;
    EXPECT(loyalty_member_to_json(started, &json), LOYALTY_ERROR_INVALID_ARGUMENT, "not a live handle");
    EXPECT(loyalty_member_to_json((const loyalty_member *)program, &json), LOYALTY_ERROR_INVALID_ARGUMENT,
           "not a live handle");
    CHECK(json == SENTINEL, "json_out written on failure");
    loyalty_member_free((loyalty_member *)program);
    CHECK(strstr(last_error(), "not a live member handle") != NULL, "a program freed as a member: '%s'",
          last_error());
    loyalty_member_free(handle);
}

int main(void) {
    const char *version = loyalty_version();
    CHECK(version != NULL && strcmp(version, "0.1.0") == 0, "loyalty_version: %s", version ? version : "NULL");
    CHECK(strcmp(loyalty_result_name(LOYALTY_ERROR_NULL_ARGUMENT), "LOYALTY_ERROR_NULL_ARGUMENT") == 0, "name");
    CHECK(strcmp(loyalty_result_name(9999), "LOYALTY_ERROR_UNKNOWN") == 0, "unknown code name");

    /* ---- loading ---- */
    const loyalty_program *program = (const loyalty_program *)SENTINEL;
    EXPECT(loyalty_program_load(NULL, 10, LOYALTY_FORMAT_TOML, &program), LOYALTY_ERROR_NULL_ARGUMENT, "text is NULL");
    EXPECT(loyalty_program_load(PROGRAM, len(PROGRAM), LOYALTY_FORMAT_TOML, NULL), LOYALTY_ERROR_NULL_ARGUMENT,
           "program_out is NULL");
    EXPECT(loyalty_program_load(PROGRAM, len(PROGRAM), 7, &program), LOYALTY_ERROR_INVALID_ARGUMENT, "format: 7");
    EXPECT(loyalty_program_load(PROGRAM, SIZE_MAX, LOYALTY_FORMAT_TOML, &program), LOYALTY_ERROR_INVALID_ARGUMENT,
           "PTRDIFF_MAX");
    static const char BAD_TOML[] = "id = \"p\"\ncurrency = \"EUR\"\ntime_zone = = \"UTC\"\n";
    EXPECT(loyalty_program_load(BAD_TOML, len(BAD_TOML), LOYALTY_FORMAT_AUTO, &program), LOYALTY_ERROR_PROGRAM_SYNTAX,
           "line 3, column ");
    static const char BAD_JSON[] = "{\"id\": \"p\",\n  \"currency\": 5}";
    EXPECT(loyalty_program_load(BAD_JSON, len(BAD_JSON), LOYALTY_FORMAT_AUTO, &program), LOYALTY_ERROR_PROGRAM_SYNTAX,
           "line 2, column ");
    static const char BAD_ZONE[] = "{\"id\":\"p\",\"currency\":\"EUR\",\"time_zone\":\"Mars/Olympus\"}";
    EXPECT(loyalty_program_load(BAD_ZONE, len(BAD_ZONE), LOYALTY_FORMAT_JSON, &program), LOYALTY_ERROR_PROGRAM_INVALID,
           "time_zone");
    static const char BAD_SCRIPT[] =
        "id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"UTC\"\ncategories = [\"x\"]\n"
        "[[earn]]\nid = \"s\"\nkind = \"script\"\nscript.gives = \"points\"\nscript.each = \"basket\"\nscript.source = 'let = 1'\n";
    EXPECT(loyalty_program_load(BAD_SCRIPT, len(BAD_SCRIPT), LOYALTY_FORMAT_TOML, &program),
           LOYALTY_ERROR_SCRIPT_SYNTAX, "script line 1, column");
    static const char BAD_UTF8[] = "id = \"p\xff\"\n";
    EXPECT(loyalty_program_load(BAD_UTF8, len(BAD_UTF8), LOYALTY_FORMAT_TOML, &program), LOYALTY_ERROR_INVALID_UTF8,
           "not valid UTF-8");
    static const char WITH_NUL[] = "id = \"p\"\0currency = \"EUR\"";
    EXPECT(loyalty_program_load(WITH_NUL, sizeof WITH_NUL - 1, LOYALTY_FORMAT_TOML, &program),
           LOYALTY_ERROR_EMBEDDED_NUL, "NUL byte at byte offset 8");
    CHECK(program == (const loyalty_program *)SENTINEL, "program_out written on failure");

    /* A caller-owned heap copy of the text: the library reads it and never frees or keeps it. */
    char *text = malloc(sizeof PROGRAM);
    memcpy(text, PROGRAM, sizeof PROGRAM);
    EXPECT(loyalty_program_load(text, len(text), LOYALTY_FORMAT_AUTO, &program), LOYALTY_OK, "");
    CHECK(loyalty_last_error_message(NULL, 0) == 0, "a success clears the last error");
    memset(text, 'x', sizeof PROGRAM - 1); /* the handle must not depend on the caller's text */
    free(text);

    /* ---- the last error message ---- */
    loyalty_program_load(NULL, 0, 0, NULL);
    size_t full = loyalty_last_error_message(NULL, 0);
    CHECK(full == strlen("text is NULL"), "length only: %zu", full);
    char small[5] = {'#', '#', '#', '#', '#'};
    CHECK(loyalty_last_error_message(small, sizeof small) == full, "cut message returns the full length");
    CHECK(strcmp(small, "text") == 0, "cut message: '%s'", small);
    CHECK(loyalty_last_error_message(small, 0) == full && small[0] == 't', "buf_len 0 writes nothing");
    pthread_t other;
    pthread_create(&other, NULL, fail_elsewhere, NULL);
    pthread_join(other, NULL);
    CHECK(strcmp(last_error(), "text is NULL") == 0, "another thread's failure changed this one's message: %s",
          last_error());

    /* ---- start ---- */
    char *member = SENTINEL, *receipt = SENTINEL;
    EXPECT(loyalty_program_start(NULL, ENROLL, len(ENROLL), &member, &receipt), LOYALTY_ERROR_NULL_ARGUMENT,
           "program is NULL");
    EXPECT(loyalty_program_start(program, NULL, 3, &member, &receipt), LOYALTY_ERROR_NULL_ARGUMENT,
           "event_json is NULL");
    EXPECT(loyalty_program_start(program, ENROLL, len(ENROLL), NULL, &receipt), LOYALTY_ERROR_NULL_ARGUMENT,
           "member_out is NULL");
    EXPECT(loyalty_program_start(program, ENROLL, len(ENROLL), &member, NULL), LOYALTY_ERROR_NULL_ARGUMENT,
           "receipt_out is NULL");
    EXPECT(loyalty_program_start(program, "{", 1, &member, &receipt), LOYALTY_ERROR_EVENT_SYNTAX, "line 1, column 1");
    EXPECT(loyalty_program_start(program, SALE, len(SALE), &member, &receipt), LOYALTY_ERROR_ENROLLMENT,
           "starts with an enroll event");
    EXPECT(loyalty_program_start(program, ENROLL, len(ENROLL) + 1, &member, &receipt), LOYALTY_ERROR_EMBEDDED_NUL,
           "NUL byte");
    CHECK(member == SENTINEL && receipt == SENTINEL, "out-parameters written on failure");
    EXPECT(loyalty_program_start(program, ENROLL, len(ENROLL), &member, &receipt), LOYALTY_OK, "");
    CHECK(strstr(receipt, "\"type\":\"enroll\"") != NULL, "enroll receipt: %s", receipt);
    loyalty_string_free(receipt);

    /* ---- apply ---- */
    char *next = SENTINEL;
    receipt = SENTINEL;
    bool duplicate = true;
    const size_t ml = len(member), sl = len(SALE);
    EXPECT(loyalty_program_apply(NULL, member, ml, SALE, sl, &next, &receipt, &duplicate), LOYALTY_ERROR_NULL_ARGUMENT,
           "program is NULL");
    EXPECT(loyalty_program_apply(program, NULL, ml, SALE, sl, &next, &receipt, &duplicate),
           LOYALTY_ERROR_NULL_ARGUMENT, "member_json is NULL");
    EXPECT(loyalty_program_apply(program, member, ml, NULL, sl, &next, &receipt, &duplicate),
           LOYALTY_ERROR_NULL_ARGUMENT, "event_json is NULL");
    EXPECT(loyalty_program_apply(program, member, ml, SALE, sl, NULL, &receipt, &duplicate),
           LOYALTY_ERROR_NULL_ARGUMENT, "member_out is NULL");
    EXPECT(loyalty_program_apply(program, member, ml, SALE, sl, &next, NULL, &duplicate), LOYALTY_ERROR_NULL_ARGUMENT,
           "receipt_out is NULL");
    EXPECT(loyalty_program_apply(program, member, ml, SALE, sl, &next, &receipt, NULL), LOYALTY_ERROR_NULL_ARGUMENT,
           "duplicate_out is NULL");
    EXPECT(loyalty_program_apply(program, "{\"format\":1", 11, SALE, sl, &next, &receipt, &duplicate),
           LOYALTY_ERROR_MEMBER_STATE, "member state");
    EXPECT(loyalty_program_apply(program, "[]", 2, SALE, sl, &next, &receipt, &duplicate), LOYALTY_ERROR_MEMBER_STATE,
           "member state");
    static const char BAD_EVENT[] = "{\"id\":\"s2\",\"at\":\"2026-03-01T09:00:00Z\",\n\"type\":\"purchase\",\"lines\":[{]}";
    EXPECT(loyalty_program_apply(program, member, ml, BAD_EVENT, len(BAD_EVENT), &next, &receipt, &duplicate),
           LOYALTY_ERROR_EVENT_SYNTAX, "line 2, column ");
    static const char BAD_QTY[] =
        "{\"id\":\"s2\",\"at\":\"2026-03-01T09:00:00Z\",\"type\":\"purchase\",\"lines\":["
        "{\"sku\":\"tea\",\"category\":\"drink\",\"quantity\":\"1e3\",\"unit_price\":\"3\"}]}";
    EXPECT(loyalty_program_apply(program, member, ml, BAD_QTY, len(BAD_QTY), &next, &receipt, &duplicate),
           LOYALTY_ERROR_EVENT_SYNTAX, "lines[0].quantity");
    static const char BAD_UTF8_EVENT[] = "{\"id\":\"s\xc3\x28\"}";
    EXPECT(loyalty_program_apply(program, member, ml, BAD_UTF8_EVENT, len(BAD_UTF8_EVENT), &next, &receipt,
                                 &duplicate),
           LOYALTY_ERROR_INVALID_UTF8, "event_json: not valid UTF-8");
    EXPECT(loyalty_program_apply(program, member, ml + 1, SALE, sl, &next, &receipt, &duplicate),
           LOYALTY_ERROR_EMBEDDED_NUL, "member_json: a NUL byte");
    static const char ENROLL_AGAIN[] =
        "{\"id\":\"e9\",\"at\":\"2026-03-01T09:00:00Z\",\"type\":\"enroll\",\"member\":\"m-1\"}";
    EXPECT(loyalty_program_apply(program, member, ml, ENROLL_AGAIN, len(ENROLL_AGAIN), &next, &receipt, &duplicate),
           LOYALTY_ERROR_ENROLLMENT, "already enrolled");
    static const char OVERDRAW[] = "{\"id\":\"r1\",\"at\":\"2026-03-01T09:05:00Z\",\"type\":\"redeem\",\"points\":5}";
    EXPECT(loyalty_program_apply(program, member, ml, OVERDRAW, len(OVERDRAW), &next, &receipt, &duplicate),
           LOYALTY_ERROR_INSUFFICIENT_POINTS, "5 points requested, 0 available");
    CHECK(next == SENTINEL && receipt == SENTINEL && duplicate, "out-parameters written on failure");

    /* A caller-owned, non-terminated heap copy of the event: read within its length only. */
    char *sale = malloc(sl);
    memcpy(sale, SALE, sl);
    EXPECT(loyalty_program_apply(program, member, ml, sale, sl, &next, &receipt, &duplicate), LOYALTY_OK, "");
    CHECK(!duplicate && strstr(receipt, "1 point per EUR: +7") != NULL, "sale receipt: %s", receipt);
    free(sale);
    loyalty_string_free(receipt);
    loyalty_string_free(member);
    member = next;

    /* The same event again: a retry. */
    EXPECT(loyalty_program_apply(program, member, len(member), SALE, sl, &next, &receipt, &duplicate), LOYALTY_OK, "");
    CHECK(duplicate && strcmp(next, member) == 0, "a retry is a duplicate and changes nothing");
    loyalty_string_free(receipt);
    loyalty_string_free(next);
    static const char REUSED[] =
        "{\"id\":\"s1\",\"at\":\"2026-03-01T09:00:00Z\",\"type\":\"purchase\",\"lines\":["
        "{\"sku\":\"tea\",\"category\":\"drink\",\"quantity\":\"3\",\"unit_price\":\"3.50\"}]}";
    EXPECT(loyalty_program_apply(program, member, len(member), REUSED, len(REUSED), &next, &receipt, &duplicate),
           LOYALTY_ERROR_ID_REUSED_WITH_DIFFERENT_PAYLOAD, "'s1'");

    /* A member of another program. */
    static const char OTHER[] = "{\"id\":\"other\",\"currency\":\"EUR\",\"time_zone\":\"UTC\"}";
    const loyalty_program *other_program = NULL;
    EXPECT(loyalty_program_load(OTHER, len(OTHER), LOYALTY_FORMAT_AUTO, &other_program), LOYALTY_OK, "");
    static const char ADVANCE[] = "{\"id\":\"a1\",\"at\":\"2026-03-02T00:00:00Z\",\"type\":\"advance\"}";
    EXPECT(loyalty_program_apply(other_program, member, len(member), ADVANCE, len(ADVANCE), &next, &receipt,
                                 &duplicate),
           LOYALTY_ERROR_WRONG_PROGRAM, "belongs to program 'hostile'");
    loyalty_program_free(other_program);

    /* ---- quote ---- */
    char *quote = SENTINEL;
    const size_t bl = len(BASKET), al = len(AT);
    EXPECT(loyalty_program_quote(NULL, member, len(member), BASKET, bl, AT, al, &quote), LOYALTY_ERROR_NULL_ARGUMENT,
           "program is NULL");
    EXPECT(loyalty_program_quote(program, NULL, len(member), BASKET, bl, AT, al, &quote), LOYALTY_ERROR_NULL_ARGUMENT,
           "member_json is NULL");
    EXPECT(loyalty_program_quote(program, member, len(member), NULL, bl, AT, al, &quote), LOYALTY_ERROR_NULL_ARGUMENT,
           "basket_json is NULL");
    EXPECT(loyalty_program_quote(program, member, len(member), BASKET, bl, NULL, al, &quote),
           LOYALTY_ERROR_NULL_ARGUMENT, "at is NULL");
    EXPECT(loyalty_program_quote(program, member, len(member), BASKET, bl, AT, al, NULL), LOYALTY_ERROR_NULL_ARGUMENT,
           "quote_out is NULL");
    EXPECT(loyalty_program_quote(program, member, len(member), "{\"lines\": 5}", 12, AT, al, &quote),
           LOYALTY_ERROR_EVENT_SYNTAX, "basket: line 1, column ");
    EXPECT(loyalty_program_quote(program, member, len(member), BASKET, bl, "yesterday", 9, &quote),
           LOYALTY_ERROR_INVALID_ARGUMENT, "not an RFC 3339 instant");
    EXPECT(loyalty_program_quote(program, member, len(member), BASKET, bl, "2026-03-01T10:00:00Z\0", al + 1, &quote),
           LOYALTY_ERROR_EMBEDDED_NUL, "at: a NUL byte");
    CHECK(quote == SENTINEL, "quote_out written on failure");
    EXPECT(loyalty_program_quote(program, member, len(member), BASKET, bl, AT, al, &quote), LOYALTY_OK, "");
    CHECK(strncmp(quote, "{\"points\":4,", 12) == 0, "quote: %s", quote);
    loyalty_string_free(quote);

    /* ---- lint ---- */
    char *warnings = SENTINEL;
    EXPECT(loyalty_program_lint(NULL, &warnings), LOYALTY_ERROR_NULL_ARGUMENT, "program is NULL");
    EXPECT(loyalty_program_lint(program, NULL), LOYALTY_ERROR_NULL_ARGUMENT, "warnings_out is NULL");
    CHECK(warnings == SENTINEL, "warnings_out written on failure");
    EXPECT(loyalty_program_lint(program, &warnings), LOYALTY_OK, "");
    CHECK(warnings[0] == '[', "lint: %s", warnings);
    loyalty_string_free(warnings);
    static const char LOOK_ALIKE[] =
        "id = \"p\"\ncurrency = \"EUR\"\ntime_zone = \"UTC\"\ncategories = [\"coffee\", \"Coffee\"]\n";
    const loyalty_program *linted = NULL;
    EXPECT(loyalty_program_load(LOOK_ALIKE, len(LOOK_ALIKE), LOYALTY_FORMAT_TOML, &linted), LOYALTY_OK, "");
    EXPECT(loyalty_program_lint(linted, &warnings), LOYALTY_OK, "");
    CHECK(strstr(warnings, "\"code\":\"look-alike-names\"") != NULL, "lint: %s", warnings);
    loyalty_string_free(warnings);
    loyalty_program_free(linted);

    /* ---- member handles ---- */
    member_handles(program, member);

    /* ---- freeing ---- */
    loyalty_string_free(NULL); /* a no-op */
    loyalty_program_free(NULL); /* a no-op */
    passed += 2;
    /* A string freed twice: the library keeps the pointers it handed out, so
     * the second free is refused (nothing freed, a message) instead of
     * corrupting the heap; valgrind sees no invalid free. */
    {
        char *twice = NULL, *r = NULL;
        const loyalty_program *p2 = NULL;
        EXPECT(loyalty_program_load(PROGRAM, len(PROGRAM), LOYALTY_FORMAT_TOML, &p2), LOYALTY_OK, "");
        EXPECT(loyalty_program_start(p2, ENROLL, len(ENROLL), &twice, &r), LOYALTY_OK, "");
        loyalty_string_free(r);
        loyalty_string_free(twice);
        loyalty_string_free(twice); /* the double free */
        CHECK(strstr(last_error(), "freed already") != NULL, "double free of a string: '%s'", last_error());
        /* A pointer the library never returned: refused the same way. */
        char mine[] = "not the library's";
        loyalty_string_free(mine);
        CHECK(strstr(last_error(), "not a string this library returned") != NULL, "foreign string: '%s'",
              last_error());
        /* A program handle freed twice, and a call on a freed handle. */
        loyalty_program_free(p2);
        loyalty_program_free(p2);
        CHECK(strstr(last_error(), "freed already") != NULL, "double free of a handle: '%s'", last_error());
        char *m2 = NULL, *r2 = NULL;
        EXPECT(loyalty_program_start(p2, ENROLL, len(ENROLL), &m2, &r2), LOYALTY_ERROR_INVALID_ARGUMENT,
               "not a live handle");
        CHECK(m2 == NULL && r2 == NULL, "outputs untouched on a freed handle");
    }

    two_threads_share_one_handle(program);

    loyalty_string_free(member);
    loyalty_program_free(program);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
