"""Build the test FMUs from the sources beside this file (no binary is committed).

- :func:`build_oscillator`: ``oscillator.py`` through pythonfmu, an FMI 2.0 co-simulation FMU
  that runs Python inside the FMU (pythonfmu 0.7 makes FMI 2.0 co-simulation only);
- :func:`build_ball`: ``ball.h`` with ``fmi2_ball.c`` or ``fmi3_ball.c`` compiled by the C
  compiler against the FMI headers FMPy ships, an FMU with both model exchange and
  co-simulation, for FMI 2.0 or 3.0.

The test suite's fixtures and ``bench/sim_fmu.py`` both use these, so the benchmark runs the
same FMUs the tests check.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def compiler() -> str | None:
    """The C compiler to build the C FMUs with (gcc or cc), or None."""
    return shutil.which("gcc") or shutil.which("cc")


def build_oscillator(dest: Path) -> Path:
    """The pythonfmu oscillator FMU (FMI 2.0 co-simulation, state get/set/serialize) in dest."""
    from pythonfmu.builder import FmuBuilder

    dest.mkdir(parents=True, exist_ok=True)
    return Path(
        FmuBuilder.build_FMU(
            HERE / "oscillator.py",
            dest=dest,
            canGetAndSetFMUstate=True,
            canSerializeFMUstate=True,
        )
    )


def build_ball(version: int, dest: Path, *, state: bool = True, serialize: bool = True) -> Path:
    """The C bouncing-ball FMU for FMI ``version`` (2 or 3), model exchange and co-simulation.

    With ``state=False`` its description says it cannot get and set its state, with
    ``serialize=False`` that it cannot serialize it (the code still could: only what the
    description declares counts).
    """
    import fmpy

    if version not in (2, 3):
        raise ValueError(f"FMI version must be 2 or 3, got {version!r}")
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler (gcc or cc) to build the test FMU with")
    dest.mkdir(parents=True, exist_ok=True)
    suffix = ("" if state else "-stateless") + ("" if serialize else "-unserializable")
    work = dest / f"ball{version}-build{suffix}"
    work.mkdir(exist_ok=True)
    library = work / "ball.so"
    sources = [HERE / f"fmi{version}_ball.c"]
    if version == 3:
        sources.append(HERE / "fmi3_stubs.c")
    headers = Path(fmpy.__file__).parent / "c-code"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O2", "-I", str(headers), "-I", str(HERE)]
        + [str(s) for s in sources]
        + ["-o", str(library), "-lm"],
        check=True,
        capture_output=True,
        text=True,
    )
    platform = fmpy.platform if version == 2 else fmpy.platform_tuple
    fmu = dest / f"ball{version}{suffix}.fmu"
    description = (HERE / f"ball_fmi{version}.xml").read_text(encoding="utf-8")
    for flag, keep in (("GetAndSet", state), ("Serialize", serialize and state)):
        if not keep:
            for spelling in ("FMUstate", "FMUState"):
                description = description.replace(
                    f'can{flag}{spelling}="true"', f'can{flag}{spelling}="false"'
                )
    with zipfile.ZipFile(fmu, "w") as archive:
        archive.writestr("modelDescription.xml", description)
        archive.write(library, f"binaries/{platform}/ball{fmpy.sharedLibraryExtension}")
    shutil.rmtree(work)
    return fmu
