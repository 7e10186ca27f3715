"""Set-up: the packages the bench needs, through tools/apt-install (the tools' one apt
helper), and the build: initwatch and spawn_storm from the main CMake project, configured
once with -DINITWATCH_BENCH=ON in a build directory of the bench's own."""

import os
import subprocess
import sys

from .base import TOP, BenchError, read, run

BUILD = os.environ.get("INITWATCH_BENCH_BUILD_DIR", os.path.join(TOP, "build-bench"))
APT_INSTALL = os.path.join(TOP, "tools", "apt-install")


def install(pkgs):
    """Installs those of `pkgs` that are missing (tools/apt-install says which)."""
    run([APT_INSTALL, *pkgs], stdout=subprocess.DEVNULL)


def download(directory, pkgs):
    """Downloads the .deb files of `pkgs` into `directory` (refreshing a stale index)."""
    run([APT_INSTALL, "--download", directory, *pkgs], stdout=subprocess.DEVNULL)


def build(logdir):
    """What building and running need (tools/setup --run), then initwatch and spawn_storm
    in BUILD: the paths of the two programs."""
    logfile = os.path.join(logdir, "build.log")
    with open(logfile, "w") as out:
        try:
            run([os.path.join(TOP, "tools", "setup"), "--run"], stdout=out, stderr=out)
            if not os.path.exists(os.path.join(BUILD, "CMakeCache.txt")):
                run(["cmake", "-S", TOP, "-B", BUILD, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                     "-DINITWATCH_BENCH=ON", "-DBUILD_TESTING=OFF"], stdout=out, stderr=out)
            run(["cmake", "--build", BUILD, f"-j{os.cpu_count()}", "--target", "initwatch", "spawn_storm"],
                stdout=out, stderr=out)
        except subprocess.CalledProcessError:
            sys.stderr.write(read(logfile)[-4000:])
            raise BenchError(f"the build failed (log: {logfile})")
    return os.path.join(BUILD, "initwatch"), os.path.join(BUILD, "tools", "bench-src", "spawn_storm")
