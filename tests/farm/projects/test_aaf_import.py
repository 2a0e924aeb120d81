"""Importing AAF files: tracks of clips, fillers and crossfades, embedded and linked audio, gain and pan, and refusals."""

import math

import aaf2
import numpy as np
import pytest
import soundfile
from aaf2 import misc
from aaf2.auid import AUID
from aaf2.rational import AAFRational

from farm.errors import ProjectError
from farm.projects import import_project
from tests.helpers.sessions import (
    NULL_LEVEL,
    render_master,
    tone,
    write_session,
    write_stem,
)

RATE = 48000
GAIN = AUID("9d2ea894-0968-11d3-8a38-0050040ef7d2")
PAN_OP = AUID("9d2ea893-0968-11d3-8a38-0050040ef7d2")
AMPLITUDE = AUID("e4962321-2267-11d3-8a4c-0050040ef7d2")
PAN = AUID("e4962322-2267-11d3-8a4c-0050040ef7d2")
REVERB = AUID("11111111-2222-3333-4444-555555555555")


def db(linear):
    return 20 * math.log10(linear)


class Writer:
    """Writes an AAF the way an editor exports one: master mobs over embedded or linked audio, a top-level composition of sound slots."""

    def __init__(self, handle):
        self.f = handle
        self.defs = {}

    def master(self, name, wav_path, link=False):
        mob = self.f.create.MasterMob(name)
        self.f.content.mobs.append(mob)
        if link:
            source = self.f.create.SourceMob(f"{name}.PHYS")
            self.f.content.mobs.append(source)
            facts = soundfile.info(str(wav_path))
            descriptor = self.f.create.PCMDescriptor()
            descriptor["Channels"].value = facts.channels
            descriptor["SampleRate"].value = RATE
            descriptor["AudioSamplingRate"].value = RATE
            descriptor["QuantizationBits"].value = 16
            descriptor["BlockAlign"].value = 2 * facts.channels
            descriptor["AverageBPS"].value = RATE * 2 * facts.channels
            descriptor.length = facts.frames
            locator = self.f.create.NetworkLocator()
            locator["URLString"].value = wav_path.as_uri()
            descriptor["Locator"].append(locator)
            source.descriptor = descriptor
            source_slot = source.create_empty_slot(RATE, media_kind="sound")
            source_slot.segment.length = facts.frames
            slot = mob.create_timeline_slot(edit_rate=RATE)
            slot.segment = source.create_source_clip(source_slot.slot_id, media_kind="sound")
            slot.segment.length = facts.frames
            return mob, slot
        return mob, mob.import_audio_essence(str(wav_path), RATE)

    def operation(self, auid, name, parameter_auid, parameter_name):
        if auid not in self.defs:
            opdef = self.f.create.OperationDef(auid, name, "")
            opdef.media_kind = "sound"
            opdef["NumberInputs"].value = 1
            self.f.dictionary.register_def(opdef)
            pdef = self.f.create.ParameterDef(parameter_auid, parameter_name, "", "Rational")
            self.f.dictionary.register_def(pdef)
            self.defs[auid] = (opdef, pdef)
        return self.defs[auid]

    def interpolation(self, auid, name):
        if auid not in self.defs:
            interp = self.f.create.InterpolationDef(auid, name, "")
            self.f.dictionary.register_def(interp)
            self.defs[auid] = interp
        return self.defs[auid]

    def wrap(self, segment, auid, name, parameter_auid, parameter_name, value=None, points=None, length=None, hold=False):
        opdef, pdef = self.operation(auid, name, parameter_auid, parameter_name)
        group = self.f.create.OperationGroup(opdef, length=length if length is not None else segment.length)
        group.media_kind = "sound"
        group.segments.append(segment)
        if points is None:
            constant = self.f.create.ConstantValue(pdef, value)
            group.parameters.append(constant)
        else:
            varying = self.f.create.VaryingValue()
            varying.parameterdef = pdef
            interpolation = self.interpolation(misc.ConstantInterp, "ConstantInterp") if hold else self.interpolation(misc.LinearInterp, "LinearInterp")
            varying.interpolation = interpolation
            for time, level in points:
                varying.add_keyframe(time, level)
            group.parameters.append(varying)
        return group


def wav16(path, audio):
    soundfile.write(path, audio, RATE, subtype="PCM_16")
    return path


