/*
 * quidditch_udf.h - write Quidditch UDFs in C (core module ABI v1, docs/udf-abi.md).
 *
 * Build (Debian's clang + wasi-libc; no --sysroot needed):
 *
 *   clang --target=wasm32-wasi -O2 -nostartfiles -Wl,--no-entry \
 *         -Wl,--export=filter -I sdk/c -o my_udf.wasm my_udf.c
 *
 * A UDF exports `filter` and/or `score`:
 *
 *   #include "quidditch_udf.h"
 *
 *   QUIDDITCH_EXPORT("filter") int32_t filter(int64_t ctx) {
 *       double price;
 *       double max = qd_param_f64_or("max_price", 100.0);
 *       return qd_field_f64(ctx, "price", &price) == QD_OK && price < max;
 *   }
 *
 * Every getter returns QD_OK, QD_NOT_FOUND, QD_TYPE_MISMATCH or QD_BUFFER_TOO_SMALL (the
 * required length is then in *len). Field names are paths: "user.name", "tags[0]".
 * Strings are UTF-8 and are NOT NUL-terminated by the host; the qd_*_str helpers below
 * terminate them for you.
 */
#ifndef QUIDDITCH_UDF_H
#define QUIDDITCH_UDF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QD_OK 0
#define QD_NOT_FOUND 1
#define QD_TYPE_MISMATCH 2
#define QD_BUFFER_TOO_SMALL 3

#define QD_LOG_DEBUG 0
#define QD_LOG_INFO 1
#define QD_LOG_WARN 2
#define QD_LOG_ERROR 3

/* Marks a function as one of the module's exports (also pass -Wl,--export=NAME). */
#define QUIDDITCH_EXPORT(name) __attribute__((export_name(name)))

#define QD_IMPORT(name) __attribute__((import_module("env"), import_name(name)))

/* ---- raw imports (module "env") ---- */

QD_IMPORT("get_param_string") int32_t qd_get_param_string(const char *name, int32_t name_len, char *value, int32_t *value_len);
QD_IMPORT("get_param_i64") int32_t qd_get_param_i64(const char *name, int32_t name_len, int64_t *out);
QD_IMPORT("get_param_f64") int32_t qd_get_param_f64(const char *name, int32_t name_len, double *out);
QD_IMPORT("get_param_bool") int32_t qd_get_param_bool(const char *name, int32_t name_len, int32_t *out);
QD_IMPORT("get_field_string") int32_t qd_get_field_string(int64_t ctx, const char *name, int32_t name_len, char *value, int32_t *value_len);
QD_IMPORT("get_field_i64") int32_t qd_get_field_i64(int64_t ctx, const char *name, int32_t name_len, int64_t *out);
QD_IMPORT("get_field_f64") int32_t qd_get_field_f64(int64_t ctx, const char *name, int32_t name_len, double *out);
QD_IMPORT("get_field_bool") int32_t qd_get_field_bool(int64_t ctx, const char *name, int32_t name_len, int32_t *out);
QD_IMPORT("has_field") int32_t qd_has_field(int64_t ctx, const char *name, int32_t name_len);
QD_IMPORT("get_document_id") int32_t qd_get_document_id(int64_t ctx, char *value, int32_t *value_len);
QD_IMPORT("get_score") double qd_get_score(int64_t ctx);
QD_IMPORT("log") void qd_log_raw(int32_t level, const char *msg, int32_t len);
QD_IMPORT("get_field_i64_batch") int32_t qd_get_field_i64_batch(const int64_t *ctxs, int32_t n, const char *name, int32_t name_len, int64_t *out, uint8_t *status);
QD_IMPORT("get_field_f64_batch") int32_t qd_get_field_f64_batch(const int64_t *ctxs, int32_t n, const char *name, int32_t name_len, double *out, uint8_t *status);

/* ---- helpers taking NUL-terminated names ---- */

static inline int32_t qd_field_f64(int64_t ctx, const char *name, double *out) {
    return qd_get_field_f64(ctx, name, (int32_t)strlen(name), out);
}
static inline int32_t qd_field_i64(int64_t ctx, const char *name, int64_t *out) {
    return qd_get_field_i64(ctx, name, (int32_t)strlen(name), out);
}
static inline int32_t qd_field_bool(int64_t ctx, const char *name, int32_t *out) {
    return qd_get_field_bool(ctx, name, (int32_t)strlen(name), out);
}
static inline int qd_has(int64_t ctx, const char *name) {
    return qd_has_field(ctx, name, (int32_t)strlen(name)) == 1;
}
static inline double qd_score(int64_t ctx) {
    return qd_get_score(ctx);
}

/* Copies a string field into buf (capacity cap, including the NUL) and terminates it.
 * QD_BUFFER_TOO_SMALL leaves buf empty; *needed (if not NULL) gets the length without NUL. */
