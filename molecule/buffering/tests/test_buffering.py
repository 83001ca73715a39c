"""Mode http with request buffering: Apache spools each upload to its
temporary directory and sends it on with a Content-Length."""

from tests.integration.upload_checks import (  # noqa: F401
    assert_verify_playbook_passes,
    MIB, ApacheTmpWatcher, annotate_last, check_mode_changes_nothing, upload_and_check)

# The scenario's own port (molecule.yml), so that it can run beside others.
APACHE = "http://127.0.0.1:29192"
UPLOAD_SIZE = 128 * MIB


def test_site_sets_proxy_sendcl_for_glance_path_only(host):
    site = host.file("/etc/apache2/sites-available/glance-api.conf").content_string
    block = site[site.index('<Location "/">'):site.index("</Location>")]
    assert "SetEnv proxy-sendcl 1" in block
    assert site.count("proxy-sendcl") == 1


def test_timeouts_raised_for_buffered_uploads(host):
    site = host.file("/etc/apache2/sites-available/glance-api.conf").content_string
    assert "ProxyTimeout 7200" in site and "timeout=7200" in site
    assert "socket-timeout = 7200" in host.file("/etc/uwsgi/glance-uwsgi.ini").content_string.splitlines()


def test_chunked_upload_is_buffered_and_stored_intact(host):
    with ApacheTmpWatcher(host) as tmp:
        upload_and_check(host, APACHE, "chunked-buffered", UPLOAD_SIZE, rate_limit=64 * MIB)
    annotate_last(apache_tmp_peak=tmp.peak_above_baseline)
    assert tmp.samples > 5
    assert tmp.peak_above_baseline >= UPLOAD_SIZE // 2, tmp.peak_above_baseline
    assert tmp.peak_above_baseline <= UPLOAD_SIZE + MIB, tmp.peak_above_baseline


def test_chunked_upload_throughput_unthrottled(host):
    upload_and_check(host, APACHE, "chunked-buffered-full-speed", UPLOAD_SIZE)


def test_content_length_upload(host):
    upload_and_check(host, APACHE, "content-length-buffered", UPLOAD_SIZE, transfer="content_length")


def test_check_mode_reports_no_change(host):
    check_mode_changes_nothing(host, ["/etc/uwsgi/glance-uwsgi.ini", "/etc/apache2/sites-available/glance-api.conf"])


def test_verify_playbook_uploads_through_the_module(host):
    assert_verify_playbook_passes()


def test_request_bodies_are_capped_at_the_largest_image(host):
    """With buffering, Apache writes bodies to its disk before Glance (and its
    authentication) sees them: LimitRequestBody is glance_wsgi_max_image_size
    instead of unlimited."""
    site = host.file("/etc/apache2/sites-available/glance-api.conf").content_string
    assert "LimitRequestBody 1073741824" in site
    assert "LimitRequestBody 0" not in site
