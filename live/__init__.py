"""The live feed: the processor's announcements of online writes, read by `watch` and the page.

The processor publishes one Redis pub/sub message per batch per view after the batch is in the
online store (`stream_processor/notify.py`, format in `messages`). `feed` subscribes and
decodes, `entities` follows watched entities from their Feast values on, `stats` keeps rates
and freshness, `hub` fans the feed out to the scoring API's browser connections.
"""
