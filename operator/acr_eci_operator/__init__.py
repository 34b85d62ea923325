"""Kubernetes operator that runs AcrContainerGroup resources as ECI container groups."""
