"""Kafka as a test client sees it: create topics, produce, read a topic
without joining a group, offsets (confluent-kafka). Every event of the
appointment service that consume() reads is checked against the event
contract (contracts.py)."""

from __future__ import annotations

import json as jsonlib
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.contracts import PRODUCED_HERE, check_message
from harness.util import wait_until

if TYPE_CHECKING:
    from harness.processes import Service

@dataclass
class Message:
    key: str | None
    headers: dict[str, str]
    value: bytes | None
    partition: int
    offset: int
    topic: str = ""
    timestamp_ms: int | None = None

    def json(self) -> Any:
        return jsonlib.loads(self.value) if self.value is not None else None


def _decode(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", errors="replace")


def _admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap: str, name: str, partitions: int = 1, replication_factor: int = 1,
                 config: dict[str, str] | None = None, timeout: float = 30.0) -> None:
    """Create a topic (no error if it exists) and wait until it has leaders."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic
    admin = _admin(bootstrap)
    fut = admin.create_topics([NewTopic(name, partitions, replication_factor, config=config or {})],
                              operation_timeout=timeout)[name]
    try:
        fut.result(timeout)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise

    def ready() -> bool:
        md = admin.list_topics(name, timeout=5).topics.get(name)
        return bool(md and md.error is None and len(md.partitions) == partitions
                    and all(p.leader >= 0 for p in md.partitions.values()))
    wait_until(ready, timeout, message=f"topic {name} ready")


def set_topic_config(bootstrap: str, topic: str, config: dict[str, str], timeout: float = 10.0) -> None:
    """Sets topic-level configs (e.g. max.message.bytes) and waits for the broker."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in config.items()]
    admin = _admin(bootstrap)  # alive until the futures are done
    for fut in admin.incremental_alter_configs([ConfigResource("topic", topic, incremental_configs=entries)]).values():
        fut.result(timeout)


def end_offsets(bootstrap: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """High watermark of each partition: where the next message will land."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4()}",
                  "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=timeout).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in parts}
    finally:
        c.close()


def consume(bootstrap: str, topic: str, from_beginning: bool | dict[int, int] = True,
            timeout: float = 10.0, max_messages: int | None = None) -> list[Message]:
    """Read messages of `topic` without joining a consumer group.

    from_beginning: True = from the first message, False = only messages
    produced after this call, or {partition: offset} (e.g. from end_offsets()).
    Stops at `max_messages`, or after `timeout` seconds; with max_messages
    None it also stops as soon as it has read up to the end of every
    partition (so it returns what is there now, quickly).
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"test-{uuid.uuid4()}",  # required by the client; never joined
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 50,  # an empty partition reports its end sooner
    })
    out: list[Message] = []
    try:
        md = c.list_topics(topic, timeout=timeout).topics[topic]
        if md.error is not None:
            raise RuntimeError(f"topic {topic}: {md.error}")
        parts = sorted(md.partitions)
        if isinstance(from_beginning, dict):
            start = {p: from_beginning.get(p, OFFSET_BEGINNING) for p in parts}
        elif from_beginning:
            start = {p: OFFSET_BEGINNING for p in parts}
        else:
            # Resolve "end" now, not when the fetch starts, so nothing produced
            # right after this call is missed.
            start = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
                     for p in parts}
        c.assign([TopicPartition(topic, p, o) for p, o in start.items()])
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if max_messages is not None and len(out) >= max_messages:
                break
            if max_messages is None and len(at_end) == len(parts):
                break
            m = c.poll(min(0.2, max(0.0, deadline - time.monotonic())))
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                    continue
                if m.error().retriable() or not m.error().fatal():
                    continue
                raise RuntimeError(f"consume {topic}: {m.error()}")
            at_end.discard(m.partition())
            ts_type, ts = m.timestamp()
            msg = Message(
                key=_decode(m.key()),
                headers={k: _decode(v) or "" for k, v in (m.headers() or [])},
                value=m.value(), partition=m.partition(), offset=m.offset(), topic=m.topic(),
                timestamp_ms=ts if ts_type != 0 else None)
            out.append(msg)
            check_message(bootstrap, msg.topic, msg.partition, msg.offset, msg.key, msg.headers,
                          msg.value)
    finally:
        c.close()
    return out


def produce(bootstrap: str, topic: str, value: bytes | str | dict | None, key: str | None = None,
            headers: dict[str, str] | None = None, partition: int | None = None,
            timeout: float = 10.0, config: dict[str, Any] | None = None) -> tuple[int, int]:
    """Produce one message (dict values as JSON), wait for the ack; returns
    (partition, offset). `config`: more librdkafka properties (e.g.
    message.max.bytes for a message over librdkafka's default 1,000,000)."""
    from confluent_kafka import KafkaException, Producer
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  **(config or {})})
    if isinstance(value, dict):
        value = jsonlib.dumps(value)
    result: dict[str, Any] = {}

    def report(err: Any, msg: Any) -> None:
        result["err"], result["msg"] = err, msg

    kwargs: dict[str, Any] = {"value": value, "key": key, "on_delivery": report,
                              "headers": list((headers or {}).items())}
    if partition is not None:
        kwargs["partition"] = partition
    p.produce(topic, **kwargs)
    remaining = p.flush(timeout)
    if remaining or "msg" not in result:
        raise TimeoutError(f"produce to {topic}: no ack in {timeout}s")
    if result["err"] is not None:
        raise KafkaException(result["err"])
    PRODUCED_HERE.add((bootstrap, topic, result["msg"].partition(), result["msg"].offset()))
    return result["msg"].partition(), result["msg"].offset()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Committed offsets of a consumer group per partition (-1001: none),
    read with a consumer that never subscribes, so the group is not disturbed."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {tp.partition: tp.offset
                for tp in c.committed([TopicPartition(topic, p) for p in parts], timeout=10)}
    finally:
        c.close()


def wait_drained(consumer: "Service", timeout: float = 20.0) -> None:
    """Every message on the topic of a consuming service (financial) handled
    and its offset committed: the group's committed offsets reach the end
    offsets read now (partitions that are still empty aside). The topic,
    group and broker are the service's KAFKA_TOPIC, KAFKA_GROUP_ID and
    KAFKA_BOOTSTRAP."""
    env = consumer.env
    bootstrap, group, topic = env["KAFKA_BOOTSTRAP"], env["KAFKA_GROUP_ID"], env["KAFKA_TOPIC"]
    ends = end_offsets(bootstrap, topic)

    def done() -> bool:
        got = committed(bootstrap, group, topic)
        return all(got.get(p, -1001) == e for p, e in ends.items() if e > 0)
    wait_until(done, timeout, interval=0.5, message=f"{consumer.name} (group {group}) committed up to {ends}")
