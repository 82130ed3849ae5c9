/* FMI 3.0 functions the ball has no use for. FMPy looks up every function of the standard, so
 * they must exist; none is called. Each answers fmi3Error (3); this file includes no FMI header
 * on purpose, so one definition serves every signature. */
#include <stddef.h>

#define STUB(name) int name(void) { return 3; }

void *fmi3InstantiateScheduledExecution(void) { return NULL; }

STUB(fmi3GetFloat32) STUB(fmi3SetFloat32)
STUB(fmi3GetInt8) STUB(fmi3SetInt8) STUB(fmi3GetUInt8) STUB(fmi3SetUInt8)
STUB(fmi3GetInt16) STUB(fmi3SetInt16) STUB(fmi3GetUInt16) STUB(fmi3SetUInt16)
STUB(fmi3GetInt32) STUB(fmi3SetInt32) STUB(fmi3GetUInt32) STUB(fmi3SetUInt32)
STUB(fmi3GetInt64) STUB(fmi3SetInt64) STUB(fmi3GetUInt64) STUB(fmi3SetUInt64)
STUB(fmi3GetBoolean) STUB(fmi3SetBoolean) STUB(fmi3GetString) STUB(fmi3SetString)
STUB(fmi3GetBinary) STUB(fmi3SetBinary) STUB(fmi3GetClock) STUB(fmi3SetClock)
STUB(fmi3GetNumberOfVariableDependencies) STUB(fmi3GetVariableDependencies)
STUB(fmi3GetDirectionalDerivative) STUB(fmi3GetAdjointDerivative)
STUB(fmi3EnterConfigurationMode) STUB(fmi3ExitConfigurationMode)
STUB(fmi3GetIntervalDecimal) STUB(fmi3GetIntervalFraction)
STUB(fmi3GetShiftDecimal) STUB(fmi3GetShiftFraction)
STUB(fmi3SetIntervalDecimal) STUB(fmi3SetIntervalFraction)
STUB(fmi3SetShiftDecimal) STUB(fmi3SetShiftFraction)
STUB(fmi3EvaluateDiscreteStates) STUB(fmi3GetOutputDerivatives) STUB(fmi3ActivateModelPartition)
