/* mb_profile.c -- the simulated household (mb_profile.h). */
#include "mb_profile.h"

#include <math.h>

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unit(uint64_t seed, uint64_t k)
{
    return (double)(mix(seed ^ mix(k)) >> 11) / 9007199254740992.0;
}

static double hour_of(uint64_t t_ms)
{
    return (double)((t_ms / 1000) % 86400) / 3600.0;
}

static double load_shape_w(const struct mb_profile *p, double h)
{
    return p->load_base_w + 450.0 * exp(-pow((h - 7.5) / 1.2, 2)) +
           1100.0 * exp(-pow((h - 19.0) / 2.0, 2));
}

double mb_profile_load_w(const struct mb_profile *p, uint64_t t_ms)
{
    return load_shape_w(p, hour_of(t_ms)) * (0.8 + 0.4 * unit(p->seed, t_ms / 300000));
}

double mb_profile_clear_sky(uint64_t t_ms)
{
    double h = hour_of(t_ms);
    return h > 6.0 && h < 18.0 ? pow(sin(M_PI * (h - 6.0) / 12.0), 1.5) : 0.0;
}

double mb_profile_cloud(const struct mb_profile *p, uint64_t t_ms)
{
    double c0 = unit(p->seed ^ 0xc10d, t_ms / 600000),
           c1 = unit(p->seed ^ 0xc10d, t_ms / 600000 + 1);
    double frac = (double)(t_ms % 600000) / 600000.0;
    return 0.3 + 0.7 * (c0 + (c1 - c0) * frac);
}

double mb_profile_net_w(const struct mb_profile *p, uint64_t t_ms)
{
    return mb_profile_load_w(p, t_ms) -
           p->pv_peak_w * mb_profile_clear_sky(t_ms) * mb_profile_cloud(p, t_ms);
}

double mb_profile_forecast_w(const struct mb_profile *p, uint64_t t_ms)
{
    return load_shape_w(p, hour_of(t_ms)) - p->pv_peak_w * mb_profile_clear_sky(t_ms) * 0.65;
}

double mb_profile_energy_wh(const struct mb_profile *p, uint64_t from_ms, uint64_t to_ms,
                            double (*power_w)(const struct mb_profile *, uint64_t))
{
    double wh = 0;
    for (uint64_t t = from_ms; t < to_ms; t += 60000) {
        uint64_t dt = to_ms - t < 60000 ? to_ms - t : 60000;
        wh += power_w(p, t) * (double)dt / 3600000.0;
    }
    return wh;
}
