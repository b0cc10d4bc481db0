"""Root of the project's exceptions: each message says what went wrong and what to do."""


class CreditPipelineError(Exception):
    """Base class of every error the project raises on purpose."""


class ConfigurationError(CreditPipelineError):
    """A setting is missing or inconsistent."""


class KafkaUnreachableError(CreditPipelineError):
    """No Kafka broker answered at the configured address."""


class OfflineStoreError(CreditPipelineError):
    """The offline store (Postgres) refused or could not be reached."""
