"""The README's tables cannot drift from the code."""

import re
from pathlib import Path

from kakatong.config import documented_variables
from kakatong.domain.settings import MERCHANT_FIELDS, SPECS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_environment_variable_is_in_the_readme_table_and_no_other():
    listed = set(re.findall(r"^\| `(KAKATONG_[A-Z_]+)` \|", README, re.M))
    assert listed == set(documented_variables())


def test_every_setting_is_in_the_readme():
    for key in [*SPECS, *MERCHANT_FIELDS]:
        assert f"`{key}`" in README, key


def test_the_readme_gives_the_two_set_up_commands():
    assert "make run" in README and "make test" in README
