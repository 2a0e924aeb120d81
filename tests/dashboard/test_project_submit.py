"""A DAW project sent to the service: imported on submit, rendered, its loss report in the job's detail and page."""

import io
import zipfile

import httpx
import pytest

from farm.queue.jobfiles import job_folder
from tests.helpers.dawproject import project_xml, wav_bytes, write_dawproject
from tests.helpers.service import ServiceProcess, wait_for_state
from tests.helpers.sessions import tone

STRUCTURE = """
<Track id="t" name="Keys &amp; Pads" contentType="audio">
  <Channel id="c" role="regular"><Devices><Vst3Plugin id="p" deviceName="Pro-Q 3" deviceRole="audioFX"/></Devices><Volume unit="decibel" value="-3"/></Channel>
</Track>
"""
LANES = '<Lanes id="l" track="t"><Clips id="cs"><Clip time="0" duration="4"><Audio channels="1" sampleRate="48000" duration="2"><File path="audio/keys.wav"/></Audio></Clip></Clips></Lanes>'


def bundle_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("projects")
    project = write_dawproject(folder / "Song.dawproject", project_xml(STRUCTURE, LANES), {"audio/keys.wav": wav_bytes(tone(220, 2.0, 0.3))})
    rpp = '<REAPER_PROJECT 0.1 "7.0"\n  <TRACK\n    NAME Bass\n    <ITEM\n      POSITION 0.5\n      LENGTH 1\n      <SOURCE WAVE\n        FILE "audio/bass.wav"\n      >\n    >\n  >\n>\n'
    service = ServiceProcess(folder / "data")
    try:
        with httpx.Client(base_url=service.url, timeout=60) as client:
            jobs = {}
            for key, files in {
                "dawproject": {"Song.dawproject": project.read_bytes()},
                "rpp": {"Bass.rpp": rpp.encode(), "audio/bass.wav": wav_bytes(tone(55, 1.5, 0.3))},
            }.items():
                created = client.post("/api/jobs", files={"bundle": ("b.zip", bundle_of(files))})
                assert created.status_code == 201, created.text
                jobs[key] = wait_for_state(client, created.json()["id"], {"succeeded", "failed"})
            yield service, client, jobs
    finally:
        service.stop()


def test_a_zipped_dawproject_renders_and_its_losses_are_in_the_api(farm):
    service, client, jobs = farm
    job = jobs["dawproject"]
    assert job["state"] == "succeeded", job
    assert job["name"] == "Song" and job["duration_s"] == pytest.approx(2.0 + 2.0)
    detail = client.get(f"/api/jobs/{job['id']}").json()
    imported = detail["import_report"]
    assert imported["project"] == "Song.dawproject" and imported["format"] == "dawproject" and imported["tracks"] == 1
    assert imported["losses"] == [
        {
            "where": "track 'Keys & Pads'",
            "element": "/Project/Structure/Track[1]/Channel/Devices/Vst3Plugin[1]",
            "what": "VST3 plug-in 'Pro-Q 3'",
            "why": "third-party plug-ins cannot run on the farm; the strip renders without it",
        }
    ]
    bundle = job_folder(service.data_dir, job["id"]).joinpath("bundle").local_path
    assert sorted(path.name for path in bundle.iterdir()) == ["import_report.json", "media", "session.yaml"], "the archive is gone once its media are out"


def test_a_zipped_rpp_with_its_media_renders(farm):
    _, client, jobs = farm
    job = jobs["rpp"]
    assert job["state"] == "succeeded", job
    detail = client.get(f"/api/jobs/{job['id']}").json()
    assert detail["import_report"]["format"] == "reaper" and detail["import_report"]["losses"] == []


def test_a_job_sent_as_a_session_has_no_import_report(farm):
    from tests.helpers.service import session_bundle

    _, client, _ = farm
    created = client.post("/api/jobs", files={"bundle": ("b.zip", session_bundle(1.0))})
    assert created.status_code == 201 and created.json()["import_report"] is None


def test_the_job_page_lists_what_was_not_translated(farm):
    service, _, jobs = farm
    page = httpx.get(f"{service.url}/jobs/{jobs['dawproject']['id']}", timeout=60).text
    assert "Imported from Song.dawproject" in page
    assert "VST3 plug-in &#39;Pro-Q 3&#39;" in page and "track &#39;Keys &amp; Pads&#39;" in page


def test_a_broken_project_is_refused_with_400_naming_it(farm):
    _, client, _ = farm
    response = client.post("/api/jobs", files={"bundle": ("b.zip", bundle_of({"Broken.dawproject": b"not a zip"}))})
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("bundle: Broken.dawproject: not a DAWproject file: not a readable zip archive")


def test_a_project_missing_its_media_is_refused_without_the_servers_paths(farm):
    service, client, _ = farm
    rpp = '<REAPER_PROJECT 0.1 "7.0"\n  <TRACK\n    <ITEM\n      POSITION 0\n      LENGTH 1\n      <SOURCE WAVE\n        FILE "gone.wav"\n      >\n    >\n  >\n>\n'
    response = client.post("/api/jobs", files={"bundle": ("b.zip", bundle_of({"Gone.rpp": rpp.encode()}))})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail.startswith("bundle: Gone.rpp: TRACK[1]/ITEM[1]/SOURCE/FILE: the media file 'gone.wav' is missing")
    assert str(service.data_dir) not in detail and "/tmp" not in detail
