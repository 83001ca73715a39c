"""Mode uwsgi: uWSGI's binary protocol on a unix socket behind
mod_proxy_uwsgi for requests with a Content-Length; requests with a chunked
body go to the same uWSGI's loopback http-socket through mod_proxy_http
(httpd's mod_proxy_uwsgi answers 411 to them). Both kinds of upload work."""

import json
import threading
import time

from tests.integration.upload_checks import (  # noqa: F401
    spoofed_forwarding_headers_are_ignored, run_verify_playbook,
    APACHE, MIB, check_mode_changes_nothing, enabled_apache_modules,
    listening_ports, upload_and_check)

from glance_api import GlanceClient, random_blocks

SOCKET = "/run/glance-uwsgi/uwsgi.sock"
CHUNKED_PORT = 29294
UPLOAD_SIZE = 64 * MIB


def test_services(host):
    assert host.service("apache2").is_running
    assert host.service("glance-uwsgi").is_running
    assert host.service("glance-uwsgi").is_enabled


def test_unix_socket_is_0660_owned_by_glance_and_apache_group(host):
    socket = host.file(SOCKET)
    assert socket.is_socket
    assert (socket.user, socket.group, socket.mode) == ("glance", "www-data", 0o660)


def test_uwsgi_listens_on_its_socket_and_a_loopback_http_socket_only(host):
    ini = host.file("/etc/uwsgi/glance-uwsgi.ini").content_string.splitlines()
    assert "socket = %s" % SOCKET in ini
    assert [line for line in ini if line.startswith("http-socket")] == ["http-socket = 127.0.0.1:%d" % CHUNKED_PORT]
    # uWSGI's own list of its sockets (its stats socket), since ss cannot
    # name the processes of another user in the container.
    stats = json.loads(host.check_output(
        "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/glance-uwsgi/stats.sock');"
        " print(s.makefile().read())\""))
    assert sorted(sock["name"] for sock in stats["sockets"]) == sorted(["127.0.0.1:%d" % CHUNKED_PORT, SOCKET])
    assert host.socket("tcp://127.0.0.1:%d" % CHUNKED_PORT).is_listening


def test_apache_sends_chunked_bodies_to_the_http_socket(host):
    modules = enabled_apache_modules(host)
    assert {"proxy", "proxy_uwsgi", "proxy_http", "rewrite"} <= modules
    assert "wsgi" not in modules
    site = host.file("/etc/apache2/sites-available/glance-api.conf").content_string
    assert "ProxyPass / unix:%s|uwsgi://glance-api/ retry=0" % SOCKET in site
    assert "RewriteCond %{HTTP:Transfer-Encoding} chunked [NC]" in site
    assert 'RewriteRule "^/(.*)$" "http://127.0.0.1:%d/$1" [P,L]' % CHUNKED_PORT in site


def test_content_length_upload_works(host):
    upload_and_check(host, APACHE, "content-length-via-uwsgi-proto", UPLOAD_SIZE, transfer="content_length")


def test_chunked_upload_works(host):
    upload_and_check(host, APACHE, "chunked-via-http-socket", UPLOAD_SIZE, transfer="chunked")


def _connections_seen(host, transfer):
    """Uploads slowly with the given transfer and returns which of uWSGI's
    sockets Apache held a connection on meanwhile."""
    client = GlanceClient(APACHE, timeout=120)
    image = client.create_image("hwg-which-socket-%s" % transfer)
    size = 8 * MIB
    done = {}
    sender = threading.Thread(target=lambda: done.update(result=client.upload(
        image["id"], random_blocks(size), transfer=transfer, size=size, rate_limit=2 * MIB)))
    sender.start()
    seen = set()
    while sender.is_alive():
        if host.run("ss -Htn state established '( sport = :%d )' | grep -q ." % CHUNKED_PORT).rc == 0:
            seen.add("http-socket")
        if host.run("ss -Hxp state established | grep -F '%s' | grep -q ." % SOCKET).rc == 0:
            seen.add("uwsgi socket")
        time.sleep(0.2)
    sender.join()
    assert done["result"].status == 204, done["result"].body
    client.delete_image(image["id"])
    return seen


def test_each_transfer_takes_its_own_socket(host):
    """A chunked body travels over the loopback http-socket; a body with a
    Content-Length keeps the uwsgi protocol on the unix socket."""
    assert _connections_seen(host, "chunked") == {"http-socket"}
    assert _connections_seen(host, "content_length") == {"uwsgi socket"}


def test_check_mode_reports_no_change(host):
    check_mode_changes_nothing(host, ["/etc/uwsgi/glance-uwsgi.ini", "/etc/apache2/sites-available/glance-api.conf"])


def test_only_the_scenario_port_is_taken(host):
    assert 29292 in listening_ports(host)


def test_verify_playbook_both_transfers_through_the_module(host):
    rc, results = run_verify_playbook(transfers=["chunked", "content_length"])
    assert rc == 0, results
    for result in results:
        assert result["status"] == "active" and result["download_matched"], result


def test_spoofed_forwarding_headers_do_not_reach_glance(host):
    spoofed_forwarding_headers_are_ignored(APACHE)