static inline int32_t qd_field_str(int64_t ctx, const char *name, char *buf, int32_t cap, int32_t *needed) {
    if (cap <= 0) return QD_BUFFER_TOO_SMALL;
    int32_t len = cap - 1;
    int32_t rc = qd_get_field_string(ctx, name, (int32_t)strlen(name), buf, &len);
    if (needed) *needed = len;
    buf[rc == QD_OK ? len : 0] = '\0';
    return rc;
}

static inline int32_t qd_param_f64(const char *name, double *out) {
    return qd_get_param_f64(name, (int32_t)strlen(name), out);
}
static inline int32_t qd_param_i64(const char *name, int64_t *out) {
    return qd_get_param_i64(name, (int32_t)strlen(name), out);
}
static inline int32_t qd_param_bool(const char *name, int32_t *out) {
    return qd_get_param_bool(name, (int32_t)strlen(name), out);
}
/* Same contract as qd_field_str, for a parameter. */
static inline int32_t qd_param_str(const char *name, char *buf, int32_t cap, int32_t *needed) {
    if (cap <= 0) return QD_BUFFER_TOO_SMALL;
    int32_t len = cap - 1;
    int32_t rc = qd_get_param_string(name, (int32_t)strlen(name), buf, &len);
    if (needed) *needed = len;
    buf[rc == QD_OK ? len : 0] = '\0';
    return rc;
}

/* The parameter, or `fallback` when it is absent or not a number. */
static inline double qd_param_f64_or(const char *name, double fallback) {
    double v;
    return qd_param_f64(name, &v) == QD_OK ? v : fallback;
}
static inline int64_t qd_param_i64_or(const char *name, int64_t fallback) {
    int64_t v;
    return qd_param_i64(name, &v) == QD_OK ? v : fallback;
}
/* Copies the string parameter or `fallback` into buf (NUL-terminated, truncated to fit). */
static inline void qd_param_str_or(const char *name, const char *fallback, char *buf, int32_t cap) {
    if (cap <= 0) return;
    if (qd_param_str(name, buf, cap, 0) != QD_OK) {
        strncpy(buf, fallback, (size_t)cap - 1);
        buf[cap - 1] = '\0';
    }
}

static inline void qd_log(int32_t level, const char *msg) {
    qd_log_raw(level, msg, (int32_t)strlen(msg));
}

/* ---- the batched ABI ----
 *
 * The host prefers `filter_batch` / `score_batch` when a module exports them together with
 * `udf_buffer`: one call per block of documents instead of one per document, and one
 * `qd_get_field_*_batch` call per field for the whole block. Put QD_DEFINE_UDF_BUFFER() in
 * exactly one .c file, then:
 *
 *   QUIDDITCH_EXPORT("filter_batch")
 *   int32_t filter_batch(int32_t ctxs_ptr, int32_t n, int32_t out_ptr) {
 *       const int64_t *ctxs = QD_CTXS(ctxs_ptr);
 *       int32_t *keep = QD_FILTER_OUT(out_ptr);
 *       for (int32_t i = 0; i < n; i++) keep[i] = filter(ctxs[i]);
 *       return 0;
 *   }
 *
 * Return 0 on success; anything else fails the query with an error naming the UDF.
 */

/* Defines the `udf_buffer` export: a heap region the host writes ctxs and reads results in,
 * grown on demand (wasi-libc's malloc needs no imports). Returns 0 if memory runs out. */
#define QD_DEFINE_UDF_BUFFER()                                                      \
    static void *qd__udf_buffer;                                                    \
    static int32_t qd__udf_buffer_size;                                             \
    QUIDDITCH_EXPORT("udf_buffer") int32_t udf_buffer(int32_t size) {               \
        if (size < 0) return 0;                                                     \
        if (size > qd__udf_buffer_size) {                                           \
            void *grown = realloc(qd__udf_buffer, (size_t)size);                    \
            if (!grown) return 0;                                                   \
            qd__udf_buffer = grown;                                                 \
            qd__udf_buffer_size = size;                                             \
        }                                                                           \
        return (int32_t)(uintptr_t)qd__udf_buffer;                                  \
    }

/* The ctx array and the result arrays of a batched call (pointers are linear-memory offsets). */
#define QD_CTXS(ptr) ((const int64_t *)(uintptr_t)(ptr))
#define QD_FILTER_OUT(ptr) ((int32_t *)(uintptr_t)(ptr))
#define QD_SCORE_OUT(ptr) ((double *)(uintptr_t)(ptr))

/* One numeric field for n documents; status[i] is QD_OK, QD_NOT_FOUND or QD_TYPE_MISMATCH. */
static inline int32_t qd_field_f64_batch(const int64_t *ctxs, int32_t n, const char *name, double *out, uint8_t *status) {
    return qd_get_field_f64_batch(ctxs, n, name, (int32_t)strlen(name), out, status);
}
static inline int32_t qd_field_i64_batch(const int64_t *ctxs, int32_t n, const char *name, int64_t *out, uint8_t *status) {
    return qd_get_field_i64_batch(ctxs, n, name, (int32_t)strlen(name), out, status);
}

#ifdef __cplusplus
}
#endif

#endif /* QUIDDITCH_UDF_H */
