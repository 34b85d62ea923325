pytest_plugins = ["local_control_plane.pytest_plugin", "eci_emulator.pytest_plugin"]
