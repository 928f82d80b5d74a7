/* `bench udf-sdk`: the predicate of tests/fixtures/wat/{field,batch}_filter.wat written with
 * sdk/c/quidditch_udf.h, per document and batched. */
#include "quidditch_udf.h"

QUIDDITCH_EXPORT("filter") int32_t filter(int64_t ctx) {
    int64_t n;
    return qd_field_i64(ctx, "n", &n) == QD_OK && n % 2 == 0;
}

QD_DEFINE_UDF_BUFFER()

static int64_t *values;
static uint8_t *status;
static int32_t capacity;

QUIDDITCH_EXPORT("filter_batch") int32_t filter_batch(int32_t ctxs_ptr, int32_t n, int32_t out_ptr) {
    const int64_t *ctxs = QD_CTXS(ctxs_ptr);
    int32_t *keep = QD_FILTER_OUT(out_ptr);
    if (n > capacity) {
        int64_t *v = realloc(values, (size_t)n * sizeof *values);
        if (v) values = v;
        uint8_t *s = realloc(status, (size_t)n);
        if (s) status = s;
        if (!v || !s) return 1;
        capacity = n;
    }
    if (qd_field_i64_batch(ctxs, n, "n", values, status) != QD_OK) return 2;
    for (int32_t i = 0; i < n; i++) keep[i] = status[i] == QD_OK && values[i] % 2 == 0;
    return 0;
}
