"""A real Kafka-protocol broker in-process: librdkafka's mock cluster, driven by ctypes.

The mock cluster is the one librdkafka ships for its own tests; its C API is documented in
https://github.com/confluentinc/librdkafka/blob/master/src/rdkafka_mock.h. It speaks the
Kafka wire protocol on localhost sockets, so any client (aiokafka included) can use it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeAlias

_RD_KAFKA_PRODUCER: Final = 0  # rd_kafka_type_t in rdkafka.h
_RD_KAFKA_CONF_OK: Final = 0  # rd_kafka_conf_res_t in rdkafka.h
_ERRSTR_SIZE: Final = 512
# The handle only hosts the mock cluster's thread and never connects anywhere, so
# its level-5 notice "No `bootstrap.servers` configured" is noise; warnings stay.
_HANDLE_CONFIG: Final = {"log_level": "4"}
# Each command is an op on the mock thread's queue, woken through a pipe. The thread
# serves the queue before draining the pipe, so a command sent the instant the
# previous one returns can lose its wake-up and wait for the thread's 1 s poll
# timeout (rdkafka_mock.c, rd_kafka_mock_cluster_io_poll). Pausing first lets it
# finish draining: stalls went from ~15% of back-to-back commands to none in 480.
_CONTROL_PAUSE: Final = 0.001

# Pointers are c_void_p: ctypes' default int restype would truncate them on 64-bit.
_P = ctypes.c_void_p
_CType: TypeAlias = "type[ctypes._SimpleCData[Any]]"
_SIGNATURES: Final[dict[str, tuple[list[_CType], _CType | None]]] = {
    "rd_kafka_conf_new": ([], _P),
    "rd_kafka_conf_set": (
        [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t],
        ctypes.c_int,
    ),
    "rd_kafka_conf_destroy": ([_P], None),
    "rd_kafka_new": ([ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_size_t], _P),
    "rd_kafka_destroy": ([_P], None),
    "rd_kafka_err2str": ([ctypes.c_int], ctypes.c_char_p),
    "rd_kafka_mock_cluster_new": ([_P, ctypes.c_int], _P),
    "rd_kafka_mock_cluster_destroy": ([_P], None),
    "rd_kafka_mock_cluster_bootstraps": ([_P], ctypes.c_char_p),
    "rd_kafka_mock_topic_create": (
        [_P, ctypes.c_char_p, ctypes.c_int, ctypes.c_int],
        ctypes.c_int,
    ),
    "rd_kafka_mock_broker_set_down": ([_P, ctypes.c_int32], ctypes.c_int),
    "rd_kafka_mock_broker_set_up": ([_P, ctypes.c_int32], ctypes.c_int),
}


class MockKafkaError(RuntimeError):
    """librdkafka refused a mock-cluster operation."""


def _library_candidates() -> list[str]:
    """The librdkafka inside the confluent-kafka wheel first, then the system one."""
    spec = importlib.util.find_spec("confluent_kafka")
    found: list[str] = []
    if spec is not None and spec.origin is not None:
        package = Path(spec.origin).parent
        # auditwheel vendors it as confluent_kafka.libs/librdkafka-<hash>.so.1 on Linux;
        # delocate puts it in confluent_kafka/.dylibs on macOS.
        dirs = (package.parent / "confluent_kafka.libs", package, package / ".dylibs")
        patterns = ("librdkafka*.so*", "librdkafka*.dylib")
        found = sorted(str(p) for d in dirs for pat in patterns for p in d.glob(pat))
    system = ctypes.util.find_library("rdkafka")
    return found + ([system] if system else [])


def load_librdkafka() -> ctypes.CDLL:
    """Load librdkafka with every function this module calls typed for 64-bit."""
    candidates = _library_candidates()
    if not candidates:
        raise MockKafkaError("librdkafka not found: install confluent-kafka")
    lib = ctypes.CDLL(candidates[0])
    for name, (argtypes, restype) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype
    return lib


class MockKafkaCluster:
    """An in-process Kafka cluster of `broker_count` brokers with ids 1..broker_count."""

    def __init__(self, broker_count: int = 1) -> None:
        self._lib = load_librdkafka()
        self._handle: int | None = self._new_handle()
        self._cluster: int | None = self._lib.rd_kafka_mock_cluster_new(
            self._handle, broker_count
        )
        if not self._cluster:
            self.close()
            raise MockKafkaError("rd_kafka_mock_cluster_new failed")
        bootstraps: bytes = self._lib.rd_kafka_mock_cluster_bootstraps(self._cluster)
        self.bootstrap_servers: Final = bootstraps.decode()

    def _new_handle(self) -> int:
        conf = self._lib.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(_ERRSTR_SIZE)
        for name, value in _HANDLE_CONFIG.items():
            result = self._lib.rd_kafka_conf_set(
                conf, name.encode(), value.encode(), errstr, _ERRSTR_SIZE
            )
            if result != _RD_KAFKA_CONF_OK:
                self._lib.rd_kafka_conf_destroy(conf)
                raise MockKafkaError(errstr.value.decode())
        # rd_kafka_new takes ownership of conf only when it succeeds.
        handle: int | None = self._lib.rd_kafka_new(
            _RD_KAFKA_PRODUCER, conf, errstr, _ERRSTR_SIZE
        )
        if not handle:
            self._lib.rd_kafka_conf_destroy(conf)
            raise MockKafkaError(errstr.value.decode())
        return handle

    def create_topic(
        self, topic: str, partitions: int = 1, replication_factor: int = 1
    ) -> None:
        """Create `topic`; the mock broker does not implement CreateTopics."""
        self._control(
            "rd_kafka_mock_topic_create", topic.encode(), partitions, replication_factor
        )

    def broker_down(self, broker_id: int = 1) -> None:
        """Drop its connections and refuse new ones; no leader change (-1: all brokers)."""
        self._control("rd_kafka_mock_broker_set_down", broker_id)

    def broker_up(self, broker_id: int = 1) -> None:
        """Listen again on the same host:port (-1: all brokers)."""
        self._control("rd_kafka_mock_broker_set_up", broker_id)

    def close(self) -> None:
        """Stop the brokers and free the handle; idempotent."""
        cluster, self._cluster = self._cluster, None
        handle, self._handle = self._handle, None
        if cluster:
            time.sleep(_CONTROL_PAUSE)
            self._lib.rd_kafka_mock_cluster_destroy(cluster)
        if handle:
            self._lib.rd_kafka_destroy(handle)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _control(self, function: str, *args: object) -> None:
        """Run one mock-cluster command; it blocks until the mock thread has run it."""
        if not self._cluster:
            raise MockKafkaError("mock cluster is closed")
        time.sleep(_CONTROL_PAUSE)
        error: int = getattr(self._lib, function)(self._cluster, *args)
        if error:
            message: bytes = self._lib.rd_kafka_err2str(error)
            raise MockKafkaError(f"{function}: {message.decode()}")
