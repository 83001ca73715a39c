"""The upload client against the stand-in Glance: chunk framing, Expect
handling, early refusals, hashes and downloads."""

import hashlib
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))
sys.path.insert(0, str(ROOT / "tests" / "unit"))

from glance_api import GlanceClient, GlanceError, file_blocks, random_blocks  # noqa: E402
from glance_stub import StubGlance  # noqa: E402

MIB = 1024 * 1024


@pytest.fixture
def glance():
    with StubGlance() as server:
        yield server


def test_chunked_upload_sends_chunks_of_the_asked_size(glance):
    client = GlanceClient(glance.endpoint)
    image = client.create_image("t")
    result = client.upload(image["id"], random_blocks(3 * MIB + 5, block_size=700 * 1024),
                           chunk_size=MIB)
    assert result.status == 204
    assert glance.chunk_sizes == [MIB, MIB, MIB, 5]
    stored = client.wait_for_status(image["id"])
    assert (stored["size"], stored["checksum"], stored["os_hash_value"]) == (result.size, result.md5, result.sha512)


def test_chunks_far_larger_than_one_mib(glance):
    client = GlanceClient(glance.endpoint)
    image = client.create_image("t")
    client.upload(image["id"], random_blocks(16 * MIB), chunk_size=8 * MIB)
    assert glance.chunk_sizes == [8 * MIB, 8 * MIB]


def test_content_length_upload_and_download(glance, tmp_path):
    source = tmp_path / "image"
    source.write_bytes(os.urandom(2 * MIB + 3))
    client = GlanceClient(glance.endpoint)
    image = client.create_image("t")
    result = client.upload(image["id"], file_blocks(str(source)), transfer="content_length",
                           size=source.stat().st_size)
    assert result.status == 204 and glance.chunk_sizes == []
    assert result.md5 == hashlib.md5(source.read_bytes()).hexdigest()
    assert client.download(image["id"]) == (result.size, result.md5, result.sha512)


def test_content_length_needs_the_size(glance):
    with pytest.raises(ValueError):
        GlanceClient(glance.endpoint).upload("x", random_blocks(1), transfer="content_length")


def test_wrong_declared_size_is_caught(glance):
    client = GlanceClient(glance.endpoint)
    image = client.create_image("t")
    with pytest.raises((ValueError, OSError)):
        client.upload(image["id"], random_blocks(10), transfer="content_length", size=5)


def test_expect_continue_waits_for_100(glance):
    client = GlanceClient(glance.endpoint)
    image = client.create_image("t")
    result = client.upload(image["id"], random_blocks(MIB), expect_continue=True, continue_timeout=5)
    assert result.status == 204 and result.saw_continue
    assert result.seconds < 2
    assert glance.expect_headers == ["100-continue"]


def test_expect_continue_sends_anyway_after_timeout(glance):
    glance.send_continue = False
    client = GlanceClient(glance.endpoint)
    image = client.create_image("t")
    started = time.time()
    result = client.upload(image["id"], random_blocks(MIB), expect_continue=True, continue_timeout=0.5)
    assert result.status == 204 and not result.saw_continue
    assert time.time() - started >= 0.5


def test_refusal_before_the_body_is_reported(glance):
    glance.refuse_chunked = True
    client = GlanceClient(glance.endpoint)
    image = client.create_image("t")
    result = client.upload(image["id"], random_blocks(64 * MIB), expect_continue=True, continue_timeout=5)
    assert result.status == 411 and "Length Required" in result.body
    assert result.seconds < 2


def test_rate_limit_slows_the_sender(glance):
    client = GlanceClient(glance.endpoint)
    image = client.create_image("t")
    result = client.upload(image["id"], random_blocks(2 * MIB), rate_limit=4 * MIB)
    assert result.seconds >= 0.45


def test_http_errors_carry_status_and_message(glance):
    client = GlanceClient(glance.endpoint)
    with pytest.raises(GlanceError) as error:
        client.get_image("missing")
    assert error.value.status == 404 and "no such image" in str(error.value)


def test_endpoint_must_be_http():
    with pytest.raises(ValueError):
        GlanceClient("ftp://127.0.0.1/")


@pytest.mark.parametrize("endpoint, host_header", [
    ("http://[::1]:9292", "[::1]:9292"),
    ("https://[2001:db8::5]/image", "[2001:db8::5]:443"),
    ("http://127.0.0.1:29292", "127.0.0.1:29292"),
    ("http://glance.example", "glance.example:80"),
])
def test_the_host_header_brackets_an_ipv6_address(endpoint, host_header):
    assert GlanceClient(endpoint).host_header == host_header


@pytest.mark.parametrize("transfer", ["chunked", "content_length"])
def test_upload_file_sends_the_file_repeated_without_hashing(glance, tmp_path, transfer):
    source = tmp_path / "image"
    source.write_bytes(os.urandom(MIB + 7))
    client = GlanceClient(glance.endpoint)
    image = client.create_image("t")
    result = client.upload_file(image["id"], str(source), transfer=transfer, repeat=3, chunk_size=256 * 1024)
    assert result.status == 204 and result.size == 3 * (MIB + 7) and result.md5 is None
    expected = hashlib.md5(source.read_bytes() * 3).hexdigest()
    assert client.wait_for_status(image["id"])["checksum"] == expected
    if transfer == "chunked":
        assert glance.chunk_sizes == ([256 * 1024] * 4 + [7]) * 3


def test_upload_file_reports_an_early_refusal(glance, tmp_path):
    source = tmp_path / "image"
    source.write_bytes(os.urandom(4 * MIB))
    glance.refuse_chunked = True
    client = GlanceClient(glance.endpoint)
    image = client.create_image("t")
    assert client.upload_file(image["id"], str(source)).status == 411
