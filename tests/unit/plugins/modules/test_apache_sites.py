"""httpd_wsgi.glance.apache_sites, the record that lets several sites of the
apache_proxy role share one Apache: Listen lines of every site whatever the
order, addresses other files declare, conflicts, module ownership, the
migration of the Listen file earlier versions wrote."""

import importlib.util
import json
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "apache_sites", Path(__file__).resolve().parents[4] / "plugins" / "modules" / "apache_sites.py")
apache_sites = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(apache_sites)

MARKER = "# Listen directives; the virtual hosts are in the sites."


@pytest.fixture
def tree(tmp_path):
    for sub in ("sites-enabled", "conf-available", "conf-enabled", "registry"):
        (tmp_path / sub).mkdir()
    (tmp_path / "ports.conf").write_text("Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n")
    return tmp_path


def _params(tree, site, listen=(), modules=(), state="present", **more):
    params = dict(registry_dir=str(tree / "registry"), site=site, state=state, listen=list(listen),
                  modules=list(modules), enabled_modules=[], disable_modules=[],
                  listen_file=str(tree / "conf-available" / "listen.conf"),
                  scan=[str(tree / "ports.conf"), str(tree / "sites-enabled" / "*"), str(tree / "conf-enabled" / "*")],
                  ignore_files=[], legacy_marker=MARKER, legacy_keep_files=[str(tree / "ports.conf")], header="# h")
    params.update(more)
    return params


def _listen(tree):
    return (tree / "conf-available" / "listen.conf").read_text().splitlines()[1:]


def test_every_sites_listen_whatever_the_order(tree):
    apache_sites.run(_params(tree, "glance", ["127.0.0.1:9292"], ["proxy", "proxy_http"]), False)
    apache_sites.run(_params(tree, "keystone", ["127.0.0.1:5000"], ["proxy", "proxy_http"]), False)
    assert _listen(tree) == ["Listen 127.0.0.1:5000", "Listen 127.0.0.1:9292"]
    again = apache_sites.run(_params(tree, "glance", ["127.0.0.1:9292"], ["proxy", "proxy_http"]), False)
    assert not again["changed"] and again["sites"] == ["glance", "keystone"]


def test_an_address_another_file_declares_is_left_to_it(tree):
    result = apache_sites.run(_params(tree, "web", ["80", "127.0.0.1:443", "8080"]), False)
    assert result["listen"] == ["8080"]
    assert result["declared_elsewhere"] == {"80": str(tree / "ports.conf"), "127.0.0.1:443": str(tree / "ports.conf")}
    # Once the stock lines do not count (apache_proxy_disable_stock_listen),
    # the site declares them itself.
    result = apache_sites.run(_params(tree, "web", ["80", "8080"], ignore_files=[str(tree / "ports.conf")]), False)
    assert result["listen"] == ["80", "8080"]


def test_a_wildcard_next_to_another_files_single_address_is_refused_before_any_write(tree):
    (tree / "sites-enabled" / "other.conf").write_text("Listen 127.0.0.1:9292\n")
    with pytest.raises(apache_sites.Conflict, match="Apache cannot bind both"):
        apache_sites.run(_params(tree, "glance", ["9292"]), False)
    assert not (tree / "conf-available" / "listen.conf").exists()
    assert not list((tree / "registry").iterdir())


def test_a_wildcard_site_covers_a_single_address_site_on_its_port(tree):
    apache_sites.run(_params(tree, "a", ["127.0.0.1:9000"]), False)
    result = apache_sites.run(_params(tree, "b", ["9000"]), False)
    assert result["listen"] == ["9000"]


def test_only_modules_the_role_enabled_and_no_site_needs_go(tree):
    apache_sites.run(_params(tree, "glance", ["9292"], ["proxy", "proxy_uwsgi"],
                             enabled_modules=["proxy", "proxy_uwsgi"]), False)
    apache_sites.run(_params(tree, "keystone", ["5000"], ["proxy", "proxy_http"], enabled_modules=["proxy_http"]), False)
    # Glance switches to mod_wsgi: proxy_uwsgi goes, proxy stays (Keystone).
    result = apache_sites.run(_params(tree, "glance", ["9292"], ["wsgi"]), False)
    assert result["disable_modules"] == ["proxy_uwsgi"]
    # A module the role never enabled (the distribution's or another
    # service's) is never disabled unasked.
    result = apache_sites.run(_params(tree, "keystone", state="absent"), False)
    assert result["disable_modules"] == ["proxy_http", "proxy"]
    assert json.loads((tree / "registry" / "modules.json").read_text()) == {"enabled_by_role": []}
    assert _listen(tree) == ["Listen 9292"]


def test_check_mode_writes_nothing(tree):
    result = apache_sites.run(_params(tree, "glance", ["9292"]), True)
    assert result["changed"] and result["listen"] == ["9292"]
    assert not (tree / "conf-available" / "listen.conf").exists()
    assert not list((tree / "registry").iterdir())


def test_the_listen_file_of_an_earlier_version_is_migrated(tree):
    (tree / "ports.conf").write_text("# managed\n%s\nListen 127.0.0.1:9292\n" % MARKER)
    (tree / "conf-enabled" / "00-glance-api-listen.conf").write_text("%s\nListen 127.0.0.1:9292\n" % MARKER)
    result = apache_sites.run(_params(tree, "glance-api", ["127.0.0.1:9292"]), False)
    assert result["listen"] == ["127.0.0.1:9292"]
    assert "\nListen" not in (tree / "ports.conf").read_text()
    assert "# Listen 127.0.0.1:9292" in (tree / "ports.conf").read_text()
    assert not (tree / "conf-enabled" / "00-glance-api-listen.conf").exists()
