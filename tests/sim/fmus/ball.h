/* A bouncing ball pushed by an input acceleration: the physics shared by the FMI 2 and FMI 3
 * test FMUs (built at test time, see builders.py).
 *
 * States h (height, m) and v (velocity, m/s); parameters g (gravity, m/s2) and e (coefficient
 * of restitution, 0..1); input a (upward acceleration, m/s2). The ball bounces when it reaches
 * the floor moving down (a state event on h); below V_MIN it comes to rest until a exceeds g.
 * The co-simulation interface integrates the same equations with semi-implicit Euler substeps.
 */
#ifndef BALL_H
#define BALL_H

#include <math.h>

#define V_MIN 0.1
#define CS_SUBSTEP 1e-3
#define H_MAX 1e3 /* a ball above this has left the box: the FMU reports an error */

enum { VR_TIME, VR_H, VR_DER_H, VR_V, VR_DER_V, VR_G, VR_E, VR_A, VR_COUNT };

/* Everything an FMU state holds: copied as it is by get/set/serialize FMU state. */
typedef struct {
    double time;
    double h, v;
    double g, e, a;
    int resting;
} Ball;

static void ball_defaults(Ball *b) {
    b->time = 0;
    b->h = 1;
    b->v = 0;
    b->g = 9.81;
    b->e = 0.7;
    b->a = 0;
    b->resting = 0;
}

static double ball_der_h(const Ball *b) { return b->resting ? 0 : b->v; }

static double ball_der_v(const Ball *b) { return b->resting ? 0 : b->a - b->g; }

static double ball_indicator(const Ball *b) { return b->resting ? 1 : b->h; }

/* The discrete update at an event: bounce, come to rest, or lift off. Returns 1 when the
 * continuous states changed. */
static int ball_event(Ball *b) {
    if (b->resting) {
        if (b->a > b->g) {
            b->resting = 0;
            return 1;
        }
        return 0;
    }
    if (b->h <= 0 && b->v < 0) {
        b->h = 0;
        b->v = -b->e * b->v;
        if (b->v < V_MIN) {
            b->v = 0;
            b->resting = b->a <= b->g;
        }
        return 1;
    }
    return 0;
}

/* Advance by dt with semi-implicit Euler substeps (the co-simulation interface). Returns 0 when
 * the ball left the box. */
static int ball_advance(Ball *b, double dt) {
    int n = (int)ceil(dt / CS_SUBSTEP - 1e-9);
    double step = n > 0 ? dt / n : 0;
    for (int i = 0; i < n; i++) {
        b->v += step * ball_der_v(b);
        b->h += step * ball_der_h(b);
        if (b->h <= 0 && b->v < 0) ball_event(b);
        if (b->resting) ball_event(b);
        if (!(fabs(b->h) <= H_MAX)) return 0;
    }
    return 1;
}

/* 1 when value reference vr may be set now (before or during initialization: anything but the
 * derivatives and time; afterwards only e and a). */
static int ball_settable(unsigned int vr, int initialized) {
    if (vr == VR_E || vr == VR_A) return 1;
    return !initialized && (vr == VR_H || vr == VR_V || vr == VR_G);
}

static double ball_get(const Ball *b, unsigned int vr) {
    switch (vr) {
        case VR_TIME: return b->time;
        case VR_H: return b->h;
        case VR_DER_H: return ball_der_h(b);
        case VR_V: return b->v;
        case VR_DER_V: return ball_der_v(b);
        case VR_G: return b->g;
        case VR_E: return b->e;
        default: return b->a;
    }
}

/* Set one value; returns an error message or NULL. */
static const char *ball_set(Ball *b, unsigned int vr, double value, int initialized) {
    if (vr >= VR_COUNT) return "unknown value reference";
    if (!ball_settable(vr, initialized)) return "variable cannot be set now";
    if (!isfinite(value)) return "value is not finite";
    switch (vr) {
        case VR_H: b->h = value; break;
        case VR_V: b->v = value; break;
        case VR_G:
            if (value <= 0) return "g must be positive";
            b->g = value;
            break;
        case VR_E:
            if (value < 0 || value > 1) return "e must be in [0, 1]";
            b->e = value;
            break;
        default: b->a = value; break;
    }
    return 0;
}

#endif
