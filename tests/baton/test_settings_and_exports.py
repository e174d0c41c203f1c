from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest

from baton.errors import ConfigError
from baton.pseudonym import Pseudonymizer, load_key
from baton.settings import load


@dataclasses.dataclass(frozen=True)
class Example:
    port: int = 1
    name: str = "default"
    ratio: float = 0.5
    verbose: bool = False
    path: Path | None = None


def test_flags_beat_environment_beat_file_beat_defaults(tmp_path: Path):
    config = tmp_path / "baton.toml"
    config.write_text('[example]\nport = 3\nname = "from-file"\nratio = 0.25\n')
    env = {"BATON_CONFIG": str(config), "BATON_EXAMPLE_PORT": "2", "BATON_EXAMPLE_VERBOSE": "yes"}
    settings = load(Example, "example", {"port": None, "name": None}, environ=env)
    assert settings == Example(port=2, name="from-file", ratio=0.25, verbose=True)
    settings = load(Example, "example", {"port": 9}, environ=env)
    assert settings.port == 9
    assert load(Example, "example", environ={"BATON_CONFIG": str(config)}).port == 3
    assert load(Example, "example", environ={"BATON_EXAMPLE_PATH": "a/b"}).path == Path("a/b")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BATON_EXAMPLE_PORT": "many"}, "'many' is not a valid int"),
        ({"BATON_EXAMPLE_VERBOSE": "perhaps"}, "not a valid bool"),
        ({"BATON_CONFIG": "/nonexistent/baton.toml"}, "does not exist"),
    ],
)
def test_bad_values_are_clear_errors(env: dict[str, str], message: str):
    with pytest.raises(ConfigError, match=message):
        load(Example, "example", environ=env)


def test_broken_toml_names_the_file(tmp_path: Path):
    config = tmp_path / "baton.toml"
    config.write_text("[example\n")
    with pytest.raises(ConfigError, match=r"baton\.toml"):
        load(Example, "example", environ={"BATON_CONFIG": str(config)})


def test_pseudonyms_depend_on_the_key_and_kind():
    a, b = Pseudonymizer(b"k" * 16), Pseudonymizer(b"j" * 16)
    assert a("case", "REF-1") != b("case", "REF-1")
    assert a("case", "REF-1") != a("person", "REF-1")
    assert "REF-1" not in a("case", "REF-1")
    with pytest.raises(ConfigError):
        Pseudonymizer(b"short")


def test_key_file_is_created_private_and_reused(tmp_path: Path):
    path = tmp_path / "k" / "pseudonym.key"
    key = load_key(path, environ={})
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_key(path, environ={}) == key
    assert load_key(path, environ={"BATON_PSEUDONYM_KEY": "x" * 20}) == b"x" * 20


@pytest.mark.parametrize("package", ["collector", "dashboard", "mining", "orchestrator"])
def test_all_is_sorted_and_complete(package: str):
    module = importlib.import_module(package)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith(f"{package}.")
    }
    assert module.__all__ == sorted(module.__all__)
    assert public <= set(module.__all__)
