# -*- coding: utf-8 -*-
# Copyright: httpd_wsgi.glance contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Keystone tokens for this collection's modules: from password credentials
(an openstack.cloud-style auth dict) through keystoneauth1 where the host has
it, else with one Keystone v3 password request; or from a clouds.yaml cloud
through openstacksdk."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import urllib.error

from ansible.module_utils.urls import open_url


class KeystoneError(Exception):
    """Keystone refused the credentials or could not be reached."""


def check_auth(auth):
    """Return a message for credentials that cannot work, or None (the
    module's argument spec already requires each key)."""
    if not auth["auth_url"].startswith(("http://", "https://")):
        return "auth.auth_url must be an http or https URL, got %s" % auth["auth_url"]
    return None


def password_token(auth, timeout=60, validate_certs=True, ca_path=None):
    """A project-scoped token for ``auth``."""
    user_domain = auth.get("user_domain_name") or "Default"
    project_domain = auth.get("project_domain_name") or "Default"
    try:
        from keystoneauth1 import exceptions as ks_exceptions
        from keystoneauth1 import session as ks_session
        from keystoneauth1.identity import v3
    except ImportError:
        return _plain_password_token(auth, user_domain, project_domain, timeout, validate_certs, ca_path)
    plugin = v3.Password(auth_url=auth["auth_url"], username=auth["username"], password=auth["password"],
                         project_name=auth["project_name"], user_domain_name=user_domain,
                         project_domain_name=project_domain)
    session = ks_session.Session(auth=plugin, verify=ca_path or validate_certs, timeout=timeout)
    try:
        return session.get_token()
    except ks_exceptions.ClientException as error:
        raise KeystoneError("Keystone at %s gave no token: %s" % (auth["auth_url"], error)) from None


def _plain_password_token(auth, user_domain, project_domain, timeout, validate_certs, ca_path):
    url = auth["auth_url"].rstrip("/")
    if not url.endswith("/v3"):
        url += "/v3"
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": user_domain}, "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": project_domain}}}}}
    try:
        response = open_url(url + "/auth/tokens", data=json.dumps(body), method="POST",
                            headers={"Content-Type": "application/json"}, timeout=timeout,
                            validate_certs=validate_certs, ca_path=ca_path)
        return response.headers["X-Subject-Token"]
    except urllib.error.HTTPError as error:
        raise KeystoneError("Keystone at %s answered %d to the password request: %s"
                            % (url, error.code, error.read()[:500].decode("utf-8", "replace"))) from None
    except (OSError, ValueError) as error:
        raise KeystoneError("Keystone at %s could not be reached: %s" % (url, error)) from None


def cloud_token(name):
    """A token for the clouds.yaml cloud ``name``, through openstacksdk."""
    try:
        import openstack.config
        from keystoneauth1 import exceptions as ks_exceptions
    except ImportError:
        raise KeystoneError("cloud needs openstacksdk on the host the module runs on; give auth instead") from None
    try:
        return openstack.config.OpenStackConfig().get_one(cloud=name).get_session().get_token()
    except ks_exceptions.ClientException as error:
        raise KeystoneError("cloud %s gave no token: %s" % (name, error)) from None
    except Exception as error:  # openstack.config's own errors (unknown cloud, bad file)
        raise KeystoneError("cloud %s: %s" % (name, error)) from None
