/* The bouncing ball (ball.h) behind the FMI 3.0 API, model exchange and co-simulation. The
 * functions this model has no use for (other types, clocks, dependencies) are in
 * fmi3_stubs.c and answer fmi3Error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmi3Functions.h"
#include "ball.h"

typedef struct {
    Ball ball;
    int initialized;
    char *name;
    fmi3InstanceEnvironment environment;
    fmi3LogMessageCallback log;
} Instance;

static fmi3Status fail(Instance *m, const char *message, double value) {
    if (m->log) {
        char text[256];
        snprintf(text, sizeof text, "%s (got %g at t=%g)", message, value, m->ball.time);
        m->log(m->environment, fmi3Error, "logStatusError", text);
    }
    return fmi3Error;
}

static Instance *create(fmi3String name, fmi3String token, fmi3InstanceEnvironment environment,
                        fmi3LogMessageCallback log) {
    if (strcmp(token, "{5d0b6f8e-2f43-4f8b-9a60-ba11ba11ba13}") != 0) return NULL;
    Instance *m = calloc(1, sizeof(Instance));
    if (!m) return NULL;
    ball_defaults(&m->ball);
    m->name = strdup(name ? name : "ball");
    m->environment = environment;
    m->log = log;
    return m;
}

const char *fmi3GetVersion(void) { return fmi3Version; }

fmi3Status fmi3SetDebugLogging(fmi3Instance c, fmi3Boolean on, size_t n, const fmi3String s[]) {
    return fmi3OK;
}

fmi3Instance fmi3InstantiateModelExchange(fmi3String name, fmi3String token, fmi3String resources,
                                          fmi3Boolean visible, fmi3Boolean loggingOn,
                                          fmi3InstanceEnvironment environment,
                                          fmi3LogMessageCallback log) {
    return create(name, token, environment, log);
}

fmi3Instance fmi3InstantiateCoSimulation(fmi3String name, fmi3String token, fmi3String resources,
                                         fmi3Boolean visible, fmi3Boolean loggingOn,
                                         fmi3Boolean eventModeUsed, fmi3Boolean earlyReturnAllowed,
                                         const fmi3ValueReference required[], size_t nRequired,
                                         fmi3InstanceEnvironment environment,
                                         fmi3LogMessageCallback log,
                                         fmi3IntermediateUpdateCallback intermediateUpdate) {
    return create(name, token, environment, log);
}

void fmi3FreeInstance(fmi3Instance c) {
    Instance *m = c;
    if (!m) return;
    free(m->name);
    free(m);
}

fmi3Status fmi3EnterInitializationMode(fmi3Instance c, fmi3Boolean toleranceDefined,
                                       fmi3Float64 tolerance, fmi3Float64 startTime,
                                       fmi3Boolean stopTimeDefined, fmi3Float64 stopTime) {
    ((Instance *)c)->ball.time = startTime;
    return fmi3OK;
}

fmi3Status fmi3ExitInitializationMode(fmi3Instance c) {
    ((Instance *)c)->initialized = 1;
    return fmi3OK;
}

fmi3Status fmi3EnterEventMode(fmi3Instance c) { return fmi3OK; }

fmi3Status fmi3Terminate(fmi3Instance c) { return fmi3OK; }

fmi3Status fmi3Reset(fmi3Instance c) {
    Instance *m = c;
    ball_defaults(&m->ball);
    m->initialized = 0;
    return fmi3OK;
}

fmi3Status fmi3GetFloat64(fmi3Instance c, const fmi3ValueReference vr[], size_t n,
                          fmi3Float64 values[], size_t nValues) {
    Instance *m = c;
    if (nValues != n) return fail(m, "expected one value per reference", nValues);
    for (size_t i = 0; i < n; i++) {
        if (vr[i] >= VR_COUNT) return fail(m, "unknown value reference", vr[i]);
        values[i] = ball_get(&m->ball, vr[i]);
    }
    return fmi3OK;
}

fmi3Status fmi3SetFloat64(fmi3Instance c, const fmi3ValueReference vr[], size_t n,
                          const fmi3Float64 values[], size_t nValues) {
    Instance *m = c;
    if (nValues != n) return fail(m, "expected one value per reference", nValues);
    for (size_t i = 0; i < n; i++) {
        const char *error = ball_set(&m->ball, vr[i], values[i], m->initialized);
        if (error) return fail(m, error, values[i]);
    }
    return fmi3OK;
}

/* FMU state: a copy of the Ball. */
fmi3Status fmi3GetFMUState(fmi3Instance c, fmi3FMUState *state) {
    Ball *copy = *state ? *state : malloc(sizeof(Ball));
    if (!copy) return fmi3Error;
    *copy = ((Instance *)c)->ball;
    *state = copy;
    return fmi3OK;
}

fmi3Status fmi3SetFMUState(fmi3Instance c, fmi3FMUState state) {
    if (!state) return fmi3Error;
    ((Instance *)c)->ball = *(Ball *)state;
    return fmi3OK;
}

