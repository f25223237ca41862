"""The end of `make test`: tests skipped for missing Debian packages, and how to install them."""

import shutil

from system_packages import installed, packages, summary


def test_skips_for_missing_packages_are_listed_with_the_install_command():
    skipped = [("tests/test_boards.py::test_a", "QEMU and the ARM/RISC-V cross compilers are not installed "
                                                "(.ci/apt-packages)"),
               ("tests/test_audio.py::test_b", "needs espeak-ng (Debian)"),
               ("tests/test_micro.py::test_c", "arm-none-eabi-gcc is not on PATH"),
               ("tests/test_backend_tvm.py", 'Apache TVM is not installed: pip install "heiti[tvm]"')]
    lines = summary(skipped, ["gcc-arm-none-eabi", "espeak-ng"])
    assert [line.split(":")[0] for line in lines[:3]] == ["tests/test_boards.py", "tests/test_audio.py",
                                                          "tests/test_micro.py"]
    assert "3 test(s) skipped: missing Debian package(s) gcc-arm-none-eabi espeak-ng" in lines
    assert lines[-1].startswith("install them: sudo apt-get install -y gcc-arm-none-eabi espeak-ng")
    assert summary(skipped, []) == []  # nothing missing: nothing to say


def test_the_package_list_names_what_the_tests_look_for():
    listed = packages()
    assert {"qemu-system-arm", "gcc-arm-none-eabi", "mosquitto", "espeak-ng", "cmake", "make"} <= set(listed)
    assert installed("gcc") == (shutil.which("gcc") is not None)
