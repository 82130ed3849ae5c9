"""DTDL's tables of semantic types, unit types and units, as the specifications give them.

Sources: the "Semantic Type" section of the DTDL v2 specification (terms built into
``dtmi:dtdl:context;2``) and the QuantitativeTypes extension v1 for DTDL v3
(``dtmi:dtdl:extension:quantitativeTypes;1``). These are facts transcribed from those
documents; :mod:`twinkit.model._quantities` is the API over them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "PINT_UNITS",
    "SEMANTIC_TYPES_V2",
    "SEMANTIC_TYPES_V3",
    "UNIT_PREFIXES_V2",
    "UNIT_PREFIXES_V3",
    "UNIT_TYPES_V2",
    "UNIT_TYPES_V3",
]


def _units(text: str) -> frozenset[str]:
    return frozenset(text.split())


_DATA: Final = """
bit byte exbibit exbibyte gibibit gibibyte kibibit kibibyte mebibit mebibyte tebibit tebibyte
yobibit yobibyte zebibit zebibyte
"""
_DATA_RATE: Final = " ".join(f"{unit}PerSecond" for unit in _DATA.split())
_LENGTH: Final = """
astronomicalUnit centimetre foot inch kilometre metre micrometre mile millimetre nanometre
nauticalMile
"""

UNIT_TYPES_V2: Final[dict[str, frozenset[str]]] = {
    "AccelerationUnit": _units("centimetrePerSecondSquared gForce metrePerSecondSquared"),
    "AngleUnit": _units("degreeOfArc minuteOfArc radian secondOfArc turn"),
    "AngularAccelerationUnit": _units("radianPerSecondSquared"),
    "AngularVelocityUnit": _units(
        "degreePerSecond radianPerSecond revolutionPerMinute revolutionPerSecond"
    ),
    "AreaUnit": _units(
        "acre hectare squareCentimetre squareFoot squareInch squareKilometre squareMetre"
        " squareMillimetre"
    ),
    "CapacitanceUnit": _units("farad microfarad millifarad nanofarad picofarad"),
    "ChargeUnit": _units("coulomb"),
    "CurrentUnit": _units("ampere microampere milliampere"),
    "DataRateUnit": _units(_DATA_RATE),
    "DataSizeUnit": _units(_DATA),
    "DensityUnit": _units("gramPerCubicMetre kilogramPerCubicMetre"),
    "EnergyUnit": _units(
        "electronvolt gigajoule joule kilojoule kilowattHour megaelectronvolt megajoule"
    ),
    "ForceUnit": _units("newton ounce pound ton"),
    "FrequencyUnit": _units("gigahertz hertz kilohertz megahertz"),
    "IlluminanceUnit": _units("footcandle lux"),
    "InductanceUnit": _units("henry microhenry millihenry"),
    "LengthUnit": _units(_LENGTH),
    "LuminanceUnit": _units("candelaPerSquareMetre"),
    "LuminousFluxUnit": _units("lumen"),
    "LuminousIntensityUnit": _units("candela"),
    "MagneticFluxUnit": _units("maxwell weber"),
    "MagneticInductionUnit": _units("tesla"),
    "MassFlowRateUnit": _units("gramPerHour gramPerSecond kilogramPerHour kilogramPerSecond"),
    "MassUnit": _units("gram kilogram microgram milligram slug tonne"),
    "PowerUnit": _units(
        "gigawatt horsepower kilowatt kilowattHourPerYear megawatt microwatt milliwatt watt"
    ),
    "PressureUnit": _units(
        "bar inchesOfMercury inchesOfWater kilopascal millibar millimetresOfMercury pascal"
        " poundPerSquareInch"
    ),
    "ResistanceUnit": _units("kiloohm megaohm milliohm ohm"),
    "SoundPressureUnit": _units("bel decibel"),
    "TemperatureUnit": _units("degreeCelsius degreeFahrenheit kelvin"),
    "TimeUnit": _units("day hour microsecond millisecond minute nanosecond second year"),
    "TorqueUnit": _units("newtonMetre"),
    "Unitless": _units("percent unity"),
    "VelocityUnit": _units(
        "centimetrePerSecond kilometrePerHour kilometrePerSecond knot metrePerHour"
        " metrePerSecond milePerHour milePerSecond"
    ),
    "VoltageUnit": _units("kilovolt megavolt microvolt millivolt volt"),
    "VolumeFlowRateUnit": _units(
        "litrePerHour litrePerSecond millilitrePerHour millilitrePerSecond"
    ),
    "VolumeUnit": _units(
        "cubicCentimetre cubicFoot cubicInch cubicMetre fluidOunce gallon litre millilitre"
    ),
}

# What QuantitativeTypes v1 adds to the v2 unit types, and the unit types it introduces.
_V3_ADDED_UNITS: Final[dict[str, frozenset[str]]] = {
    "ChargeUnit": _units("ampereHour milliampereHour"),
    "CurrentUnit": _units("kiloampere"),
    "DensityUnit": _units("microgramPerCubicMetre milligramPerCubicMetre"),
    "EnergyUnit": _units(
        "britishThermalUnit gigawattHour kiloBritishThermalUnit megawattHour milliwattHour"
        " terawattHour wattHour"
    ),
    "FrequencyUnit": _units("millihertz"),
    "MagneticInductionUnit": _units("gauss"),
    "MassFlowRateUnit": _units("massPoundPerHour"),
    "MassUnit": _units("massPound"),
    "PowerUnit": _units(
        "britishThermalUnitPerHour gigajoulePerHour joulePerHour joulePerSecond"
        " kiloBritishThermalUnitPerHour kilojoulePerHour kilojoulePerSecond megajoulePerHour"
        " tonOfRefrigeration"
    ),
    "PressureUnit": _units("decapascal hectopascal"),
    "Unitless": _units("partsPerBillion partsPerMillion partsPerQuadrillion partsPerTrillion"),
    "VolumeFlowRateUnit": _units(
        "cubicFootPerMinute cubicMetrePerHour cubicMetrePerMinute cubicMetrePerSecond"
        " gallonPerHour gallonPerMinute litrePerMinute millilitrePerMinute"
    ),
    "ApparentEnergyUnit": _units(
        "gigavoltAmpereHour kilovoltAmpereHour megavoltAmpereHour voltAmpereHour"
    ),
    "ApparentPowerUnit": _units(
        "gigavoltAmpere kilovoltAmpere megavoltAmpere millivoltAmpere voltAmpere"
    ),
    "IonizingRadiationDoseUnit": _units(
        "gray microgray microsievert milligray millisievert sievert"
    ),
    "IrradianceUnit": _units("wattPerSquareMetre"),
    "RadioactivityUnit": _units("becquerel gigabecquerel kilobecquerel megabecquerel"),
    "ReactiveEnergyUnit": _units(
        "gigavoltAmpereReactiveHour kilovoltAmpereReactiveHour megavoltAmpereReactiveHour"
        " voltAmpereReactiveHour"
    ),
    "ReactivePowerUnit": _units(
        "gigavoltAmpereReactive kilovoltAmpereReactive megavoltAmpereReactive"
        " millivoltAmpereReactive voltAmpereReactive"
    ),
}

UNIT_TYPES_V3: Final[dict[str, frozenset[str]]] = {
    name: UNIT_TYPES_V2.get(name, frozenset()) | _V3_ADDED_UNITS.get(name, frozenset())
    for name in sorted(UNIT_TYPES_V2.keys() | _V3_ADDED_UNITS.keys())
}

SEMANTIC_TYPES_V2: Final[dict[str, str]] = {
    "Acceleration": "AccelerationUnit",
    "Angle": "AngleUnit",
    "AngularAcceleration": "AngularAccelerationUnit",
    "AngularVelocity": "AngularVelocityUnit",
    "Area": "AreaUnit",
    "Capacitance": "CapacitanceUnit",
    "Current": "CurrentUnit",
    "DataRate": "DataRateUnit",
    "DataSize": "DataSizeUnit",
    "Density": "DensityUnit",
    "Distance": "LengthUnit",
    "ElectricCharge": "ChargeUnit",
    "Energy": "EnergyUnit",
    "Force": "ForceUnit",
    "Frequency": "FrequencyUnit",
    "Humidity": "DensityUnit",
    "Illuminance": "IlluminanceUnit",
    "Inductance": "InductanceUnit",
    "Latitude": "AngleUnit",
    "Length": "LengthUnit",
    "Longitude": "AngleUnit",
    "Luminance": "LuminanceUnit",
    "Luminosity": "PowerUnit",
    "LuminousFlux": "LuminousFluxUnit",
    "LuminousIntensity": "LuminousIntensityUnit",
    "MagneticFlux": "MagneticFluxUnit",
    "MagneticInduction": "MagneticInductionUnit",
    "Mass": "MassUnit",
    "MassFlowRate": "MassFlowRateUnit",
    "Power": "PowerUnit",
    "Pressure": "PressureUnit",
    "RelativeHumidity": "Unitless",
    "Resistance": "ResistanceUnit",
    "SoundPressure": "SoundPressureUnit",
    "Temperature": "TemperatureUnit",
    "Thrust": "ForceUnit",
    "TimeSpan": "TimeUnit",
    "Torque": "TorqueUnit",
    "Velocity": "VelocityUnit",
    "Voltage": "VoltageUnit",
    "Volume": "VolumeUnit",
    "VolumeFlowRate": "VolumeFlowRateUnit",
}

SEMANTIC_TYPES_V3: Final[dict[str, str]] = dict(
    sorted(
        {
            **SEMANTIC_TYPES_V2,
            "ApparentEnergy": "ApparentEnergyUnit",
            "ApparentPower": "ApparentPowerUnit",
            "Concentration": "Unitless",
            "EnergyRate": "PowerUnit",
            "IonizingRadiationDose": "IonizingRadiationDoseUnit",
            "Irradiance": "IrradianceUnit",
            "Radioactivity": "RadioactivityUnit",
            "ReactiveEnergy": "ReactiveEnergyUnit",
            "ReactivePower": "ReactivePowerUnit",
            "RelativeDensity": "Unitless",
        }.items()
    )
)

_PREFIXES: Final = """
deci centi milli micro nano pico femto atto zepto yocto hecto kilo mega giga tera peta exa
zetta yotta kibi mebi gibi tebi pebi exbi zebi yobi
"""
UNIT_PREFIXES_V2: Final = _units(_PREFIXES) | {"deka"}
"""DTDL v2 spells the 10^1 prefix ``deka``; QuantitativeTypes v1 spells it ``deca``."""
UNIT_PREFIXES_V3: Final = _units(_PREFIXES) | {"deca"}

# A pint expression for every DTDL unit. Names not in pint's default registry
# (``bel``, ``partsPerBillion``... and SI forms of ``maxwell``/``gauss``, which pint defines in
# the Gaussian system) are defined by twinkit's registry: see ``_quantities.EXTRA_DEFINITIONS``.
PINT_UNITS: Final[dict[str, str]] = {
    # acceleration, angle, angular motion
    "centimetrePerSecondSquared": "cm / s ** 2",
    "gForce": "standard_gravity",
    "metrePerSecondSquared": "m / s ** 2",
    "degreeOfArc": "degree",
    "minuteOfArc": "arcminute",
    "radian": "radian",
    "secondOfArc": "arcsecond",
    "turn": "turn",
    "radianPerSecondSquared": "radian / s ** 2",
    "degreePerSecond": "degree / s",
    "radianPerSecond": "radian / s",
    "revolutionPerMinute": "revolution / minute",
    "revolutionPerSecond": "revolution / s",
    # area
    "acre": "acre",
    "hectare": "hectare",
    "squareCentimetre": "cm ** 2",
    "squareFoot": "ft ** 2",
    "squareInch": "inch ** 2",
    "squareKilometre": "km ** 2",
    "squareMetre": "m ** 2",
    "squareMillimetre": "mm ** 2",
    # electricity and magnetism
    "farad": "farad",
    "microfarad": "microfarad",
    "millifarad": "millifarad",
    "nanofarad": "nanofarad",
    "picofarad": "picofarad",
    "ampereHour": "ampere * hour",
    "coulomb": "coulomb",
    "milliampereHour": "milliampere * hour",
    "ampere": "ampere",
    "kiloampere": "kiloampere",
    "microampere": "microampere",
    "milliampere": "milliampere",
    "henry": "henry",
    "microhenry": "microhenry",
    "millihenry": "millihenry",
    "maxwell": "si_maxwell",
    "weber": "weber",
    "gauss": "si_gauss",
    "tesla": "tesla",
    "kiloohm": "kiloohm",
    "megaohm": "megaohm",
    "milliohm": "milliohm",
    "ohm": "ohm",
    "kilovolt": "kilovolt",
    "megavolt": "megavolt",
    "microvolt": "microvolt",
    "millivolt": "millivolt",
    "volt": "volt",
    "gigavoltAmpereHour": "gigavolt_ampere * hour",
    "kilovoltAmpereHour": "kilovolt_ampere * hour",
    "megavoltAmpereHour": "megavolt_ampere * hour",
    "voltAmpereHour": "volt_ampere * hour",
    "gigavoltAmpere": "gigavolt_ampere",
    "kilovoltAmpere": "kilovolt_ampere",
    "megavoltAmpere": "megavolt_ampere",
    "millivoltAmpere": "millivolt_ampere",
    "voltAmpere": "volt_ampere",
    "gigavoltAmpereReactiveHour": "gigavolt_ampere_reactive * hour",
    "kilovoltAmpereReactiveHour": "kilovolt_ampere_reactive * hour",
    "megavoltAmpereReactiveHour": "megavolt_ampere_reactive * hour",
    "voltAmpereReactiveHour": "volt_ampere_reactive * hour",
    "gigavoltAmpereReactive": "gigavolt_ampere_reactive",
    "kilovoltAmpereReactive": "kilovolt_ampere_reactive",
    "megavoltAmpereReactive": "megavolt_ampere_reactive",
    "millivoltAmpereReactive": "millivolt_ampere_reactive",
    "voltAmpereReactive": "volt_ampere_reactive",
    # density, mass, mass flow
    "gramPerCubicMetre": "g / m ** 3",
    "kilogramPerCubicMetre": "kg / m ** 3",
    "microgramPerCubicMetre": "microgram / m ** 3",
    "milligramPerCubicMetre": "mg / m ** 3",
    "gram": "gram",
    "kilogram": "kilogram",
    "massPound": "pound",
    "microgram": "microgram",
    "milligram": "milligram",
    "slug": "slug",
    "tonne": "tonne",
    "gramPerHour": "g / hour",
    "gramPerSecond": "g / s",
    "kilogramPerHour": "kg / hour",
    "kilogramPerSecond": "kg / s",
    "massPoundPerHour": "pound / hour",
    # energy and power
    "britishThermalUnit": "Btu",
    "electronvolt": "electron_volt",
    "gigajoule": "gigajoule",
    "gigawattHour": "gigawatt * hour",
    "joule": "joule",
    "kiloBritishThermalUnit": "kilobritish_thermal_unit",
    "kilojoule": "kilojoule",
    "kilowattHour": "kilowatt * hour",
    "megaelectronvolt": "megaelectron_volt",
    "megajoule": "megajoule",
    "megawattHour": "megawatt * hour",
    "milliwattHour": "milliwatt * hour",
    "terawattHour": "terawatt * hour",
    "wattHour": "watt * hour",
    "britishThermalUnitPerHour": "Btu / hour",
    "gigajoulePerHour": "gigajoule / hour",
    "gigawatt": "gigawatt",
    "horsepower": "horsepower",
    "joulePerHour": "joule / hour",
    "joulePerSecond": "joule / s",
    "kiloBritishThermalUnitPerHour": "kilobritish_thermal_unit / hour",
    "kilojoulePerHour": "kilojoule / hour",
    "kilojoulePerSecond": "kilojoule / s",
    "kilowatt": "kilowatt",
    "kilowattHourPerYear": "kilowatt * hour / year",
    "megajoulePerHour": "megajoule / hour",
    "megawatt": "megawatt",
    "microwatt": "microwatt",
    "milliwatt": "milliwatt",
    "tonOfRefrigeration": "refrigeration_ton",
    "watt": "watt",
    "wattPerSquareMetre": "watt / m ** 2",
    # data (pint gives bit and byte no physical dimension: they convert among themselves)
    **{unit: unit for unit in _DATA.split()},
    **{f"{unit}PerSecond": f"{unit} / s" for unit in _DATA.split()},
    # force
    "newton": "newton",
    "ounce": "force_ounce",
    "pound": "force_pound",
    "ton": "force_ton",
    # frequency, time
    "gigahertz": "gigahertz",
    "hertz": "hertz",
    "kilohertz": "kilohertz",
    "megahertz": "megahertz",
    "millihertz": "millihertz",
    "day": "day",
    "hour": "hour",
    "microsecond": "microsecond",
    "millisecond": "millisecond",
    "minute": "minute",
    "nanosecond": "nanosecond",
    "second": "second",
    "year": "year",
    # light
    "footcandle": "lumen / ft ** 2",
    "lux": "lux",
    "candelaPerSquareMetre": "candela / m ** 2",
    "lumen": "lumen",
    "candela": "candela",
    # length
    "astronomicalUnit": "astronomical_unit",
    "centimetre": "centimetre",
    "foot": "foot",
    "inch": "inch",
    "kilometre": "kilometre",
    "metre": "metre",
    "micrometre": "micrometre",
    "mile": "mile",
    "millimetre": "millimetre",
    "nanometre": "nanometre",
    "nauticalMile": "nautical_mile",
    # pressure
    "bar": "bar",
    "decapascal": "decapascal",
    "hectopascal": "hectopascal",
    "inchesOfMercury": "inch_Hg",
    "inchesOfWater": "inch_H2O",
    "kilopascal": "kilopascal",
    "millibar": "millibar",
    "millimetresOfMercury": "millimeter_Hg",
    "pascal": "pascal",
    "poundPerSquareInch": "psi",
    # radiation
    "gray": "gray",
    "microgray": "microgray",
    "microsievert": "microsievert",
    "milligray": "milligray",
    "millisievert": "millisievert",
    "sievert": "sievert",
    "becquerel": "becquerel",
    "gigabecquerel": "gigabecquerel",
    "kilobecquerel": "kilobecquerel",
    "megabecquerel": "megabecquerel",
    # sound (logarithmic: bel and decibel convert only to each other)
    "bel": "bel",
    "decibel": "decibel",
    # temperature
    "degreeCelsius": "degC",
    "degreeFahrenheit": "degF",
    "kelvin": "kelvin",
    # torque, velocity
    "newtonMetre": "newton * metre",
    "centimetrePerSecond": "cm / s",
    "kilometrePerHour": "km / hour",
    "kilometrePerSecond": "km / s",
    "knot": "knot",
    "metrePerHour": "m / hour",
    "metrePerSecond": "m / s",
    "milePerHour": "mile / hour",
    "milePerSecond": "mile / s",
    # ratios (no physical dimension)
    "partsPerBillion": "parts_per_billion",
    "partsPerMillion": "ppm",
    "partsPerQuadrillion": "parts_per_quadrillion",
    "partsPerTrillion": "parts_per_trillion",
    "percent": "percent",
    "unity": "dimensionless",
    # volume, volume flow
    "cubicCentimetre": "cm ** 3",
    "cubicFoot": "ft ** 3",
    "cubicInch": "inch ** 3",
    "cubicMetre": "m ** 3",
    "fluidOunce": "fluid_ounce",
    "gallon": "gallon",
    "litre": "litre",
    "millilitre": "millilitre",
    "cubicFootPerMinute": "ft ** 3 / minute",
    "cubicMetrePerHour": "m ** 3 / hour",
    "cubicMetrePerMinute": "m ** 3 / minute",
    "cubicMetrePerSecond": "m ** 3 / s",
    "gallonPerHour": "gallon / hour",
    "gallonPerMinute": "gallon / minute",
    "litrePerHour": "litre / hour",
    "litrePerMinute": "litre / minute",
    "litrePerSecond": "litre / s",
    "millilitrePerHour": "millilitre / hour",
    "millilitrePerMinute": "millilitre / minute",
    "millilitrePerSecond": "millilitre / s",
}
