/* The bouncing ball (ball.h) behind the FMI 2.0 API, model exchange and co-simulation. */
#include <stdlib.h>
#include <string.h>

#include "fmi2Functions.h"
#include "ball.h"

typedef struct {
    Ball ball;
    fmi2Type type;
    int initialized;
    char *name;
    const fmi2CallbackFunctions *functions;
} Instance;

static fmi2Status fail(Instance *m, const char *message, double value) {
    if (m->functions && m->functions->logger)
        m->functions->logger(m->functions->componentEnvironment, m->name, fmi2Error,
                             "logStatusError", "%s (got %g at t=%g)", message, value,
                             m->ball.time);
    return fmi2Error;
}

const char *fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }

const char *fmi2GetVersion(void) { return fmi2Version; }

fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean on, size_t n, const fmi2String s[]) {
    return fmi2OK;
}

fmi2Component fmi2Instantiate(fmi2String name, fmi2Type type, fmi2String guid,
                              fmi2String resources, const fmi2CallbackFunctions *functions,
                              fmi2Boolean visible, fmi2Boolean loggingOn) {
    if (strcmp(guid, "{5d0b6f8e-2f43-4f8b-9a60-ba11ba11ba11}") != 0) return NULL;
    Instance *m = calloc(1, sizeof(Instance));
    if (!m) return NULL;
    ball_defaults(&m->ball);
    m->type = type;
    m->name = strdup(name ? name : "ball");
    m->functions = functions;
    return m;
}

void fmi2FreeInstance(fmi2Component c) {
    Instance *m = c;
    if (!m) return;
    free(m->name);
    free(m);
}

fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean toleranceDefined, fmi2Real tolerance,
                               fmi2Real startTime, fmi2Boolean stopTimeDefined,
                               fmi2Real stopTime) {
    ((Instance *)c)->ball.time = startTime;
    return fmi2OK;
}

fmi2Status fmi2EnterInitializationMode(fmi2Component c) { return fmi2OK; }

fmi2Status fmi2ExitInitializationMode(fmi2Component c) {
    ((Instance *)c)->initialized = 1;
    return fmi2OK;
}

fmi2Status fmi2Terminate(fmi2Component c) { return fmi2OK; }

fmi2Status fmi2Reset(fmi2Component c) {
    Instance *m = c;
    ball_defaults(&m->ball);
    m->initialized = 0;
    return fmi2OK;
}

fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Real value[]) {
    Instance *m = c;
    for (size_t i = 0; i < n; i++) {
        if (vr[i] >= VR_COUNT) return fail(m, "unknown value reference", vr[i]);
        value[i] = ball_get(&m->ball, vr[i]);
    }
    return fmi2OK;
}

fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                       const fmi2Real value[]) {
    Instance *m = c;
    for (size_t i = 0; i < n; i++) {
        const char *error = ball_set(&m->ball, vr[i], value[i], m->initialized);
        if (error) return fail(m, error, value[i]);
    }
    return fmi2OK;
}

fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Integer v[]) {
    return n ? fmi2Error : fmi2OK;
}

fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Boolean v[]) {
    return n ? fmi2Error : fmi2OK;
}

fmi2Status fmi2GetString(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2String v[]) {
    return n ? fmi2Error : fmi2OK;
}

fmi2Status fmi2SetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                          const fmi2Integer v[]) {
    return n ? fmi2Error : fmi2OK;
}

fmi2Status fmi2SetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                          const fmi2Boolean v[]) {
    return n ? fmi2Error : fmi2OK;
}

fmi2Status fmi2SetString(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                         const fmi2String v[]) {
    return n ? fmi2Error : fmi2OK;
}

/* FMU state: a copy of the Ball. */
fmi2Status fmi2GetFMUstate(fmi2Component c, fmi2FMUstate *state) {
    Ball *copy = *state ? *state : malloc(sizeof(Ball));
    if (!copy) return fmi2Error;
    *copy = ((Instance *)c)->ball;
    *state = copy;
    return fmi2OK;
}

fmi2Status fmi2SetFMUstate(fmi2Component c, fmi2FMUstate state) {
    if (!state) return fmi2Error;
    ((Instance *)c)->ball = *(Ball *)state;
    return fmi2OK;
}

fmi2Status fmi2FreeFMUstate(fmi2Component c, fmi2FMUstate *state) {
    free(*state);
    *state = NULL;
    return fmi2OK;
}

fmi2Status fmi2SerializedFMUstateSize(fmi2Component c, fmi2FMUstate state, size_t *size) {
    *size = sizeof(Ball);
    return fmi2OK;
}

fmi2Status fmi2SerializeFMUstate(fmi2Component c, fmi2FMUstate state, fmi2Byte bytes[],
                                 size_t size) {
    if (size != sizeof(Ball)) return fail(c, "wrong size of serialized state", size);
    memcpy(bytes, state, sizeof(Ball));
    return fmi2OK;
}

