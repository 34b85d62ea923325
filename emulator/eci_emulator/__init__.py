"""A strict, signature-checking emulator of the Alibaba Cloud ECI API (2018-08-08).

It answers the seven actions an ECI client needs (CreateContainerGroup, DescribeContainerGroups,
DescribeContainerGroupStatus, DescribeContainerGroupEvents, UpdateContainerGroup, RestartContainerGroup,
DeleteContainerGroup) over HTTP exactly as aliyun-python-sdk-core sends them, and refuses what the real
service would refuse, and more: unknown parameter names, index gaps, wrong types, bad signatures. Signature
v1.0 (aliyun-python-sdk-core) and v3 (ACS3-HMAC-SHA256, the tea SDKs) are both accepted. The same port
answers STS (2015-04-01: AssumeRole, AssumeRoleWithOIDC) with keys that expire on the emulator's clock.

In-process::

    from eci_emulator.server import Emulator

    emulator = Emulator({"AKID": "SECRET"}, acr_instances="sample").start()
    request.set_endpoint(emulator.endpoint); request.set_protocol_type("http")
    emulator.advance_clock(5)            # lifecycles move without waiting
    emulator.groups(); emulator.requests("CreateContainerGroup")
    emulator.stop()

As a process: ``eci-emulator --port 8085 --access-key AKID:SECRET`` (prints its URL when ready), steered
through the admin HTTP API under ``/_emulator/`` (`eci_emulator.admin.AdminClient`). In pytest: the
``eci_emulator`` fixture of `eci_emulator.pytest_plugin`.

Modules: signature (authentication), sts (roles, OIDC providers, issued keys), validation (parameter names and types), model (group specs),
volumes and container_settings (volumes, mounts, probes, hooks, security context: checks and views),
registries (which image pulls succeed), lifecycle (states computed from timestamps), render (response
shapes), backend (the actions), ratelimit, faults, request_log, server (HTTP), admin_api / admin (the admin
API and its client), cli, pytest_plugin, testing (helpers for tests).
"""
