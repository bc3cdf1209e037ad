#!/usr/bin/env python3
"""RabbitMQ's confirmed-publish rate for one message, as the orders service publishes it.

    publish.py QUEUE BODY_BYTES CLIENTS SECONDS   # RABBITMQ_PASSWORD in the environment

Each client has its own connection and channel in confirm mode and publishes a persistent JSON
message of BODY_BYTES to QUEUE through the default exchange, waiting for each confirm, as the
service does. Prints "messages_per_second". The queue is declared durable and deleted after.
A Python client: the figure is a floor of the broker's rate, not its ceiling.
"""
import os
import sys
import threading
import time

import pika

queue, size, clients, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
credentials = pika.PlainCredentials("dev_admin", os.environ["RABBITMQ_PASSWORD"])
parameters = pika.ConnectionParameters("127.0.0.1", 5672, "dev_vhost", credentials)
body = ('{"pad":"' + "x" * max(size - 10, 0) + '"}').encode()
properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
counts = [0] * clients

setup = pika.BlockingConnection(parameters)
setup.channel().queue_declare(queue, durable=True)


def publish(slot, until):
    connection = pika.BlockingConnection(parameters)
    channel = connection.channel()
    channel.confirm_delivery()
    while time.monotonic() < until:
        channel.basic_publish("", queue, body, properties)
        counts[slot] += 1
    connection.close()


until = time.monotonic() + seconds
threads = [threading.Thread(target=publish, args=(slot, until)) for slot in range(clients)]
started = time.monotonic()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
elapsed = time.monotonic() - started
setup.channel().queue_delete(queue)
setup.close()
print(f"{sum(counts) / elapsed:.0f}")
