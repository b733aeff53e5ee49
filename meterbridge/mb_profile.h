/* mb_profile.h -- the simulated household of gridmeter-sim and the demo: a
 * seeded load profile and a PV array under a seeded cloud factor (DESIGN.md,
 * Meter bridge; issue 7, point 4).  Nothing is downloaded.
 *
 * Floats are fine here: this is a simulator and a forecaster for the demo's
 * households, never consensus code (the chain sees only the integer Wh that
 * gridmeter reads off the simulated registers). */
#ifndef MB_PROFILE_H
#define MB_PROFILE_H

#include <stdint.h>

struct mb_profile {
    uint64_t seed;
    double pv_peak_w;   /* 0: no PV */
    double load_base_w; /* base load before the morning and evening peaks */
};

/* The household's net power (W, positive = import) at time t (ms, UTC). */
double mb_profile_net_w(const struct mb_profile *p, uint64_t t_ms);

/* Its parts at time t: load (W, with the per-5-minute noise), the clear-sky
 * PV fraction 0..1 (sin of the hour angle between 06:00 and 18:00 UTC) and
 * the cloud factor 0.3..1 (seeded per 10 minutes, interpolated). */
double mb_profile_load_w(const struct mb_profile *p, uint64_t t_ms);
double mb_profile_clear_sky(uint64_t t_ms);
double mb_profile_cloud(const struct mb_profile *p, uint64_t t_ms);

/* What a forecaster without the seed expects: load without noise, PV under
 * the mean cloud factor (0.65).  W, positive = import. */
double mb_profile_forecast_w(const struct mb_profile *p, uint64_t t_ms);

/* Energy (Wh, positive = import) over [from, to) by 1-minute steps, with
 * the given power function. */
double mb_profile_energy_wh(const struct mb_profile *p, uint64_t from_ms, uint64_t to_ms,
                            double (*power_w)(const struct mb_profile *, uint64_t));

#endif
