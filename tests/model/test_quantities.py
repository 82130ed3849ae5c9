"""DTDL's semantic type and unit tables, and unit conversion through pint."""

from __future__ import annotations

import pytest

from twinkit.errors import ValidationError
from twinkit.model import all_terms, pint_unit, semantic_types, unit_types, units_of
from twinkit.model._quantities import conversion, unit_registry

# One pint unit per DTDL unit type, whose dimensionality every unit of the type must have.
REFERENCE = {
    "AccelerationUnit": "m / s ** 2",
    "AngleUnit": "radian",
    "AngularAccelerationUnit": "radian / s ** 2",
    "AngularVelocityUnit": "radian / s",
    "ApparentEnergyUnit": "joule",
    "ApparentPowerUnit": "watt",
    "AreaUnit": "m ** 2",
    "CapacitanceUnit": "farad",
    "ChargeUnit": "coulomb",
    "CurrentUnit": "ampere",
    "DataRateUnit": "bit / s",
    "DataSizeUnit": "bit",
    "DensityUnit": "kg / m ** 3",
    "EnergyUnit": "joule",
    "ForceUnit": "newton",
    "FrequencyUnit": "hertz",
    "IlluminanceUnit": "lux",
    "InductanceUnit": "henry",
    "IonizingRadiationDoseUnit": "gray",
    "IrradianceUnit": "watt / m ** 2",
    "LengthUnit": "metre",
    "LuminanceUnit": "candela / m ** 2",
    "LuminousFluxUnit": "lumen",
    "LuminousIntensityUnit": "candela",
    "MagneticFluxUnit": "weber",
    "MagneticInductionUnit": "tesla",
    "MassFlowRateUnit": "kg / s",
    "MassUnit": "kilogram",
    "PowerUnit": "watt",
    "PressureUnit": "pascal",
    "RadioactivityUnit": "becquerel",
    "ReactiveEnergyUnit": "joule",
    "ReactivePowerUnit": "watt",
    "ResistanceUnit": "ohm",
    "SoundPressureUnit": "decibel",
    "TemperatureUnit": "kelvin",
    "TimeUnit": "second",
    "TorqueUnit": "newton * metre",
    "Unitless": "dimensionless",
    "VelocityUnit": "m / s",
    "VoltageUnit": "volt",
    "VolumeFlowRateUnit": "m ** 3 / s",
    "VolumeUnit": "m ** 3",
}

ALL_UNITS = sorted(
    (unit_type, unit) for unit_type, units in unit_types(3).items() for unit in units
)


def test_v2_tables_match_the_specification_counts() -> None:
    assert len(semantic_types(2)) == 42
    assert len(unit_types(2)) == 36
    assert len(set().union(*unit_types(2).values())) == 172


def test_v3_extends_v2() -> None:
    v2, v3 = semantic_types(2), semantic_types(3)
    assert {k: v3[k] for k in v2} == dict(v2)
    assert set(v3) - set(v2) == {
        "ApparentEnergy", "ApparentPower", "Concentration", "EnergyRate",
        "IonizingRadiationDose", "Irradiance", "Radioactivity", "ReactiveEnergy",
        "ReactivePower", "RelativeDensity",
    }  # fmt: skip
    for unit_type, units in unit_types(2).items():
        assert units <= unit_types(3)[unit_type]


def test_semantic_type_examples() -> None:
    assert units_of("Temperature", 2) == {"degreeCelsius", "degreeFahrenheit", "kelvin"}
    assert semantic_types(2)["Humidity"] == "DensityUnit"
    assert semantic_types(3)["Luminosity"] == "PowerUnit"
    assert "partsPerMillion" in units_of("Concentration", 3)
    assert "partsPerMillion" not in units_of("RelativeHumidity", 2)
    assert "kiloampere" in units_of("Current", 3)
    assert "kiloampere" not in units_of("Current", 2)


def test_every_semantic_type_names_a_unit_type() -> None:
    for version in (2, 3):
        assert set(semantic_types(version).values()) <= set(unit_types(version))


def test_all_terms() -> None:
    assert {"Temperature", "TemperatureUnit", "degreeCelsius", "kilo", "kibi"} <= all_terms(2)
    assert "deka" in all_terms(2) and "deca" not in all_terms(2)
    assert "deca" in all_terms(3) and "deka" not in all_terms(3)
    assert "EnergyRate" in all_terms(3) and "EnergyRate" not in all_terms(2)


def test_unknown_version() -> None:
    with pytest.raises(ValueError, match="version 2 or 3"):
        semantic_types(4)


def test_reference_covers_every_unit_type() -> None:
    assert set(REFERENCE) == set(unit_types(3))


@pytest.mark.parametrize(("unit_type", "unit"), ALL_UNITS, ids=[u for _, u in ALL_UNITS])
def test_every_unit_maps_to_pint_with_the_right_dimensionality(unit_type: str, unit: str) -> None:
    registry = unit_registry()
    parsed = registry.parse_units(pint_unit(unit))
    assert parsed.dimensionality == registry.parse_units(REFERENCE[unit_type]).dimensionality


def test_pint_unit_of_unknown_term() -> None:
    with pytest.raises(ValidationError) as info:
        pint_unit("degreeKelvin")
    assert info.value.got == "degreeKelvin"


@pytest.mark.parametrize(
    ("source", "target", "value", "expected"),
    [
        ("degreeFahrenheit", "degreeCelsius", 70.7, 21.5),
        ("degF", "degreeCelsius", 32.0, 0.0),
        ("kelvin", "degreeCelsius", 273.15, 0.0),
        ("kilopascal", "bar", 250.0, 2.5),
        ("kPa", "bar", 101.325, 1.01325),
        ("revolutionPerMinute", "radianPerSecond", 60.0, 6.283185307179586),
        ("rpm", "revolutionPerSecond", 1450.0, 1450.0 / 60),
        ("percent", "unity", 45.0, 0.45),
        ("partsPerMillion", "percent", 10_000.0, 1.0),
        ("byte", "bit", 2.0, 16.0),
        ("kibibyte", "byte", 1.0, 1024.0),
        ("decibel", "bel", 30.0, 3.0),
        ("gauss", "tesla", 10_000.0, 1.0),
        ("maxwell", "weber", 1e8, 1.0),
        ("milePerHour", "kilometrePerHour", 1.0, 1.609344),
        ("kilowattHour", "megajoule", 1.0, 3.6),
        ("litrePerMinute", "cubicMetrePerHour", 1000.0, 60.0),
        ("kilovoltAmpereReactive", "voltAmpereReactive", 2.0, 2000.0),
    ],
)
def test_conversion(source: str, target: str, value: float, expected: float) -> None:
    factor, offset = conversion(source, target)
    assert value * factor + offset == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("percent", "degreeOfArc"),  # both dimensionless in pint, different DTDL unit types
        ("decibel", "unity"),  # logarithmic: no factor and offset
        ("kelvin", "metre"),
        ("flibbets", "metre"),
        ("radian", "percent"),
        ("count", "percent"),  # dimensionless and not a DTDL unit: ambiguous
    ],
)
def test_conversion_refused(source: str, target: str) -> None:
    with pytest.raises(ValidationError) as info:
        conversion(source, target)
    assert info.value.got == source


def test_import_does_not_load_pint() -> None:
    import subprocess
    import sys

    code = "import sys, twinkit.model; print('pint' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
