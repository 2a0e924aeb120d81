"""docs/session-format.md against the session models: every model and field documented, every generated table current."""

import re

import pytest
import yaml
from pydantic import BaseModel, Field

from dsp.eq import KINDS
from farm.session import LOUDNESS_PRESETS, Session
from farm.session.checks import check_meaning
from farm.session.effects import SPEC_MODELS, EqBandSpec
from farm.session.reference import (
    DOC_PATH,
    REGENERATE,
    documented_models,
    field_description,
    main,
    problems,
    regenerate,
)

DOC = DOC_PATH.read_text(encoding="utf-8")
HOW_TO_FIX = f"Run `{REGENERATE}` to regenerate its tables, then write the prose for any new model or field."


def region(text: str, kind: str, key: str) -> str:
    """The generated text between ``<!-- kind: key -->`` and its end marker."""
    match = re.search(rf"<!-- {kind}: {re.escape(key)} -->\n(.*?)<!-- end {kind} -->", text, re.DOTALL)
    assert match, f"docs/session-format.md has no '<!-- {kind}: {key} -->' region. {HOW_TO_FIX}"
    return match.group(1)


def test_the_reference_documents_the_models_exactly():
    found = problems(DOC)
    assert not found, "docs/session-format.md has drifted from the session models:\n  " + "\n  ".join(found) + f"\n{HOW_TO_FIX}"


def test_every_effect_type_and_eq_band_is_a_documented_model():
    documented = set(documented_models().values())
    assert set(SPEC_MODELS.values()) | {EqBandSpec} <= documented
    for name in SPEC_MODELS:
        assert documented_models()[name] is SPEC_MODELS[name]
        region(DOC, "fields", name)


@pytest.mark.parametrize("name", list(documented_models()))
def test_every_field_has_a_row_with_a_description(name):
    model = documented_models()[name]
    rows = {row.split(" | ")[0].strip("| `"): row for row in region(DOC, "fields", name).splitlines()[2:]}
    written = {info.alias or field: field for field, info in model.model_fields.items()}
    assert list(rows) == list(written), f"{name}: the table's fields differ from the model's. {HOW_TO_FIX}"
    for field, row in rows.items():
        assert field_description(model, written[field]) and row.rstrip(" |").rsplit(" | ", 1)[-1].strip(), f"{name}.{field} is undocumented"


def test_a_stale_table_is_reported_and_regenerated():
    track = region(DOC, "fields", "Track")
    stale = DOC.replace(track, track.replace("| -144 to 24 |", "| -96 to 24 |", 1))
    assert stale != DOC
    assert "region 'fields: Track' is out of date" in problems(stale)
    assert regenerate(stale) == DOC


def test_a_missing_table_a_bad_region_and_a_broken_link_are_reported():
    without_clip = DOC.replace(f"<!-- fields: Clip -->\n{region(DOC, 'fields', 'Clip')}<!-- end fields -->\n", "")
    assert "Clip has no field table (<!-- fields: Clip --> ... <!-- end fields -->)" in problems(without_clip)
    assert "region 'fields: Chorus' names no model or table" in problems(DOC + "\n<!-- fields: Chorus -->\n<!-- end fields -->\n")
    assert "a region has no end marker (<!-- end fields --> or <!-- end table -->)" in problems(DOC + "\n<!-- fields: Clip -->\n")
    assert "link to #send, which no heading makes" in problems(DOC.replace("\n### Send\n", "\n### Sends\n"))


def test_a_field_without_a_description_is_reported():
    class Knob(BaseModel):
        level_db: float = Field(0.0, description="The knob's level in dB.")
        bare: int = 0

    text = "## Knob\n<!-- fields: Knob -->\n<!-- end fields -->\n"
    assert problems(regenerate(text, {"Knob": Knob}), {"Knob": Knob}) == [
        "Knob.bare has no description (give its Field a description, or its dsp class's docstring a Parameters entry)"
    ]
    assert problems(text, {"Knob": Knob})[0] == "region 'fields: Knob' is out of date"


def test_effect_parameters_are_described_by_their_dsp_classes():
    assert ">= 1" in field_description(SPEC_MODELS["compressor"], "ratio")
    assert field_description(EqBandSpec, "kind") == "One of " + ", ".join(f"`{kind}`" for kind in KINDS) + "."
    assert "`gain_db` decibels" in field_description(SPEC_MODELS["gain"], "gain_db")
    assert "null" in field_description(SPEC_MODELS["delay"], "highcut_hz")


def test_the_presets_table_gives_every_target_and_ceiling():
    rows = region(DOC, "table", "presets").splitlines()[2:]
    assert {re.sub(r"[|`]", " ", row).split()[0]: tuple(map(float, re.sub(r"[|`]", " ", row).split()[1:])) for row in rows} == LOUDNESS_PRESETS


def test_the_example_session_is_valid():
    example = DOC.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    session = Session.model_validate(yaml.safe_load(example))
    assert check_meaning(session) == []


def test_the_command_rewrites_a_stale_reference_and_check_reports_it(tmp_path, capsys):
    stale = tmp_path / "session-format.md"
    stale.write_text(DOC.replace("| `cd` | -9 | -0.3 |", "| `cd` | -8 | -0.3 |"), encoding="utf-8")
    assert main(["--check", str(stale)]) == 1
    assert "region 'table: presets' is out of date" in capsys.readouterr().err
    assert main([str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == DOC
    assert main(["--check", str(stale)]) == 0
