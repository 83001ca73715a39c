#!/usr/bin/python
"""Test-only module: report the facts of an EL host, so the roles load their
RedHat variables while the offline check runs on a Debian machine."""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(
        distribution=dict(type="str", default="Rocky"),
        major=dict(type="str", default="9"),
    ), supports_check_mode=True)
    module.exit_json(changed=False, ansible_facts=dict(
        os_family="RedHat",
        distribution=module.params["distribution"],
        distribution_major_version=module.params["major"],
        selinux=dict(status="disabled"),
    ))


if __name__ == "__main__":
    main()
