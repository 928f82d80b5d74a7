/*
 * geo-filter: keeps documents within `max_distance_km` (default 10) of
 * (`target_lat`, `target_lon`), by great-circle (haversine) distance on a sphere of radius
 * 6371 km. The document's coordinates are read from `lat_field` / `lon_field` (default
 * "latitude" / "longitude"). Missing, non-numeric or out-of-range coordinates (latitude
 * outside [-90, 90], longitude outside [-180, 180]) exclude the document.
 */
#include <math.h>

#include "quidditch_udf.h"

#define EARTH_RADIUS_KM 6371.0
#define DEG_TO_RAD (3.14159265358979323846 / 180.0)

static int valid_lat(double lat) { return lat >= -90.0 && lat <= 90.0; }
static int valid_lon(double lon) { return lon >= -180.0 && lon <= 180.0; }

static double haversine_km(double lat1, double lon1, double lat2, double lon2) {
    double dlat = (lat2 - lat1) * DEG_TO_RAD;
    double dlon = (lon2 - lon1) * DEG_TO_RAD;
    double a = sin(dlat / 2) * sin(dlat / 2)
             + cos(lat1 * DEG_TO_RAD) * cos(lat2 * DEG_TO_RAD) * sin(dlon / 2) * sin(dlon / 2);
    if (a > 1.0) a = 1.0; /* rounding near antipodes */
    return 2.0 * EARTH_RADIUS_KM * asin(sqrt(a));
}

QUIDDITCH_EXPORT("filter") int32_t filter(int64_t ctx) {
    double target_lat, target_lon;
    if (qd_param_f64("target_lat", &target_lat) != QD_OK || qd_param_f64("target_lon", &target_lon) != QD_OK
        || !valid_lat(target_lat) || !valid_lon(target_lon)) {
        return 0;
    }
    double max_km = qd_param_f64_or("max_distance_km", 10.0);

    char lat_field[256], lon_field[256];
    qd_param_str_or("lat_field", "latitude", lat_field, sizeof lat_field);
    qd_param_str_or("lon_field", "longitude", lon_field, sizeof lon_field);

    double lat, lon;
    if (qd_field_f64(ctx, lat_field, &lat) != QD_OK || qd_field_f64(ctx, lon_field, &lon) != QD_OK) {
        return 0;
    }
    if (!valid_lat(lat) || !valid_lon(lon)) { /* also rejects NaN */
        return 0;
    }
    return haversine_km(lat, lon, target_lat, target_lon) <= max_km;
}