@pytest.fixture
def edit(tmp_path):
    folder = tmp_path / "Edit"
    (folder / "Audio Files").mkdir(parents=True)
    vox = wav16(tmp_path / "vox.wav", tone(330, 3.0, 0.3))
    bass = wav16(tmp_path / "bass.wav", tone(55, 2.0, 0.4, channels=2))
    linked = wav16(folder / "Audio Files" / "room.wav", tone(110, 2.0, 0.2))
    path = folder / "Edit.aaf"
    with aaf2.open(str(path), "w") as handle:
        writer = Writer(handle)
        vox_mob, vox_slot = writer.master("vox", vox)
        bass_mob, bass_slot = writer.master("bass", bass)
        room_mob, room_slot = writer.master("room", linked, link=True)
        composition = handle.create.CompositionMob("Edit Mix")
        composition.usage = "Usage_TopLevel"
        handle.content.mobs.append(composition)

        slot = composition.create_sound_slot(edit_rate=RATE)
        slot.name = "Vox"
        sequence = handle.create.Sequence(media_kind="sound")
        sequence.components.append(handle.create.Filler("sound", RATE // 2))
        first = vox_mob.create_source_clip(slot_id=vox_slot.slot_id, start=RATE // 4, length=RATE)
        first["FadeInLength"].value = RATE // 10
        first["FadeInType"].value = "FadeLinearPower"
        sequence.components.append(first)
        transition = handle.create.Transition("sound", RATE // 5)
        transition["CutPoint"].value = RATE // 10
        dissolve = writer.operation(GAIN, "Mono Audio Gain", AMPLITUDE, "Amplitude")[0]
        transition["OperationGroup"].value = handle.create.OperationGroup(dissolve, length=RATE // 5)
        sequence.components.append(transition)
        second = vox_mob.create_source_clip(slot_id=vox_slot.slot_id, start=RATE, length=RATE)
        sequence.components.append(writer.wrap(second, GAIN, "Mono Audio Gain", AMPLITUDE, "Amplitude", value=AAFRational(1, 2)))
        fader = writer.wrap(sequence, GAIN, "Mono Audio Gain", AMPLITUDE, "Amplitude", points=[(AAFRational(0, 1), AAFRational(1, 1)), (AAFRational(1, 2), AAFRational(1, 4))])
        slot.segment = writer.wrap(fader, PAN_OP, "Mono Audio Pan", PAN, "Pan", value=AAFRational(1, 4), length=fader.length)

        slot = composition.create_sound_slot(edit_rate=RATE)
        slot.name = "Bass"
        sequence = handle.create.Sequence(media_kind="sound")
        clip = bass_mob.create_source_clip(slot_id=bass_slot.slot_id, start=0, length=RATE * 2)
        sequence.components.append(writer.wrap(clip, REVERB, "Avid Reverb", AMPLITUDE, "Amplitude", value=AAFRational(1, 1)))
        slot.segment = sequence

        slot = composition.create_sound_slot(edit_rate=RATE)
        slot.name = "Room"
        sequence = handle.create.Sequence(media_kind="sound")
        sequence.components.append(room_mob.create_source_clip(slot_id=room_slot.slot_id, start=0, length=RATE))
        slot.segment = sequence

        composition.create_sound_slot(edit_rate=RATE).name = "Empty"
    return path


def test_sound_slots_become_tracks_of_clips(edit, tmp_path):
    imported = import_project(edit, tmp_path / "out")
    document = imported.document
    assert document["name"] == "Edit Mix" and document["sample_rate"] == RATE
    assert [track["name"] for track in document["tracks"]] == ["Vox", "Bass", "Room"]
    vox, bass, room = document["tracks"]
    assert vox["clips"] == [
        {"file": "media/vox.wav", "start_s": 0.5, "offset_s": 0.25, "duration_s": 1.0, "fade_in_s": 0.1, "fade_shape": "equal_power", "fade_out_s": 0.2},
        {"file": "media/vox.wav", "start_s": 1.3, "offset_s": 1.0, "duration_s": 1.0, "gain_db": pytest.approx(db(0.5)), "fade_in_s": 0.2, "fade_shape": "linear"},
    ]
    assert vox["pan"] == -0.5
    fader = vox["automation"]["gain_db"]
    assert fader[0] == [0.0, 0.0] and fader[-1] == [pytest.approx(1.15), pytest.approx(db(0.25))]
    assert bass["clips"] == [{"file": "media/bass.wav", "start_s": 0.0, "duration_s": 2.0}]
    assert room["clips"] == [{"file": "media/room.wav", "start_s": 0.0, "duration_s": 1.0}]


def test_embedded_essence_is_written_out_bit_exact(edit, tmp_path):
    import_project(edit, tmp_path / "out")
    written, rate = soundfile.read(tmp_path / "out" / "media" / "bass.wav", dtype="int16")
    original, _ = soundfile.read(tmp_path / "bass.wav", dtype="int16")
    assert rate == RATE and np.array_equal(written, original)


def test_losses_and_notes_are_reported(edit, tmp_path):
    report = import_project(edit, tmp_path / "out").report
    assert [(loss.where, loss.what) for loss in report.losses] == [("track 'Bass'", "effect 'Avid Reverb'")]
    assert {(note.where, note.what) for note in report.notes} == {("track 'Empty'", "track without audio clips")}
    assert report.format == "aaf" and report.counts == {"tracks": 3, "buses": 0, "clips": 4}


def test_linked_media_outside_the_folder_is_found_by_name_inside_it(tmp_path):
    elsewhere = wav16(tmp_path / "recorded.wav", tone(200, 1.0, 0.3))
    folder = tmp_path / "moved"
    folder.mkdir()
    wav16(folder / "recorded.wav", tone(200, 1.0, 0.3))
    path = folder / "moved.aaf"
    with aaf2.open(str(path), "w") as handle:
        writer = Writer(handle)
        mob, slot_ = writer.master("recorded", elsewhere, link=True)
        composition = handle.create.CompositionMob("Moved")
        handle.content.mobs.append(composition)
        slot = composition.create_sound_slot(edit_rate=RATE)
        slot.name = "A"
        sequence = handle.create.Sequence(media_kind="sound")
        sequence.components.append(mob.create_source_clip(slot_id=slot_.slot_id, start=0, length=RATE))
        slot.segment = sequence
    imported = import_project(path, tmp_path / "out")
    assert imported.document["tracks"][0]["clips"][0]["file"] == "media/recorded.wav"
    assert [note.what for note in imported.report.notes] == ["linked media 'recorded.wav'"]
    (folder / "recorded.wav").unlink()
    with pytest.raises(ProjectError, match=r"the linked media 'file://.*recorded.wav' is not inside the project's folder"):
        import_project(path, tmp_path / "out2")


def test_a_file_that_is_not_aaf_is_refused(tmp_path):
    path = tmp_path / "fake.aaf"
    path.write_bytes(b"not an aaf file at all" * 40)
    with pytest.raises(ProjectError, match=r"fake.aaf: not a readable AAF file \(invalid file magic signature"):
        import_project(path, tmp_path / "out")


def test_a_truncated_aaf_is_refused(edit, tmp_path):
    data = edit.read_bytes()
    path = tmp_path / "cut.aaf"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ProjectError, match=r"cut.aaf: (not a readable AAF file|a damaged or unexpected AAF structure)"):
        import_project(path, tmp_path / "out")


def test_an_aaf_renders_as_its_hand_written_session(tmp_path):
    a = tone(220, 2.0, 0.4)
    folder = tmp_path / "twin"
    folder.mkdir()
    source = wav16(tmp_path / "a.wav", a)
    path = folder / "twin.aaf"
    with aaf2.open(str(path), "w") as handle:
        writer = Writer(handle)
        mob, slot_ = writer.master("a", source)
        composition = handle.create.CompositionMob("Twin")
        composition.usage = "Usage_TopLevel"
        handle.content.mobs.append(composition)
        slot = composition.create_sound_slot(edit_rate=RATE)
        slot.name = "A"
        sequence = handle.create.Sequence(media_kind="sound")
        sequence.components.append(handle.create.Filler("sound", RATE // 4))
        clip = mob.create_source_clip(slot_id=slot_.slot_id, start=RATE // 10, length=RATE)
        clip["FadeOutLength"].value = RATE // 5
        clip["FadeOutType"].value = "FadeLinearAmp"
        sequence.components.append(writer.wrap(clip, GAIN, "Mono Audio Gain", AMPLITUDE, "Amplitude", value=AAFRational(1, 2)))
        stepped = writer.wrap(sequence, GAIN, "Mono Audio Gain", AMPLITUDE, "Amplitude", points=[(AAFRational(0, 1), AAFRational(1, 1)), (AAFRational(1, 2), AAFRational(1, 4))], hold=True)
        slot.segment = writer.wrap(stepped, PAN_OP, "Mono Audio Pan", PAN, "Pan", value=AAFRational(3, 4), length=stepped.length)
    imported = import_project(path, tmp_path / "imported")
    assert imported.report.losses == []
    document = imported.document
    document["outputs"] = [{"path": "master.wav", "bit_depth": "32f", "dither": "none"}]
    document["master"] = {"tail_s": 0.0}
    write_session(tmp_path / "imported", document)
    quantised, _ = soundfile.read(source, dtype="float64", always_2d=True)
    write_stem(tmp_path / "hand", "a.wav", quantised)
    hand = {
        "sample_rate": RATE,
        "tracks": [
            {
                "name": "A",
                "clips": [{"file": "stems/a.wav", "start_s": 0.25, "offset_s": 0.1, "duration_s": 1.0, "gain_db": db(0.5), "fade_out_s": 0.2, "fade_shape": "linear"}],
                "pan": 0.5,
                "automation": {"gain_db": [[0.0, 0.0, "hold"], [0.625, db(0.25)]]},
            }
        ],
    }
    write_session(tmp_path / "hand", hand)
    imported_audio, _ = render_master(tmp_path / "imported" / "session.yaml", tmp_path / "render-imported")
    hand_audio, _ = render_master(tmp_path / "hand" / "session.yaml", tmp_path / "render-hand")
    assert imported_audio.shape == hand_audio.shape and np.max(np.abs(hand_audio)) > 0.05
    assert np.max(np.abs(imported_audio - hand_audio)) < NULL_LEVEL
