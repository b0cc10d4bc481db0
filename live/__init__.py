"""`credit-pipeline watch`: the live feed in a terminal.

The processor publishes one Redis pub/sub message per batch per view after the batch is in the
online store (`stream_processor/notify.py`); the shared half (message format, the Redis
subscription, watched entities, rates) is `core.live`. Here: the command (`cli`), following
entities or the whole stream (`watch`) and the lines it prints (`render`).
"""