fmi2Status fmi2DeSerializeFMUstate(fmi2Component c, const fmi2Byte bytes[], size_t size,
                                   fmi2FMUstate *state) {
    if (size != sizeof(Ball)) return fail(c, "wrong size of serialized state", size);
    Ball *copy = malloc(sizeof(Ball));
    if (!copy) return fmi2Error;
    memcpy(copy, bytes, sizeof(Ball));
    *state = copy;
    return fmi2OK;
}

fmi2Status fmi2GetDirectionalDerivative(fmi2Component c, const fmi2ValueReference u[], size_t nu,
                                        const fmi2ValueReference z[], size_t nz,
                                        const fmi2Real dv[], fmi2Real df[]) {
    return fmi2Error;
}

/* Model exchange */

fmi2Status fmi2EnterEventMode(fmi2Component c) { return fmi2OK; }

fmi2Status fmi2NewDiscreteStates(fmi2Component c, fmi2EventInfo *info) {
    Instance *m = c;
    info->newDiscreteStatesNeeded = fmi2False;
    info->terminateSimulation = fmi2False;
    info->nominalsOfContinuousStatesChanged = fmi2False;
    info->valuesOfContinuousStatesChanged = ball_event(&m->ball) ? fmi2True : fmi2False;
    info->nextEventTimeDefined = fmi2False;
    info->nextEventTime = 0;
    return fmi2OK;
}

fmi2Status fmi2EnterContinuousTimeMode(fmi2Component c) { return fmi2OK; }

fmi2Status fmi2CompletedIntegratorStep(fmi2Component c, fmi2Boolean noSetFMUStatePriorToCurrentPoint,
                                       fmi2Boolean *enterEventMode,
                                       fmi2Boolean *terminateSimulation) {
    *enterEventMode = fmi2False;
    *terminateSimulation = fmi2False;
    return fmi2OK;
}

fmi2Status fmi2SetTime(fmi2Component c, fmi2Real time) {
    ((Instance *)c)->ball.time = time;
    return fmi2OK;
}

fmi2Status fmi2SetContinuousStates(fmi2Component c, const fmi2Real x[], size_t nx) {
    Instance *m = c;
    if (nx != 2) return fail(m, "expected 2 continuous states", nx);
    m->ball.h = x[0];
    m->ball.v = x[1];
    return fmi2OK;
}

fmi2Status fmi2GetDerivatives(fmi2Component c, fmi2Real dx[], size_t nx) {
    Instance *m = c;
    if (nx != 2) return fail(m, "expected 2 continuous states", nx);
    dx[0] = ball_der_h(&m->ball);
    dx[1] = ball_der_v(&m->ball);
    return fmi2OK;
}

fmi2Status fmi2GetEventIndicators(fmi2Component c, fmi2Real z[], size_t nz) {
    Instance *m = c;
    if (nz != 1) return fail(m, "expected 1 event indicator", nz);
    z[0] = ball_indicator(&m->ball);
    return fmi2OK;
}

fmi2Status fmi2GetContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
    Instance *m = c;
    if (nx != 2) return fail(m, "expected 2 continuous states", nx);
    x[0] = m->ball.h;
    x[1] = m->ball.v;
    return fmi2OK;
}

fmi2Status fmi2GetNominalsOfContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
    for (size_t i = 0; i < nx; i++) x[i] = 1;
    return fmi2OK;
}

/* Co-simulation */

fmi2Status fmi2SetRealInputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                                       const fmi2Integer order[], const fmi2Real value[]) {
    return fmi2Error;
}

fmi2Status fmi2GetRealOutputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                                        const fmi2Integer order[], fmi2Real value[]) {
    return fmi2Error;
}

fmi2Status fmi2DoStep(fmi2Component c, fmi2Real t, fmi2Real dt, fmi2Boolean noSetPrior) {
    Instance *m = c;
    if (!ball_advance(&m->ball, dt)) return fail(m, "the ball left the box: h", m->ball.h);
    m->ball.time = t + dt;
    return fmi2OK;
}

fmi2Status fmi2CancelStep(fmi2Component c) { return fmi2Error; }

fmi2Status fmi2GetStatus(fmi2Component c, const fmi2StatusKind s, fmi2Status *value) {
    return fmi2Discard;
}

fmi2Status fmi2GetRealStatus(fmi2Component c, const fmi2StatusKind s, fmi2Real *value) {
    if (s != fmi2LastSuccessfulTime) return fmi2Discard;
    *value = ((Instance *)c)->ball.time;
    return fmi2OK;
}

fmi2Status fmi2GetIntegerStatus(fmi2Component c, const fmi2StatusKind s, fmi2Integer *value) {
    return fmi2Discard;
}

fmi2Status fmi2GetBooleanStatus(fmi2Component c, const fmi2StatusKind s, fmi2Boolean *value) {
    if (s != fmi2Terminated) return fmi2Discard;
    *value = fmi2False;
    return fmi2OK;
}

fmi2Status fmi2GetStringStatus(fmi2Component c, const fmi2StatusKind s, fmi2String *value) {
    return fmi2Discard;
}
