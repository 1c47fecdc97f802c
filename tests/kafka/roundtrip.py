"""Produce one unique message with confluent-kafka-python and read it back.

usage: roundtrip.py PROPERTIES TOPIC

PROPERTIES is a librdkafka properties file as kcat -F reads it (key=value,
# comments); the same dict configures the producer and the consumer.
Exit status 0 when the message came back, 1 otherwise.
"""
import os
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition


def read_properties(path):
    conf = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            key, sep, value = line.partition('=')
            if not sep:
                sys.exit(f'{path}: expected key=value, got {line!r}')
            conf[key.strip()] = value.strip()
    return conf


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    conf = read_properties(sys.argv[1])
    topic = sys.argv[2]
    payload = f'python-{os.getpid()}-{time.time_ns()}'.encode()
    errors = []

    def on_error(err):
        print(f'error: {err}', file=sys.stderr)
        errors.append(err)

    def on_delivery(err, msg):
        if err:
            errors.append(err)
            print(f'delivery failed: {err}', file=sys.stderr)

    producer = Producer({**conf, 'error_cb': on_error})
    producer.produce(topic, payload, on_delivery=on_delivery)
    left = producer.flush(30)
    if left or errors:
        print(f'not delivered ({left} left)', file=sys.stderr)
        return 1

    consumer = Consumer({**conf, 'group.id': f'roundtrip-{os.getpid()}',
                         'enable.auto.commit': False, 'error_cb': on_error})
    try:
        md = consumer.list_topics(topic, timeout=30)
        parts = md.topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    print(f'consume: {msg.error()}', file=sys.stderr)
                continue
            if msg.value() == payload:
                print(f'read back {payload.decode()} from partition {msg.partition()}')
                return 0
    finally:
        consumer.close()
    print(f'{payload.decode()} did not come back in 30 s', file=sys.stderr)
    return 1


if __name__ == '__main__':
    sys.exit(main())