fmi3Status fmi3FreeFMUState(fmi3Instance c, fmi3FMUState *state) {
    free(*state);
    *state = NULL;
    return fmi3OK;
}

fmi3Status fmi3SerializedFMUStateSize(fmi3Instance c, fmi3FMUState state, size_t *size) {
    *size = sizeof(Ball);
    return fmi3OK;
}

fmi3Status fmi3SerializeFMUState(fmi3Instance c, fmi3FMUState state, fmi3Byte bytes[], size_t size) {
    if (size != sizeof(Ball)) return fail(c, "wrong size of serialized state", size);
    memcpy(bytes, state, sizeof(Ball));
    return fmi3OK;
}

fmi3Status fmi3DeserializeFMUState(fmi3Instance c, const fmi3Byte bytes[], size_t size,
                                   fmi3FMUState *state) {
    if (size != sizeof(Ball)) return fail(c, "wrong size of serialized state", size);
    Ball *copy = malloc(sizeof(Ball));
    if (!copy) return fmi3Error;
    memcpy(copy, bytes, sizeof(Ball));
    *state = copy;
    return fmi3OK;
}

fmi3Status fmi3UpdateDiscreteStates(fmi3Instance c, fmi3Boolean *needUpdate,
                                    fmi3Boolean *terminate, fmi3Boolean *nominalsChanged,
                                    fmi3Boolean *valuesChanged, fmi3Boolean *nextEventTimeDefined,
                                    fmi3Float64 *nextEventTime) {
    Instance *m = c;
    *needUpdate = fmi3False;
    *terminate = fmi3False;
    *nominalsChanged = fmi3False;
    *valuesChanged = ball_event(&m->ball) ? fmi3True : fmi3False;
    *nextEventTimeDefined = fmi3False;
    *nextEventTime = 0;
    return fmi3OK;
}

/* Model exchange */

fmi3Status fmi3EnterContinuousTimeMode(fmi3Instance c) { return fmi3OK; }

fmi3Status fmi3CompletedIntegratorStep(fmi3Instance c, fmi3Boolean noSetPrior,
                                       fmi3Boolean *enterEventMode, fmi3Boolean *terminate) {
    *enterEventMode = fmi3False;
    *terminate = fmi3False;
    return fmi3OK;
}

fmi3Status fmi3SetTime(fmi3Instance c, fmi3Float64 time) {
    ((Instance *)c)->ball.time = time;
    return fmi3OK;
}

fmi3Status fmi3SetContinuousStates(fmi3Instance c, const fmi3Float64 x[], size_t nx) {
    Instance *m = c;
    if (nx != 2) return fail(m, "expected 2 continuous states", nx);
    m->ball.h = x[0];
    m->ball.v = x[1];
    return fmi3OK;
}

fmi3Status fmi3GetContinuousStateDerivatives(fmi3Instance c, fmi3Float64 dx[], size_t nx) {
    Instance *m = c;
    if (nx != 2) return fail(m, "expected 2 continuous states", nx);
    dx[0] = ball_der_h(&m->ball);
    dx[1] = ball_der_v(&m->ball);
    return fmi3OK;
}

fmi3Status fmi3GetEventIndicators(fmi3Instance c, fmi3Float64 z[], size_t nz) {
    Instance *m = c;
    if (nz != 1) return fail(m, "expected 1 event indicator", nz);
    z[0] = ball_indicator(&m->ball);
    return fmi3OK;
}

fmi3Status fmi3GetContinuousStates(fmi3Instance c, fmi3Float64 x[], size_t nx) {
    Instance *m = c;
    if (nx != 2) return fail(m, "expected 2 continuous states", nx);
    x[0] = m->ball.h;
    x[1] = m->ball.v;
    return fmi3OK;
}

fmi3Status fmi3GetNominalsOfContinuousStates(fmi3Instance c, fmi3Float64 x[], size_t nx) {
    for (size_t i = 0; i < nx; i++) x[i] = 1;
    return fmi3OK;
}

fmi3Status fmi3GetNumberOfEventIndicators(fmi3Instance c, size_t *n) {
    *n = 1;
    return fmi3OK;
}

fmi3Status fmi3GetNumberOfContinuousStates(fmi3Instance c, size_t *n) {
    *n = 2;
    return fmi3OK;
}

/* Co-simulation */

fmi3Status fmi3EnterStepMode(fmi3Instance c) { return fmi3OK; }

fmi3Status fmi3DoStep(fmi3Instance c, fmi3Float64 t, fmi3Float64 dt, fmi3Boolean noSetPrior,
                      fmi3Boolean *eventHandlingNeeded, fmi3Boolean *terminate,
                      fmi3Boolean *earlyReturn, fmi3Float64 *lastSuccessfulTime) {
    Instance *m = c;
    *eventHandlingNeeded = fmi3False;
    *terminate = fmi3False;
    *earlyReturn = fmi3False;
    if (!ball_advance(&m->ball, dt)) return fail(m, "the ball left the box: h", m->ball.h);
    m->ball.time = t + dt;
    *lastSuccessfulTime = m->ball.time;
    return fmi3OK;
}
