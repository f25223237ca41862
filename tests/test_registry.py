"""Third-party components arrive through the ``heiti.components`` entry-point group."""

import subprocess
import sys
import textwrap


def test_entry_point_component_is_listed_and_usable(tmp_path):
    # a real installed distribution: a package plus its .dist-info with entry_points.txt
    package = tmp_path / "acme_heiti"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        from heiti.core.steps import Optimizer

        class Identity(Optimizer):
            """Copies an ONNX model unchanged (a third-party example)."""

            name = "acme-identity"
            input_formats = ("onnx",)
    '''))
    info = tmp_path / "acme_heiti-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-heiti\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[heiti.components]\nacme-identity = acme_heiti:Identity\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "heiti", "info", "acme-identity"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "acme-identity (optimizer)" in result.stdout
    assert "Copies an ONNX model unchanged" in result.stdout


def test_a_submodule_of_a_missing_package_counts_as_missing():
    from heiti.core.steps import Runtime

    class NeedsSubmodule(Runtime):
        name = "needs-submodule"
        requires = ("heiti_absent_package.runtime",)

    assert NeedsSubmodule.missing_modules() == ["heiti_absent_package.runtime"]
