"""The base layer every service stands on.

Settings, what is derived from the feature contract (columns, events, the history tables, the
model's columns and artifacts, the live-update messages), the Feast store opener, the offline
store, topics, logging, the child-process supervisor and small statistics. It imports nothing
of the project but the contract (`feature_repo`).
"""
