"""Produce one unique message with confluent-kafka-python and read it back.

usage: roundtrip.py PROPERTIES TOPIC [INSTANCES]

With INSTANCES > 1, that many client instances (each its own producer and
consumer, so its own librdkafka handles and TLS connections) do the round
trip at once, from threads released together.

PROPERTIES is a librdkafka properties file as kcat -F reads it (key=value,
# comments); the same dict configures the producer and the consumer.
Exit status 0 when every message came back, 1 otherwise.
"""
import os
import sys
import threading
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


def roundtrip(conf, topic, tag):
    payload = f'python-{os.getpid()}-{tag}-{time.time_ns()}'.encode()
    errors = []

    def on_error(err):
        print(f'{tag}: error: {err}', file=sys.stderr)
        errors.append(err)

    def on_delivery(err, msg):
        if err:
            errors.append(err)
            print(f'{tag}: delivery failed: {err}', file=sys.stderr)

    producer = Producer({**conf, 'error_cb': on_error})
    producer.produce(topic, payload, on_delivery=on_delivery)
    left = producer.flush(30)
    if left or errors:
        print(f'{tag}: not delivered ({left} left)', file=sys.stderr)
        return 1

    consumer = Consumer({**conf, 'group.id': f'roundtrip-{os.getpid()}-{tag}',
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
                    print(f'{tag}: consume: {msg.error()}', file=sys.stderr)
                continue
            if msg.value() == payload:
                print(f'read back {payload.decode()} from partition {msg.partition()}')
                return 0
    finally:
        consumer.close()
    print(f'{tag}: {payload.decode()} did not come back in 30 s', file=sys.stderr)
    return 1


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    conf = read_properties(sys.argv[1])
    topic = sys.argv[2]
    instances = int(sys.argv[3]) if len(sys.argv) == 4 else 1
    if instances == 1:
        return roundtrip(conf, topic, 'client')
    start = threading.Barrier(instances)
    results = [1] * instances

    def run(i):
        start.wait()
        results[i] = roundtrip(conf, topic, f'client{i}')

    threads = [threading.Thread(target=run, args=(i,)) for i in range(instances)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = sum(1 for r in results if r != 0)
    print(f'{instances - failed} of {instances} instances read their message back')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
