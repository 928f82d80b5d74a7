/*
 * geo-filter: keeps documents within `max_distance_km` (default 10) of
 * (`target_lat`, `target_lon`), by great-circle (haversine) distance on a sphere of radius
 * 6371 km. The document's coordinates are read from `lat_field` / `lon_field` (default
 * "latitude" / "longitude"). Missing, non-numeric or out-of-range coordinates (latitude
 * outside [-90, 90], longitude outside [-180, 180]) exclude the document.
 *
 * Two exports with the same answers: `filter` (one document per call, used by
 * `quidditch udf test`) and `filter_batch` (a block of documents per call, which the server
 * prefers inside a search: parameters are read once per block and each coordinate field with
 * one host call for the whole block).
 */
#include <math.h>

#include "quidditch_udf.h"

#define EARTH_RADIUS_KM 6371.0
#define DEG_TO_RAD (3.14159265358979323846 / 180.0)

struct query {
    double lat, lon, max_km;
    char lat_field[256], lon_field[256];
};

static int valid_lat(double lat) { return lat >= -90.0 && lat <= 90.0; } /* false for NaN */
static int valid_lon(double lon) { return lon >= -180.0 && lon <= 180.0; }

static double haversine_km(double lat1, double lon1, double lat2, double lon2) {
    double dlat = (lat2 - lat1) * DEG_TO_RAD;
    double dlon = (lon2 - lon1) * DEG_TO_RAD;
    double a = sin(dlat / 2) * sin(dlat / 2)
             + cos(lat1 * DEG_TO_RAD) * cos(lat2 * DEG_TO_RAD) * sin(dlon / 2) * sin(dlon / 2);
    if (a > 1.0) a = 1.0; /* rounding near antipodes */
    return 2.0 * EARTH_RADIUS_KM * asin(sqrt(a));
}

/* Reads the parameters; 0 when the target is missing or out of range (nothing matches). */
static int read_query(struct query *q) {
    if (qd_param_f64("target_lat", &q->lat) != QD_OK || qd_param_f64("target_lon", &q->lon) != QD_OK
        || !valid_lat(q->lat) || !valid_lon(q->lon)) {
        return 0;
    }
    q->max_km = qd_param_f64_or("max_distance_km", 10.0);
    qd_param_str_or("lat_field", "latitude", q->lat_field, sizeof q->lat_field);
    qd_param_str_or("lon_field", "longitude", q->lon_field, sizeof q->lon_field);
    return 1;
}

static int32_t keeps(const struct query *q, double lat, double lon) {
    return valid_lat(lat) && valid_lon(lon) && haversine_km(lat, lon, q->lat, q->lon) <= q->max_km;
}

QUIDDITCH_EXPORT("filter") int32_t filter(int64_t ctx) {
    struct query q;
    double lat, lon;
    if (!read_query(&q)) return 0;
    if (qd_field_f64(ctx, q.lat_field, &lat) != QD_OK || qd_field_f64(ctx, q.lon_field, &lon) != QD_OK) {
        return 0;
    }
    return keeps(&q, lat, lon);
}

/* ---- batched form ---- */

QD_DEFINE_UDF_BUFFER()

/* Scratch arrays for one block, grown on demand and reused. */
static double *lats, *lons;
static uint8_t *lat_status, *lon_status;
static int32_t scratch_len;

static int grow_scratch(int32_t n) {
    if (n <= scratch_len) return 1;
    double *a = realloc(lats, (size_t)n * sizeof *lats);
    if (a) lats = a;
    double *b = realloc(lons, (size_t)n * sizeof *lons);
    if (b) lons = b;
    uint8_t *c = realloc(lat_status, (size_t)n);
    if (c) lat_status = c;
    uint8_t *d = realloc(lon_status, (size_t)n);
    if (d) lon_status = d;
    if (!a || !b || !c || !d) return 0;
    scratch_len = n;
    return 1;
}

QUIDDITCH_EXPORT("filter_batch") int32_t filter_batch(int32_t ctxs_ptr, int32_t n, int32_t out_ptr) {
    const int64_t *ctxs = QD_CTXS(ctxs_ptr);
    int32_t *keep = QD_FILTER_OUT(out_ptr);
    struct query q;
    if (n < 0) return 1;
    if (!read_query(&q)) {
        memset(keep, 0, (size_t)n * sizeof *keep);
        return 0;
    }
    if (!grow_scratch(n)) return 2; /* out of memory: fail the query, do not guess */
    int32_t rc = qd_field_f64_batch(ctxs, n, q.lat_field, lats, lat_status);
    if (rc == QD_OK) rc = qd_field_f64_batch(ctxs, n, q.lon_field, lons, lon_status);
    if (rc != QD_OK) return 3;
    for (int32_t i = 0; i < n; i++) {
        keep[i] = lat_status[i] == QD_OK && lon_status[i] == QD_OK && keeps(&q, lats[i], lons[i]);
    }
    return 0;
}
