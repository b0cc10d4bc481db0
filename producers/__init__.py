"""Producers: publish credit-history and zipcode update events to Kafka (confluent-kafka)."""
